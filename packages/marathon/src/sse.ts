// Server-sent events, parsed incrementally as bytes arrive (pure: no I/O).
// Follows the WHATWG EventSource parsing rules: CRLF, LF and CR line endings, `:` comments,
// multi-line `data:` joined by `\n`, a blank line dispatches, an event with no data is dropped.
import type { MarathonEvent } from './types.js';

export interface SseMessage {
  /** The `event:` field, undefined when the message carried none. */
  event?: string;
  /** All `data:` lines joined by `\n`. */
  data: string;
  /** The `id:` field, when present (Marathon sends none). */
  id?: string;
}

const LF = 10;
const CR = 13;

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';
  /** The previous chunk ended in CR: a LF at the start of the next chunk belongs to that line ending. */
  private skipLeadingLf = false;
  private atStreamStart = true;
  private eventName: string | undefined;
  private dataLines: string[] = [];
  private lastId: string | undefined;

  /** Feeds the next chunk; returns the messages completed by it (often none, sometimes several). */
  push(chunk: string | Uint8Array): SseMessage[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.atStreamStart && text.length > 0) {
      this.atStreamStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const messages: SseMessage[] = [];
    const buf = this.buffer + text;
    let lineStart = 0;
    let i = 0;
    if (this.skipLeadingLf && buf.length > 0) {
      this.skipLeadingLf = false;
      if (buf.charCodeAt(0) === LF) lineStart = i = 1;
    }
    for (; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      this.processLine(buf.slice(lineStart, i), messages);
      if (c === CR) {
        if (i + 1 === buf.length) this.skipLeadingLf = true;
        else if (buf.charCodeAt(i + 1) === LF) i++;
      }
      lineStart = i + 1;
    }
    this.buffer = lineStart < buf.length ? buf.slice(lineStart) : '';
    return messages;
  }

  /** Number of characters held for an unfinished line (a guard against endless lines). */
  get pendingLength(): number {
    return this.buffer.length;
  }

  private processLine(line: string, out: SseMessage[]): void {
    if (line.length === 0) {
      if (this.dataLines.length > 0) {
        const message: SseMessage = { data: this.dataLines.join('\n') };
        if (this.eventName !== undefined && this.eventName !== '') message.event = this.eventName;
        if (this.lastId !== undefined) message.id = this.lastId;
        out.push(message);
      }
      this.dataLines = [];
      this.eventName = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58 /* ':' */) return; // comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32 /* ' ' */) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        break;
      case 'event':
        this.eventName = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      default:
        break; // `retry` and unknown fields are ignored
    }
  }
}

/** Parses a whole SSE text at once (for tests and fixtures). */
export function parseSse(text: string | Uint8Array): SseMessage[] {
  return new SseParser().push(text);
}

/**
 * Turns one SSE message into a Marathon event. `eventType` comes from the JSON payload and falls back
 * to the `event:` name; anything else is an error value naming what was wrong.
 */
export function parseMarathonEvent(message: SseMessage): MarathonEvent | { error: string } {
  let payload: unknown;
  try {
    payload = JSON.parse(message.data);
  } catch (err) {
    return { error: `event data is not JSON (${(err as Error).message}): ${preview(message.data)}` };
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { error: `event data is not a JSON object: ${preview(message.data)}` };
  }
  const record = payload as Record<string, unknown>;
  if (typeof record.eventType === 'string' && record.eventType !== '') return record as MarathonEvent;
  if (message.event !== undefined) return { ...record, eventType: message.event };
  return { error: `event has no eventType and no event name: ${preview(message.data)}` };
}

export function isEventError(value: MarathonEvent | { error: string }): value is { error: string } {
  return typeof (value as { error?: unknown }).error === 'string' && !('eventType' in value);
}

function preview(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}
