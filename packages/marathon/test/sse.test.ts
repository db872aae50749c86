import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { SseParser, parseSse, parseMarathonEvent, isEventError, type SseMessage } from '../src/sse.js';

const fixtures = new URL('../../../fixtures/marathon/', import.meta.url);
const fixture = (name: string) => readFileSync(new URL(name, fixtures));

function feedBytes(bytes: Buffer, chunkSize: number): SseMessage[] {
  const parser = new SseParser();
  const out: SseMessage[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) out.push(...parser.push(bytes.subarray(i, i + chunkSize)));
  return out;
}

const toCrlf = (b: Buffer) => Buffer.from(b.toString('utf8').replace(/\n/g, '\r\n'), 'utf8');
const toCr = (b: Buffer) => Buffer.from(b.toString('utf8').replace(/\n/g, '\r'), 'utf8');

const expected: Record<string, string[]> = {
  'sse-stream-docs-events.txt': ['event_stream_attached', 'status_update_event', 'status_update_event'],
  'sse-stream-real-async-worker-single-event.txt': ['event_stream_attached'],
  'sse-stream-real-async-worker-multi-event.txt': [
    'group_change_success',
    'api_post_event',
    'status_update_event',
    'instance_changed_event',
  ],
};

describe('SseParser on the Marathon fixtures', () => {
  for (const [name, types] of Object.entries(expected)) {
    const raw = fixture(name);
    const variants: [string, Buffer][] = [
      ['LF', raw],
      ['CRLF', toCrlf(raw)],
      ['CR', toCr(raw)],
    ];
    for (const [ending, bytes] of variants) {
      for (const chunkSize of [bytes.length, 1, 7]) {
        it(`${name}, ${ending}, chunks of ${chunkSize === bytes.length ? 'whole file' : chunkSize}`, () => {
          const messages = feedBytes(bytes, chunkSize);
          const events = messages.map(parseMarathonEvent);
          expect(events.map((e) => (isEventError(e) ? e.error : e.eventType))).toEqual(types);
          // The payload survives intact: the data line is the JSON object Marathon sent.
          for (const m of messages) expect(raw.toString('utf8')).toContain(m.data);
        });
      }
    }
  }

  it('keeps the `event:` name when it directly precedes the data', () => {
    const [first] = parseSse(fixture('sse-stream-docs-events.txt'));
    expect(first.event).toBe('event_stream_attached');
  });
});

describe('SseParser framing', () => {
  it('handles a CR at the end of one chunk and the LF at the start of the next', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\r')).toEqual([]);
    expect(parser.push('\n\r')).toEqual([{ data: 'a' }]);
    // The lone LF that follows must not be taken as a second blank line ending an empty event.
    expect(parser.push('\ndata: b\r\n\r\n')).toEqual([{ data: 'b' }]);
  });

  it('returns several events from one chunk and ignores extra blank lines and comments', () => {
    const text = '\n\n: heartbeat\nevent: x\ndata: 1\n\n\n\nevent: y\ndata: 2\n\n:c\n\n';
    expect(parseSse(text)).toEqual([
      { event: 'x', data: '1' },
      { event: 'y', data: '2' },
    ]);
  });

  it('joins multi-line data with \\n and strips one leading space only', () => {
    expect(parseSse('data:  a\ndata:b\ndata\n\n')).toEqual([{ data: ' a\nb\n' }]);
  });

  it('drops an event name with no data and resets it at the blank line', () => {
    expect(parseSse('event: lonely\n\ndata: x\n\n')).toEqual([{ data: 'x' }]);
  });

  it('does not dispatch an unterminated event', () => {
    const parser = new SseParser();
    expect(parser.push('data: partial\n')).toEqual([]);
    expect(parser.pendingLength).toBe(0);
    expect(parser.push('data: more')).toEqual([]);
    expect(parser.pendingLength).toBe('data: more'.length);
  });

  it('reassembles a UTF-8 character split across chunks', () => {
    const bytes = Buffer.from('data: {"eventType":"x","host":"zürich-✓-😀"}\r\n\r\n', 'utf8');
    const messages = feedBytes(bytes, 1);
    expect(messages).toHaveLength(1);
    const event = parseMarathonEvent(messages[0]);
    expect(isEventError(event) ? event.error : event.host).toBe('zürich-✓-😀');
  });

  it('strips a leading byte order mark', () => {
    expect(parseSse('\ufeffdata: x\n\n')).toEqual([{ data: 'x' }]);
  });
});

