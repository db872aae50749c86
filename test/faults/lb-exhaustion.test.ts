// Resource exhaustion of baton-lb: the real bin, following an exec-mode simulator whose tasks are real
// backend processes, under clients and backends that try to make it hold memory, server slots or
// connections without bound. Each attack runs for a few seconds; the bin must live, its RSS stay under
// a stated bound, a legitimate client on another connection be answered during and after, and memory
// come back near its baseline once the attacker leaves.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, http, startBin, type Bin } from './fault-helpers.js';
import { freePort, processTreeUsage, statusOf } from './hardening-helpers.js';

const MiB = 1024 * 1024;
/**
 * How far above its idle baseline baton-lb's RSS may go during an attack: generous, as the design is
 * ~1 MiB per connection, but a short burst of garbage while the kernel's socket buffers fill is normal.
 */
const RSS_HEADROOM = 80 * MiB;
/** How much RSS may still grow in the last third of an attack (bounded memory stops growing). */
const RSS_PLATEAU = 24 * MiB;
/** How close to the baseline RSS must come back once the attacker has left. */
const RSS_AFTER_MARGIN = 60 * MiB;
const ATTACK_MS = 4_000;

/**
 * One backend script for every app, its behaviour picked by MODE: `http` (`/big?kb=N`, `/slow?ms=N`, `/drip?ms=N` (a byte every 200 ms for N ms),
 * `/echo` answering the request head as JSON; Upgrade `/ws` → 101 then echo, `/ws-flood` → 101 then
 * endless data, `/no-switch` → 200, `/hang` → no answer), `continue` (`100 Continue` every 100 ms,
 * forever), `tcp-flood` (writes endlessly, never reads).
 */
const BACKEND = `const http = require('node:http');
const net = require('node:net');
const mode = process.env.MODE || 'http';
const port = Number(process.env.PORT0);
const host = process.env.HOST || '127.0.0.1';
const chunk = Buffer.alloc(64 * 1024, 120);
function flood(socket) {
  const pump = () => { while (!socket.destroyed && socket.write(chunk)) {} };
  socket.on('drain', pump);
  pump();
}
if (mode === 'tcp-flood') {
  net.createServer((s) => { s.on('error', () => {}); s.pause(); flood(s); }).listen(port, host);
} else if (mode === 'continue') {
  net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      const t = setInterval(() => s.write('HTTP/1.1 100 Continue\\r\\n\\r\\n'), 100);
      s.on('close', () => clearInterval(t));
    });
  }).listen(port, host);
} else {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    req.resume();
    if (url.pathname === '/big') return res.end(Buffer.alloc(Number(url.searchParams.get('kb') || 1) * 1024, 98));
    if (url.pathname === '/echo') return res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    if (url.pathname === '/slow') return setTimeout(() => res.end('slow'), Number(url.searchParams.get('ms') || 0));
    if (url.pathname === '/drip') {
      const t = setInterval(() => res.write('.'), 200);
      return setTimeout(() => (clearInterval(t), res.end()), Number(url.searchParams.get('ms') || 0));
    }
    req.on('end', () => res.end('ok'));
  });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => {});
    if (head.length > 0) socket.unshift(head);
    if (req.url === '/ws' || req.url === '/ws-flood') {
      socket.write('HTTP/1.1 101 Switching Protocols\\r\\nConnection: Upgrade\\r\\nUpgrade: websocket\\r\\n\\r\\n');
      if (req.url === '/ws') socket.pipe(socket); else { socket.pause(); flood(socket); }
    } else if (req.url === '/no-switch') {
      socket.end('HTTP/1.1 200 OK\\r\\ncontent-type: text/plain\\r\\ncontent-length: 9\\r\\n\\r\\nno switch');
    }
  });
  server.keepAliveTimeout = 60000;
  server.listen(port, host);
}
`;

let dir: string;
let sim: MarathonSimulator;
let lb: Bin;
let pid: number;
let httpPort: number;
let httpsPort: number;
let tcpPort: number;

