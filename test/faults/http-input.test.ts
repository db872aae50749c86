// Hostile HTTP clients against baton-lb (the CLI's run(): feed + routes + data plane, following the
// simulator): oversized and too many headers, invalid Host, request smuggling, slowloris, unknown
// vhosts. Each is refused by the LB itself; the backend counts what reaches it, and a "tripwire"
// server on another loopback port must receive nothing at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { parseArgs, run, type RunningLb } from '../../packages/lb/src/cli.js';
import { rawExchange, startGuardedApp, statusOf, waitFor, type CountingBackend, type Tripwire } from './hardening-helpers.js';

const VHOST = 'app.test';
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let sim: MarathonSimulator;
let lb: RunningLb;
let backend: CountingBackend;
let tripwire: Tripwire;
let http = 0;

beforeAll(async () => {
  ({ sim, backend, tripwire } = await startGuardedApp(VHOST, cleanups));

  const opts = parseArgs(['--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--timeout-http-request', '1500ms']);
  lb = await run(opts, silentLogger());
  cleanups.push(() => lb.stop(1_000));
  http = lb.lb.addresses.http!;
  await waitFor(() => lb.lb.table().hostIndex.has(VHOST), 15_000);
  const ok = await rawExchange(http, `GET /warm-up HTTP/1.1\r\nHost: ${VHOST}\r\nConnection: close\r\n\r\n`);
  expect(statusOf(ok), ok).toBe(200);
}, 60_000);

/** Sends `request`, expects `status` from the LB, and checks that neither the backend nor the tripwire saw it. */
async function refused(request: string | Buffer | (string | Buffer)[], status: number | number[], opts: { gapMs?: number; untilMs?: number } = {}): Promise<string> {
  const before = backend.requests.length;
  const reply = await rawExchange(http, request, opts);
  expect([status].flat(), reply).toContain(statusOf(reply));
  // A request forwarded by mistake would reach the backend within this delay.
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(backend.requests.slice(before).map((r) => r.url)).toEqual([]);
  expect(tripwire.connections).toBe(0);
  return reply;
}

const head = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

describe('headers', () => {
  it('answers 431 to a request head over 16 KiB', async () => {
    await refused(head(['GET /big HTTP/1.1', `Host: ${VHOST}`, `X-Big: ${'a'.repeat(20_000)}`]), 431);
  });

  it('answers 431 to many medium headers adding up to over 16 KiB', async () => {
    const many = Array.from({ length: 60 }, (_, i) => `X-H${i}: ${'b'.repeat(400)}`);
    await refused(head(['GET /big HTTP/1.1', `Host: ${VHOST}`, ...many]), 431);
  });

  it('answers 400 to more than 100 headers', async () => {
    const many = Array.from({ length: 150 }, (_, i) => `X-H${i}: ${i}`);
    await refused(head(['GET /many HTTP/1.1', `Host: ${VHOST}`, ...many]), 400);
  });
});

describe('invalid Host', () => {
  it.each([
    ['no Host (HTTP/1.1)', ['GET /nohost HTTP/1.1']],
    ['two Host headers', ['GET /two HTTP/1.1', `Host: ${VHOST}`, `Host: 127.0.0.1:${1}`]],
    ['a path in Host', ['GET /path HTTP/1.1', `Host: ${VHOST}/x`]],
    ['userinfo in Host', ['GET /userinfo HTTP/1.1', `Host: evil@${VHOST}`]],
    ['a space in Host', ['GET /space HTTP/1.1', `Host: ${VHOST} x`]],
    ['a non-numeric port', ['GET /port HTTP/1.1', `Host: ${VHOST}:80x`]],
    ['an empty Host', ['GET /empty HTTP/1.1', 'Host: ']],
    ['a comma list', ['GET /comma HTTP/1.1', `Host: ${VHOST}, other.test`]],
    ['a control character', ['GET /ctl HTTP/1.1', `Host: ${VHOST}\x01`]],
  ])('answers 400 to %s, never forwarded', async (_name, lines) => {
    await refused(head([...lines, 'Connection: close']), 400);
  });

  it('still routes a valid Host with a port, in any case', async () => {
    const before = backend.requests.length;
    const reply = await rawExchange(http, head(['GET /ok HTTP/1.1', `Host: APP.Test:${http}`, 'Connection: close']));
    expect(statusOf(reply), reply).toBe(200);
    expect(backend.requests.slice(before).map((r) => r.url)).toEqual(['/ok']);
  });
});