describe('parseMarathonEvent', () => {
  it('takes eventType from the JSON even when the event: name differs', () => {
    const e = parseMarathonEvent({ event: 'message', data: '{"eventType":"status_update_event","a":1}' });
    expect(e).toEqual({ eventType: 'status_update_event', a: 1 });
  });

  it('falls back to the event: name when the JSON has no eventType', () => {
    const e = parseMarathonEvent({ event: 'deployment_info', data: '{"plan":{}}' });
    expect(e).toEqual({ eventType: 'deployment_info', plan: {} });
  });

  it.each([
    ['{"eventType":"x"', /not JSON/],
    ['[1,2]', /not a JSON object/],
    ['"text"', /not a JSON object/],
    ['{"a":1}', /no eventType/],
  ])('returns an error value for %s', (data, pattern) => {
    const e = parseMarathonEvent({ data });
    expect(isEventError(e)).toBe(true);
    expect((e as { error: string }).error).toMatch(pattern);
  });
});

describe('SseParser limits', () => {
  it('stops with an error naming the limit when a line never ends, holding no more than the limit', () => {
    const parser = new SseParser({ maxMessageLength: 1000 });
    expect(parser.push('data: {"eventType":"a"}\n\n')).toEqual([{ data: '{"eventType":"a"}' }]);
    let held = 0;
    for (let i = 0; i < 100 && parser.error === undefined; i++) {
      parser.push('x'.repeat(64));
      held = Math.max(held, parser.pendingLength);
    }
    expect(parser.error).toMatch(/longer than 1000 characters \(the limit\)/);
    expect(held).toBeLessThanOrEqual(1000);
    expect(parser.pendingLength).toBe(0);
    expect(parser.push('\n\ndata: late\n\n')).toEqual([]); // stopped: the stream is to be reopened
  });

  it('counts all data lines of one message against the limit', () => {
    const parser = new SseParser({ maxMessageLength: 1000 });
    for (let i = 0; i < 50 && parser.error === undefined; i++) parser.push(`data: ${'y'.repeat(60)}\n`);
    expect(parser.error).toMatch(/the limit/);
  });

  it('delivers messages up to the limit, and those completed in the chunk that went past it', () => {
    const parser = new SseParser({ maxMessageLength: 100 });
    const ok = `data: ${'z'.repeat(90)}\n\n`;
    expect(parser.push(ok + ok + 'data: ' + 'w'.repeat(200))).toEqual([{ data: 'z'.repeat(90) }, { data: 'z'.repeat(90) }]);
    expect(parser.error).toMatch(/100 characters/);
  });

  it('parses a line of several MiB sent in thousands of small chunks (each chunk scanned once)', () => {
    // Rescanning the whole pending line on every chunk made this ~10^10 character reads (minutes).
    const parser = new SseParser();
    const payload = JSON.stringify({ eventType: 'api_post_event', pad: 'p'.repeat(8 * 1024 * 1024) });
    const bytes = Buffer.from(`data: ${payload}\r\n\r\n`);
    const out: SseMessage[] = [];
    for (let i = 0; i < bytes.length; i += 4096) out.push(...parser.push(bytes.subarray(i, i + 4096)));
    expect(parser.error).toBeUndefined();
    expect(out).toHaveLength(1);
    expect(out[0].data.length).toBe(payload.length);
    expect(out[0].data === payload).toBe(true);
  });

  it('joins one-character pieces of a long line correctly', () => {
    const parser = new SseParser();
    const line = 'data: ' + 'abcdefghij'.repeat(100);
    const out: SseMessage[] = [];
    for (const ch of line) out.push(...parser.push(ch));
    out.push(...parser.push('\r'));
    out.push(...parser.push('\n'));
    out.push(...parser.push('\n'));
    expect(out).toEqual([{ data: 'abcdefghij'.repeat(100) }]);
    expect(parser.lines).toBe(2);
  });
});