beforeAll(async () => {
  ensureBuilt('lb');
  dir = mkdtempSync(join(tmpdir(), 'baton-faults-exhaustion-'));
  const script = join(dir, 'backend.cjs');
  writeFileSync(script, BACKEND);
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=good.test', '-keyout', `${certFile}.key`, '-out', `${certFile}.crt`], { stdio: 'ignore' });
  writeFileSync(certFile, readFileSync(`${certFile}.crt`, 'utf8') + readFileSync(`${certFile}.key`, 'utf8'));

  sim = new MarathonSimulator({ heartbeatMs: 200, exec: true, logger: silentLogger() });
  await sim.start();
  tcpPort = await freePort();
  const app = (id: string, vhost: string, mode = 'http', extra: Record<string, unknown> = {}) =>
    sim.createApp({
      id,
      cmd: `MODE=${mode} ${process.execPath} ${script}`,
      instances: 1,
      portDefinitions: [{ port: 0 }],
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: vhost },
      ...extra,
    });
  await app('/good', 'good.test');
  await app('/redir', 'redir.test', 'http', { labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'redir.test', HAPROXY_0_REDIRECT_TO_HTTPS: 'true' } });
  await app('/slowapp', 'slow.test');
  await app('/cont', 'cont.test', 'continue');
  await app('/flood', 'flood.test', 'tcp-flood', { portDefinitions: [{ port: tcpPort }], labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'tcp' } });
  for (const id of ['/good', '/redir', '/slowapp', '/cont', '/flood']) await sim.waitForRunning(id, 1);

  lb = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--ssl-certs', certFile,
    '--timeout-client', '2s', '--timeout-server', '2s', '--timeout-http-request', '1500ms',
    '--timeout-http-body', '3s', '--timeout-queue', '1s', '--log-level', 'warn',
  ]);
  const [, http1, https1] = await lb.line(/listening on 127\.0\.0\.1: http=(\d+) https=(\d+)/);
  httpPort = Number(http1);
  httpsPort = Number(https1);
  pid = lb.child.pid!;
  // Running in Marathon is not listening yet: wait until each app answers through baton-lb.
  for (const host of ['good.test', 'slow.test']) {
    await waitFor(async () => (await http(`http://127.0.0.1:${httpPort}/`, { headers: { host }, timeoutMs: 2_000 }).catch(() => undefined))?.status === 200, 30_000, 100);
  }
  await waitFor(async () => (await readSome(tcpPort, 1)) > 0, 30_000, 100);
}, 120_000);

afterAll(async () => {
  lb?.kill('SIGKILL');
  await lb?.exited;
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// Every process of the load balancer (its primary and workers); a worker that died and was restarted
// counts as the load balancer dying.
const rss = (): number => processTreeUsage(pid).rss;
const alive = (): boolean => lb.child.exitCode === null && lb.child.signalCode === null && !lb.stderr().includes('worker died');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects and reads until `bytes` arrived (or 2 s passed); resolves with the bytes read. */
function readSome(port: number, bytes: number): Promise<number> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = 0;
    const done = (): void => {
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, 2_000);
    socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= bytes) {
        clearTimeout(timer);
        done();
      }
    });
    socket.on('error', () => {
      clearTimeout(timer);
      done();
    });
  });
}

/** A legitimate request on a fresh connection: its status (0 when it failed or took over 5 s). */
async function legit(): Promise<number> {
  const r = await http(`http://127.0.0.1:${httpPort}/big?kb=4`, { headers: { host: 'good.test' }, timeoutMs: 5_000 }).catch(() => undefined);
  return r?.status ?? 0;
}

interface Attack {
  sockets: Socket[];
  stop(): void;
}

