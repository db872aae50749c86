import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStreamError, MarathonEventStream, openEventStream } from '../src/event-stream.js';
import type { MarathonEvent } from '../src/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
const streams: MarathonEventStream[] = [];
const timers: NodeJS.Timeout[] = [];

async function serve(handler: Handler): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/** Answers like Marathon's Jetty servlet: 405 unless Accept is exactly text/event-stream. */
function sse(req: IncomingMessage, res: ServerResponse, leader?: string): boolean {
  if (req.headers.accept !== 'text/event-stream') {
    res.writeHead(405, { 'content-type': 'text/html' });
    res.end('HTTP method GET is not supported by this URL');
    return false;
  }
  res.writeHead(200, {
    'content-type': 'text/event-stream;charset=UTF-8',
    connection: 'close',
    ...(leader ? { 'x-marathon-leader': leader } : {}),
  });
  res.flushHeaders();
  return true;
}

const frame = (event: MarathonEvent) => `event: ${event.eventType}\r\ndata: ${JSON.stringify(event)}\r\n\r\n`;

function track(stream: MarathonEventStream): { events: MarathonEvent[]; closed: Promise<string> } {
  streams.push(stream);
  const events: MarathonEvent[] = [];
  stream.on('event', (e) => events.push(e));
  const closed = new Promise<string>((resolve) => stream.on('close', resolve));
  return { events, closed };
}

afterEach(async () => {
  timers.splice(0).forEach(clearInterval);
  streams.splice(0).forEach((s) => s.close());
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => { s.closeAllConnections(); s.close(resolve); })),
  );
});