describe('request smuggling', () => {
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: app.test\r\n\r\n';
  it.each([
    ['Content-Length with Transfer-Encoding', ['POST /cl-te HTTP/1.1', `Host: ${VHOST}`, 'Content-Length: 4', 'Transfer-Encoding: chunked'], `0\r\n\r\n${smuggled}`],
    ['Transfer-Encoding with Content-Length', ['POST /te-cl HTTP/1.1', `Host: ${VHOST}`, 'Transfer-Encoding: chunked', `Content-Length: ${5 + smuggled.length}`], `0\r\n\r\n${smuggled}`],
    ['duplicate Content-Length, different values', ['POST /dup-cl HTTP/1.1', `Host: ${VHOST}`, 'Content-Length: 3', `Content-Length: ${3 + smuggled.length}`], `abc${smuggled}`],
    ['duplicate Content-Length, same values', ['POST /dup-cl-same HTTP/1.1', `Host: ${VHOST}`, 'Content-Length: 3', 'Content-Length: 3'], 'abc'],
    ['Content-Length list', ['POST /cl-list HTTP/1.1', `Host: ${VHOST}`, 'Content-Length: 3, 3'], 'abc'],
    ['obs-fold', ['POST /obs-fold HTTP/1.1', `Host: ${VHOST}`, 'X-Folded: a', ' Transfer-Encoding: chunked', 'Content-Length: 3'], 'abc'],
    ['chunked not last', ['POST /te-not-last HTTP/1.1', `Host: ${VHOST}`, 'Transfer-Encoding: chunked, identity'], `0\r\n\r\n${smuggled}`],
    ['unknown transfer coding', ['POST /te-unknown HTTP/1.1', `Host: ${VHOST}`, 'Transfer-Encoding: xchunked'], `0\r\n\r\n${smuggled}`],
    ['space before the colon', ['POST /space-colon HTTP/1.1', `Host: ${VHOST}`, 'Transfer-Encoding : chunked', 'Content-Length: 3'], 'abc'],
    ['a bare LF in the head', ['POST /bare-lf HTTP/1.1', `Host: ${VHOST}\nTransfer-Encoding: chunked`, 'Content-Length: 3'], 'abc'],
  ])('rejects %s with 400; nothing reaches the backend', async (_name, lines, body) => {
    await refused(head(lines) + body, 400);
    expect(backend.requests.some((r) => r.url === '/smuggled')).toBe(false);
  });

  it.each([
    ['a non-hex chunk size', 'zz\r\nabc\r\n0\r\n\r\n'],
    ['a negative chunk size', '-1\r\nabc\r\n0\r\n\r\n'],
    ['an overflowing chunk size', 'fffffffffffffffffff\r\nabc\r\n0\r\n\r\n'],
    ['chunk data longer than its size', `3\r\nabcdef\r\n0\r\n\r\n${smuggled}`],
  ])('rejects %s with 400: no complete request and no smuggled one reaches the backend', async (_name, body) => {
    const before = backend.requests.length;
    const reply = await rawExchange(http, head(['POST /bad-chunk HTTP/1.1', `Host: ${VHOST}`, 'Transfer-Encoding: chunked']) + body);
    expect(statusOf(reply), reply).toBe(400);
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The LB streams bodies, so the head may have been passed on; the request is then aborted, never completed.
    const seen = backend.requests.slice(before);
    expect(seen.filter((r) => r.complete)).toEqual([]);
    expect(seen.some((r) => r.url === '/smuggled')).toBe(false);
    expect(tripwire.connections).toBe(0);
  });
});

describe('slowloris', () => {
  it('closes connections sending their head 1 byte at a time after --timeout-http-request, and keeps serving others', async () => {
    const request = head(['GET /slow HTTP/1.1', `Host: ${VHOST}`, 'X-Padding: 0123456789012345678901234567890123456789']);
    const bytes = [...request].map((c) => c);
    const started = Date.now();
    const slow = Array.from({ length: 20 }, () => rawExchange(http, bytes, { gapMs: 250, untilMs: 30_000 }));
    // Meanwhile, ordinary clients are served.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 5; i++) {
      const reply = await rawExchange(http, head([`GET /meanwhile-${i} HTTP/1.1`, `Host: ${VHOST}`, 'Connection: close']));
      expect(statusOf(reply), reply).toBe(200);
    }
    const replies = await Promise.all(slow);
    const elapsed = Date.now() - started;
    // The whole head would take ~20 s at this pace; the LB closes well before (1.5 s + its check interval).
    expect(elapsed).toBeLessThan(15_000);
    for (const reply of replies) expect([0, 408]).toContain(statusOf(reply));
    expect(backend.requests.some((r) => r.url === '/slow')).toBe(false);
  }, 40_000);
});

describe('unknown vhost', () => {
  it.each([
    ['an unknown name', 'unknown.test'],
    ['the tripwire address', `127.0.0.1:${0}`],
    ['the backend address', 'backend'],
    ['a metadata address', '169.254.169.254'],
    ['localhost', 'localhost'],
  ])('answers 503 for %s, forwarded nowhere', async (_name, host) => {
    const value = host === 'backend' ? `${backend.host}:${backend.port}` : host.endsWith(':0') ? `127.0.0.1:${tripwire.port}` : host;
    await refused(head(['GET /unknown HTTP/1.1', `Host: ${value}`, 'Connection: close']), 503);
  });
});