/** Opens `n` raw connections to `port`; `onConnect` drives each. */
function openAttack(port: number, n: number, onConnect: (socket: Socket, i: number) => void): Attack {
  const sockets: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('connect', () => onConnect(socket, i));
    sockets.push(socket);
  }
  return {
    sockets,
    stop: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * Runs `start` for ATTACK_MS while sampling baton-lb's RSS and asking as a legitimate client every
 * 250 ms; then stops the attacker and waits for memory to settle. Asserts the bounds.
 */
async function underAttack(name: string, start: () => Attack, durationMs = ATTACK_MS): Promise<void> {
  expect(await legit()).toBe(200);
  const baseline = rss();
  const attack = start();
  let peak = baseline;
  let earlyPeak = baseline;
  let latePeak = 0;
  const statuses: number[] = [];
  const started = Date.now();
  while (Date.now() - started < durationMs) {
    const [status] = await Promise.all([legit(), sleep(250)]);
    statuses.push(status);
    const now = rss();
    peak = Math.max(peak, now);
    if (Date.now() - started < (durationMs * 2) / 3) earlyPeak = peak;
    else latePeak = Math.max(latePeak, now);
    if (peak > baseline + RSS_HEADROOM) break; // no need to wait for the bin to run out of memory
  }
  attack.stop();
  expect(alive(), `${name}: baton-lb died`).toBe(true);
  expect(peak - baseline, `${name}: RSS grew from ${(baseline / MiB).toFixed(0)} to ${(peak / MiB).toFixed(0)} MiB`).toBeLessThan(RSS_HEADROOM);
  expect(latePeak - earlyPeak, `${name}: RSS still growing late in the attack (${(earlyPeak / MiB).toFixed(0)} → ${(latePeak / MiB).toFixed(0)} MiB)`).toBeLessThan(RSS_PLATEAU);
  expect(statuses.filter((s) => s !== 200), `${name}: legitimate requests during the attack: ${statuses.join(',')}`).toEqual([]);
  expect(await legit()).toBe(200);
  let after = rss();
  await waitFor(() => (after = rss()) < baseline + RSS_AFTER_MARGIN, 10_000, 200).catch(() => undefined);
  expect(after - baseline, `${name}: RSS ${(after / MiB).toFixed(0)} MiB after the attack (baseline ${(baseline / MiB).toFixed(0)} MiB)`).toBeLessThan(RSS_AFTER_MARGIN);
}

/** Writes `data` as fast as the peer takes it, never reading what comes back. */
function pipelineForever(socket: Socket, data: Buffer): void {
  socket.pause();
  const pump = (): void => {
    while (!socket.destroyed && socket.write(data));
  };
  socket.on('drain', pump);
  pump();
}

/** Bytes until the connection closes, or `ms` (then `timedOut`). */
function untilClosed(socket: Socket, ms: number): Promise<{ data: string; timedOut: boolean; afterMs: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ data, timedOut: true, afterMs: Date.now() - started });
    }, ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ data, timedOut: false, afterMs: Date.now() - started });
    });
  });
}