describe('MarathonEventStream', () => {
  it('sends exactly `Accept: text/event-stream`, event_type filters and credentials', async () => {
    const m = await serve((req, res) => sse(req, res));
    const stream = new MarathonEventStream({
      url: `${m.url}/`,
      auth: { username: 'ops', password: 'pw' },
      eventTypes: ['status_update_event', 'health_status_changed_event'],
    });
    track(stream);
    const opened = await stream.open();
    const req = m.requests[0];
    expect(req.headers.accept).toBe('text/event-stream');
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('ops:pw').toString('base64')}`);
    const url = new URL(req.url!, m.url);
    expect(url.pathname).toBe('/v2/events');
    expect(url.searchParams.getAll('event_type')).toEqual(['status_update_event', 'health_status_changed_event']);
    expect(opened.url).toBe(m.url);
    expect(opened.leader).toBe(m.url.replace('http://', ''));
  });

  it('reports 405 when the server refuses the request', async () => {
    const m = await serve((req, res) => {
      res.writeHead(405);
      res.end();
    });
    const err = await openEventStream({ url: m.url }).catch((e) => e);
    expect(err).toBeInstanceOf(EventStreamError);
    expect(err.reason).toBe('http 405');
    expect(err.status).toBe(405);
  });

  it('reports rejected credentials', async () => {
    const m = await serve((req, res) => {
      res.writeHead(401, { 'www-authenticate': 'basic realm="Mesosphere"' });
      res.end();
    });
    const err = await openEventStream({ url: m.url, auth: { token: 'bad' } }).catch((e) => e);
    expect(err.reason).toBe('http 401 (credentials rejected)');
  });

  it('parses CRLF and LF framing split at every awkward place', async () => {
    const events: MarathonEvent[] = Array.from({ length: 5 }, (_, i) => ({
      eventType: 'status_update_event',
      taskId: `web.${i}`,
      host: 'zürich-😀',
      taskStatus: 'TASK_RUNNING',
    }));
    const wire = Buffer.from(
      `:comment\r\n${frame(events[0])}\r\n${frame(events[1])}${frame(events[2]).replace(/\r\n/g, '\n')}\r\n${frame(events[3])}${frame(events[4]).replace(/\r\n/g, '\r')}`,
      'utf8',
    );
    // Split between every CR and LF, and inside every multi-byte character.
    const cuts = new Set<number>();
    for (let i = 1; i < wire.length; i++) {
      if (wire[i - 1] === 13 || wire[i] >= 0x80) cuts.add(i);
    }
    const m = await serve(async (req, res) => {
      if (!sse(req, res)) return;
      let start = 0;
      for (const cut of [...cuts, wire.length]) {
        res.write(wire.subarray(start, cut));
        start = cut;
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const stream = new MarathonEventStream({ url: m.url });
    const { events: got } = track(stream);
    await stream.open();
    await waitFor(() => got.length === events.length);
    expect(got).toEqual(events);
  });

  it('reports invalid messages and keeps streaming', async () => {
    const m = await serve((req, res) => {
      if (!sse(req, res)) return;
      res.write('data: {"eventType":\r\n\r\n');
      res.write(frame({ eventType: 'app_terminated_event', appId: '/a' }));
    });
    const stream = new MarathonEventStream({ url: m.url });
    const { events } = track(stream);
    const invalid: string[] = [];
    stream.on('invalid', (error) => invalid.push(error));
    await stream.open();
    await waitFor(() => events.length === 1);
    expect(invalid).toHaveLength(1);
    expect(invalid[0]).toMatch(/not JSON/);
  });

  it('follows a standby 302 to the leader and resends the credentials there', async () => {
    const token = 'the-token';
    const leader = await serve((req, res) => {
      if (req.headers.authorization !== `token=${token}`) {
        res.writeHead(401);
        res.end();
        return;
      }
      if (sse(req, res, `http://leader.example:8080`)) res.write(frame({ eventType: 'event_stream_attached', remoteAddress: '127.0.0.1' }));
    });
    const standby = await serve((req, res) => {
      res.writeHead(302, { location: `${leader.url}${req.url}` });
      res.end();
    });
    const stream = new MarathonEventStream({ url: standby.url, auth: { token }, eventTypes: ['event_stream_attached'] });
    const { events } = track(stream);
    const opened = await stream.open();
    expect(opened).toEqual({ url: leader.url, leader: 'leader.example:8080' });
    expect(stream.connectedUrl).toBe(leader.url);
    expect(new URL(leader.requests[0].url!, leader.url).searchParams.getAll('event_type')).toEqual(['event_stream_attached']);
    expect(leader.requests[0].headers.accept).toBe('text/event-stream');
    await waitFor(() => events.length === 1);
  });

  it('gives up on a redirect loop', async () => {
    const loop = await serve((req, res) => {
      res.writeHead(307, { location: '/v2/events' });
      res.end();
    });
    const err = await openEventStream({ url: loop.url, maxRedirects: 2 }).catch((e) => e);
    expect(err.reason).toBe('too many redirects');
    expect(loop.requests).toHaveLength(3);
  });

  it('stays up while heartbeats arrive and reports `stalled` once they stop', async () => {
    let beating = true;
    let beats = 0;
    const m = await serve((req, res) => {
      if (!sse(req, res)) return;
      // Jetty's heartbeat: CR, flush, LF, flush.
      timers.push(setInterval(() => { if (beating) { res.write('\r'); res.write('\n'); beats++; } }, 50));
    });
    const stream = new MarathonEventStream({ url: m.url, heartbeatTimeoutMs: 600 });
    let reason: string | undefined;
    stream.on('close', (r) => (reason = r));
    streams.push(stream);
    await stream.open();
    // Well past the 600 ms timeout, kept alive only by heartbeats.
    await waitFor(() => beats >= 30);
    expect(reason).toBeUndefined();
    beating = false;
    await waitFor(() => reason !== undefined);
    expect(reason).toBe('stalled');
    expect(stream.closed).toBe(true);
  });

  it('closes with an error naming the limit when a line never ends, and events before it still arrive', async () => {
    const m = await serve((req, res) => {
      if (!sse(req, res)) return;
      res.write(frame({ eventType: 'event_stream_attached' }));
      res.write('data: {"eventType":"x","pad":"');
      timers.push(setInterval(() => res.write('y'.repeat(4096)), 5));
    });
    const stream = new MarathonEventStream({ url: m.url, maxMessageLength: 64 * 1024 });
    const { events, closed } = track(stream);
    await stream.open();
    expect(await closed).toBe('error: an event stream line or message is longer than 65536 characters (the limit)');
    expect(events.map((e) => e.eventType)).toEqual(['event_stream_attached']);
  });

  it('bytes of a line that never ends do not hold off the watchdog', async () => {
    const m = await serve((req, res) => {
      if (!sse(req, res)) return;
      res.write(': no newline follows ');
      timers.push(setInterval(() => res.write('z'), 20)); // a trickle well under the limit
    });
    const stream = new MarathonEventStream({ url: m.url, heartbeatTimeoutMs: 400 });
    const { closed } = track(stream);
    await stream.open();
    expect(await closed).toBe('stalled');
  });

  it('detects a stream that goes silent right after the headers', async () => {
    const m = await serve((req, res) => sse(req, res));
    const stream = new MarathonEventStream({ url: m.url, heartbeatTimeoutMs: 300 });
    const { closed } = track(stream);
    await stream.open();
    expect(await closed).toBe('stalled');
  });

  it('reports `closed` when the server ends the stream and `stopped` on close()', async () => {
    const m = await serve((req, res) => {
      if (!sse(req, res)) return;
      res.write(frame({ eventType: 'event_stream_attached' }));
      if (req.url?.includes('end')) setTimeout(() => res.end(), 50);
    });
    const ended = new MarathonEventStream({ url: m.url, eventTypes: ['end'] });
    const a = track(ended);
    await ended.open();
    expect(await a.closed).toBe('closed');

    const kept = new MarathonEventStream({ url: m.url });
    const b = track(kept);
    await kept.open();
    await waitFor(() => b.events.length === 1);
    kept.close();
    expect(await b.closed).toBe('stopped');
  });

  it('reports a refused connection', async () => {
    const m = await serve(() => undefined);
    const url = m.url;
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const err = await openEventStream({ url }).catch((e) => e);
    expect(err.reason).toBe('connection refused');
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('waitFor timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
