import { request } from 'node:http';

export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: () => any;
}

export function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = request(url, { method, headers: { ...(payload ? { 'Content-Type': 'application/json' } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (payload) req.write(payload);
    req.end();
  });
}

/** An open /v2/events connection that records raw bytes and parsed events. */
export interface SseConnection {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  raw: () => string;
  events: () => { event: string; data: any }[];
  closed: () => boolean;
  close: () => void;
}

export function openEvents(url: string, headers: Record<string, string> = { Accept: 'text/event-stream' }): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    let raw = '';
    let closed = false;
    const req = request(url, { headers }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (raw += chunk));
      const done = () => (closed = true);
      res.on('end', done);
      res.on('close', done);
      res.on('error', done);
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        raw: () => raw,
        events: () => parseFrames(raw),
        closed: () => closed,
        close: () => {
          req.destroy();
          closed = true;
        },
      });
    });
    req.on('error', (err) => (closed ? undefined : reject(err)));
    req.end();
  });
}

/** Parses CRLF-framed SSE text into events (strict: expects `event:` then one `data:` line). */
export function parseFrames(raw: string): { event: string; data: any }[] {
  const out: { event: string; data: any }[] = [];
  for (const block of raw.split('\r\n\r\n')) {
    const lines = block.split('\r\n').filter((l) => l !== '');
    const event = lines.find((l) => l.startsWith('event: '));
    const data = lines.filter((l) => l.startsWith('data: '));
    if (event && data.length === 1) out.push({ event: event.slice(7), data: JSON.parse(data[0].slice(6)) });
  }
  return out;
}