function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Reads one response head and body from raw bytes (content-length bodies only). */
function firstResponse(socket: Socket, ms = 5_000): Promise<{ status: number; head: string; body: string }> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no complete response within ${ms} ms: ${JSON.stringify(buf)}`)), ms);
    const onData = (d: Buffer): void => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buf.slice(0, end);
      const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buf.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ status: statusOf(head), head, body: buf.slice(end + 4, end + 4 + length) });
    };
    socket.on('data', onData);
  });
}

describe('clients that do not read', () => {
  it('pipelined requests on keep-alive connections whose replies are never read: proxied and local responses', async () => {
    // Each request small, each reply large: a 60 KiB proxied response, or a local 301 whose Location
    // repeats a 15 KB path.
    const proxied = Buffer.from('GET /big?kb=60 HTTP/1.1\r\nHost: good.test\r\n\r\n'.repeat(64));
    const local = Buffer.from(`GET /${'p'.repeat(15_000)} HTTP/1.1\r\nHost: redir.test\r\n\r\n`.repeat(4));
    await underAttack('pipelining', () => openAttack(httpPort, 5, (socket, i) => pipelineForever(socket, i < 4 ? local : proxied)), 8_000);
  }, 30_000);

  it('a request body flooded in behind a pipelined request still being answered', async () => {
    const heads = 'GET /drip?ms=10000 HTTP/1.1\r\nHost: good.test\r\n\r\nPOST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 1000000000\r\n\r\n';
    const body = Buffer.alloc(64 * 1024, 97);
    await underAttack('pipelined body', () =>
      openAttack(httpPort, 2, (socket) => {
        socket.write(heads);
        pipelineForever(socket, body);
      }),
    );
  }, 30_000);

  it('a WebSocket whose server floods and whose client never reads', async () => {
    await underAttack('websocket flood', () =>
      openAttack(httpPort, 2, (socket) => {
        socket.pause();
        socket.write('GET /ws-flood HTTP/1.1\r\nHost: good.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      }),
    );
  }, 30_000);

  it('a TCP service port whose server floods and never reads, and whose client floods and never reads', async () => {
    const data = Buffer.alloc(64 * 1024, 120);
    await underAttack('tcp flood', () => openAttack(tcpPort, 2, (socket) => pipelineForever(socket, data)));
  }, 30_000);
});

describe('slow clients hold no server slot', () => {
  it('300 connections trickling small request bodies: other clients of the same server are served', async () => {
    await underAttack('slow bodies', () => {
      const timers: NodeJS.Timeout[] = [];
      const attack = openAttack(httpPort, 300, (socket) => {
        socket.write('POST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 1000\r\n\r\n');
        timers.push(setInterval(() => socket.write('x'), 500));
      });
      return { sockets: attack.sockets, stop: () => (timers.forEach(clearInterval), attack.stop()) };
    });
  }, 30_000);

  it('a large body trickled after its first 20 KB is cut at --timeout-http-body (3s), not refreshed by each byte', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => rawSocket(httpPort)));
    const timers = sockets.map((socket) => {
      socket.write(`POST / HTTP/1.1\r\nHost: good.test\r\nContent-Length: 1000000\r\n\r\n${'y'.repeat(20_000)}`);
      return setInterval(() => socket.write('y'), 200);
    });
    const results = await Promise.all(sockets.map((s) => untilClosed(s, 8_000)));
    timers.forEach(clearInterval);
    for (const r of results) {
      expect(r.timedOut, 'a trickled body kept its connection open').toBe(false);
      expect(r.afterMs).toBeLessThan(6_000);
      if (r.data !== '') expect(statusOf(r.data)).toBe(408);
    }
    expect(await legit()).toBe(200);
  }, 30_000);

  it('a request queued for a server whose connections are all busy gets 503 after --timeout-queue (1s); other vhosts are served', async () => {
    // Requests whose responses trickle (so the server timeout does not free them) take every
    // connection the pool opens to the slow.test server: 256 per server in each worker process. Which
    // worker accepts a connection is the kernel's choice, so they come in batches until a request
    // lands in a full pool (one more batch than the pools hold at most; an extra request of a batch
    // that finds its worker's pool full is itself answered 503 after the queue timeout).
    const busy: Socket[] = [];
    let queued: { status: number; body: string } = { status: 0, body: 'no request queued' };
    let queuedMs = 0;
    try {
      for (let batch = 0; batch < 6 && queued.status !== 503; batch++) {
        const more = await Promise.all(Array.from({ length: 256 }, () => rawSocket(httpPort)));
        busy.push(...more);
        let answering = 0;
        for (const s of more) {
          s.once('data', () => answering++);
          s.write('GET /drip?ms=30000 HTTP/1.1\r\nHost: slow.test\r\n\r\n');
        }
        await waitFor(() => answering === more.length, 10_000, 50);
        const started = Date.now();
        queued = await http(`http://127.0.0.1:${httpPort}/slow?ms=1`, { headers: { host: 'slow.test' }, timeoutMs: 6_000 }).catch((err: Error) => ({ status: 0, body: err.message }));
        queuedMs = Date.now() - started;
      }
      expect(queued.status, queued.body).toBe(503);
      expect(queuedMs).toBeLessThan(4_000);
      expect(await legit()).toBe(200);
    } finally {
      for (const s of busy) s.destroy();
    }
    expect(alive()).toBe(true);
  }, 60_000);

  it('a TLS handshake that never finishes (trickled byte by byte) is closed within --timeout-client (2s)', async () => {
    const sockets = await Promise.all(Array.from({ length: 10 }, () => rawSocket(httpsPort)));
    // The first bytes of a TLS record (handshake, TLS 1.0), one every 300 ms.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    const timers = sockets.map((socket) => {
      let i = 0;
      return setInterval(() => {
        if (i < hello.length && !socket.destroyed) socket.write(hello.subarray(i, ++i));
      }, 300);
    });
    const results = await Promise.all(sockets.map((s) => untilClosed(s, 8_000)));
    timers.forEach(clearInterval);
    for (const r of results) {
      expect(r.timedOut, 'an unfinished TLS handshake kept its connection open').toBe(false);
      expect(r.afterMs).toBeLessThan(4_000);
    }
    expect(alive()).toBe(true);
  }, 30_000);
});

