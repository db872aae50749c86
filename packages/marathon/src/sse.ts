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

/**
 * Characters one message may take by default: a single line, or all the `data:` lines of one event
 * together. Marathon's largest events (an `api_post_event` carrying a big app definition, a deployment
 * plan of many apps) are a few MiB; anything past this is not a Marathon event.
 */
export const DEFAULT_MAX_MESSAGE_LENGTH = 16 * 1024 * 1024;

/** Small pieces of an unfinished line are joined into one string once this many have piled up. */
const PIECES_PER_BLOCK = 128;

export interface SseParserOptions {
  /** See DEFAULT_MAX_MESSAGE_LENGTH. A longer line or message stops the parser with `error` set. */
  maxMessageLength?: number;
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  private readonly maxMessageLength: number;
  /**
   * An unfinished line, kept as the pieces that arrived and joined only when the line ends: each
   * chunk is scanned once, whatever the line's length (concatenating and rescanning the whole line
   * on every chunk made an endless line cost quadratic time). Small pieces are joined in blocks.
   */
  private blocks: string[] = [];
  private pieces: string[] = [];
  private pending = 0;
  /** The previous chunk ended in CR: a LF at the start of the next chunk belongs to that line ending. */
  private skipLeadingLf = false;
  private atStreamStart = true;
  private eventName: string | undefined;
  private dataLines: string[] = [];
  private dataLength = 0;
  private lastId: string | undefined;
  /** Lines completed so far (blank lines included): a stream that completes none is not alive. */
  lines = 0;
  /** Set when a line or message went past the limit; the parser then ignores further input. */
  error?: string;

  constructor(options: SseParserOptions = {}) {
    this.maxMessageLength = options.maxMessageLength ?? DEFAULT_MAX_MESSAGE_LENGTH;
  }

  /** Feeds the next chunk; returns the messages completed by it (often none, sometimes several). */
  push(chunk: string | Uint8Array): SseMessage[] {
    const messages: SseMessage[] = [];
    if (this.error !== undefined) return messages;
    let text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    if (this.atStreamStart && text.length > 0) {
      this.atStreamStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let lineStart = 0;
    let i = 0;
    if (this.skipLeadingLf && text.length > 0) {
      this.skipLeadingLf = false;
      if (text.charCodeAt(0) === LF) lineStart = i = 1;
    }
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== LF && c !== CR) continue;
      if (this.pending + (i - lineStart) + this.dataLength > this.maxMessageLength) return this.fail(messages);
      this.processLine(this.takeLine(text.slice(lineStart, i)), messages);
      this.lines++;
      if (this.error !== undefined) return messages;
      if (c === CR) {
        if (i + 1 === text.length) this.skipLeadingLf = true;
        else if (text.charCodeAt(i + 1) === LF) i++;
      }
      lineStart = i + 1;
    }
    if (lineStart < text.length) {
      this.keep(lineStart === 0 ? text : text.slice(lineStart));
      if (this.pending + this.dataLength > this.maxMessageLength) return this.fail(messages);
    }
    return messages;
  }

  /** Number of characters held for an unfinished line (a guard against endless lines). */
  get pendingLength(): number {
    return this.pending;
  }

  private keep(piece: string): void {
    this.pieces.push(piece);
    this.pending += piece.length;
    if (this.pieces.length >= PIECES_PER_BLOCK) {
      this.blocks.push(this.pieces.join(''));
      this.pieces = [];
    }
  }

  /** The unfinished line's pieces followed by `end`; the pieces are released. */
  private takeLine(end: string): string {
    if (this.pending === 0) return end;
    const line = this.blocks.join('') + this.pieces.join('') + end;
    this.blocks = [];
    this.pieces = [];
    this.pending = 0;
    return line;
  }

  private fail(messages: SseMessage[]): SseMessage[] {
    this.error = `an event stream line or message is longer than ${this.maxMessageLength} characters (the limit)`;
    this.blocks = [];
    this.pieces = [];
    this.pending = 0;
    this.dataLines = [];
    this.dataLength = 0;
    return messages;
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
      this.dataLength = 0;
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
        this.dataLength += value.length + 1;
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