describe('Upgrade requests become tunnels only on 101', () => {
  it('a server answering 200 to an Upgrade request: the client connection stays HTTP, its next request is routed with X-Forwarded-For', async () => {
    const socket = await rawSocket(httpPort);
    try {
      socket.write('GET /no-switch HTTP/1.1\r\nHost: good.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      const first = await firstResponse(socket);
      expect(first.status).toBe(200);
      expect(first.body).toBe('no switch');
      socket.write('GET /echo HTTP/1.1\r\nHost: good.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: forged\r\n\r\n');
      const second = await firstResponse(socket);
      expect(second.status).toBe(200);
      const echoed = JSON.parse(second.body) as { url: string; headers: Record<string, string> };
      expect(echoed.url).toBe('/echo');
      expect(echoed.headers['x-forwarded-for']).toBe('6.6.6.6, 127.0.0.1');
      // As marathon-lb on plain HTTP, the client's X-Forwarded-Proto passes through (--overwrite-forwarded-proto
      // replaces it); what matters here is that the bytes were parsed as a request of their own.
      expect(echoed.headers['x-forwarded-proto']).toBe('forged');
      expect(echoed.headers['x-forwarded-port']).toBe(String(httpPort));
    } finally {
      socket.destroy();
    }
  });

  it('a 101 still makes a tunnel (both ways, bytes after the head included)', async () => {
    const socket = await rawSocket(httpPort);
    try {
      socket.write('GET /ws HTTP/1.1\r\nHost: good.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nhello');
      let data = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no echo: ${JSON.stringify(data)}`)), 5_000);
        socket.on('data', (d: Buffer) => {
          data += d.toString('latin1');
          if (data.endsWith('hello')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      expect(statusOf(data)).toBe(101);
    } finally {
      socket.destroy();
    }
  });

  it('before the 101 the server timeout applies (504), not the 1 h tunnel timeout', async () => {
    const socket = await rawSocket(httpPort);
    socket.write('GET /hang HTTP/1.1\r\nHost: good.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    const result = await firstResponse(socket, 7_000).finally(() => socket.destroy());
    expect(result.status).toBe(504);
  }, 15_000);
});

describe('protocol limits', () => {
  it('a backend sending 100 Continue forever is timed out by --timeout-server (2s): 504', async () => {
    const started = Date.now();
    const r = await http(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'cont.test' }, timeoutMs: 8_000 }).catch((err: Error) => ({ status: 0, body: err.message }));
    expect(r.status, r.body).toBe(504);
    expect(Date.now() - started).toBeLessThan(6_000);
  }, 15_000);

  it.each([
    ['Transfer-Encoding: gzip, chunked', 'POST /echo HTTP/1.1\r\nHost: good.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 400],
    ['two Transfer-Encoding headers', 'POST /echo HTTP/1.1\r\nHost: good.test\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['HTTP/1.0 with Transfer-Encoding', 'POST /echo HTTP/1.0\r\nHost: good.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
    ['an HTTP/2.0 request line', 'GET /echo HTTP/2.0\r\nHost: good.test\r\n\r\n', 505],
    ['an Upgrade request with a body', 'POST /ws HTTP/1.1\r\nHost: good.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello', 400],
  ])('refuses %s', async (_name, request, status) => {
    const socket = await rawSocket(httpPort);
    socket.write(request);
    const r = await untilClosed(socket, 3_000);
    expect(statusOf(r.data), r.data).toBe(status);
  });
});
