// Helpers for the bad-input and security tests: the real bins (built on demand), their memory and
// open file descriptors, free ports and a listener that must never receive anything.
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createServer as createHttpServer, type IncomingHttpHeaders } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator, type SimulatorOptions } from '@baton/marathon-sim';
import { descendants, openFds, statusKb } from '../../tools/proc-tree.mjs';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, repoDir, spawnBin } from './fault-helpers.js';

export { ensureBuilt, repoDir, waitFor };

export const BINS = {
  dns: join(repoDir, 'packages/dns/bin/baton-dns.js'),
  lb: join(repoDir, 'packages/lb/bin/baton-lb.js'),
  env: join(repoDir, 'packages/discovery/bin/baton-env.js'),
  sim: join(repoDir, 'packages/marathon-sim/bin/baton-sim.js'),
} as const;

export interface RunningBin {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Waits for a stdout line matching `pattern` (or the process to exit) and returns the match. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(): Promise<number | null>;
}

export function startBin(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): RunningBin {
  const running = spawnBin(bin, args, env);
  return {
    child: running.child,
    stdout: running.stdout,
    stderr: running.stderr,
    exited: running.exited.then(({ code }) => code),
    waitForLine: (pattern, timeoutMs) => running.line(pattern, timeoutMs) as Promise<RegExpExecArray>,
    stop: running.stop,
  };
}

/** Resident memory (bytes) and open file descriptors of a process, or of a list of them summed (Linux /proc). */
export function processUsage(pids: number | readonly number[]): { rss: number; fds: number } {
  return { rss: statusKb(pids, 'VmRSS') * 1024, fds: openFds(pids) };
}

/** processUsage of a process and its descendants (baton-lb's primary and its workers). */
export function processTreeUsage(pid: number): { rss: number; fds: number } {
  return processUsage(descendants(pid));
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP listener that counts every connection and byte it receives: it must receive nothing. */
export interface Tripwire {
  port: number;
  connections: number;
  bytes: number;
  close(): Promise<void>;
}

export async function startTripwire(host = '127.0.0.1'): Promise<Tripwire> {
  const sockets = new Set<Socket>();
  const wire: Tripwire = { port: 0, connections: 0, bytes: 0, close: async () => {} };
  const server: Server = createServer((socket) => {
    wire.connections++;
    sockets.add(socket);
    socket.on('data', (d) => (wire.bytes += d.length));
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  wire.port = (server.address() as AddressInfo).port;
  wire.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return wire;
}

/** Raw bytes to a port; resolves with everything read until the peer closes (or `untilMs`). Never rejects. */
export function rawExchange(port: number, data: string | Buffer | (string | Buffer)[], opts: { untilMs?: number; host?: string; gapMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, opts.host ?? '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), opts.untilMs ?? 5_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    const parts = Array.isArray(data) ? data : [data];
    let i = 0;
    const next = (): void => {
      if (socket.destroyed) return;
      if (i < parts.length) socket.write(parts[i++]);
      if (i < parts.length) setTimeout(next, opts.gapMs ?? 0);
    };
    socket.on('connect', next);
  });
}

/** The status code of the first response in raw HTTP text (0 when there is none). */
export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}

export interface CountingBackend {
  host: string;
  port: number;
  /** Request heads received (method, url, headers), in order. */
  requests: { method: string; url: string; headers: IncomingHttpHeaders; body: string; complete: boolean }[];
  close(): Promise<void>;
}

/** An HTTP server that records every request it receives and answers 200 `backend <url>`. */
export async function startCountingBackend(host: string, port: number): Promise<CountingBackend> {
  const backend: CountingBackend = { host, port, requests: [], close: async () => {} };
  const server = createHttpServer((req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '', complete: false };
    backend.requests.push(entry);
    req.setEncoding('latin1');
    req.on('data', (d: string) => (entry.body += d));
    req.on('error', () => {});
    req.on('end', () => {
      entry.complete = true;
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`backend ${req.url}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  backend.port = (server.address() as AddressInfo).port;
  backend.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return backend;
}

/**
 * A simulator with one virtual `/web` task (group external, vhost `vhost`) served for real on its
 * loopback agent address by a counting backend, plus a tripwire that must never be reached. The task
 * gets a free host (and service) port: virtual tasks otherwise start at 31000, which other test files
 * serving their own virtual tasks would bind too. Everything started is pushed onto `cleanups`.
 */
export async function startGuardedApp(
  vhost: string,
  cleanups: (() => Promise<unknown> | unknown)[],
  simOptions: Partial<SimulatorOptions> = {},
): Promise<{ sim: MarathonSimulator; backend: CountingBackend; tripwire: Tripwire }> {
  const sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 1000, logger: silentLogger(), ...simOptions });
  await sim.start();
  cleanups.push(() => sim.stop());
  await sim.createApp({ id: '/web', instances: 1, cmd: 'serve', requirePorts: true, portDefinitions: [{ port: await freePort() }], labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: vhost } });
  const [task] = await sim.waitForRunning('/web', 1);
  const backend = await startCountingBackend(task.host, task.ports[0]);
  cleanups.push(() => backend.close());
  const tripwire = await startTripwire();
  cleanups.push(() => tripwire.close());
  return { sim, backend, tripwire };
}

/** A DNS message framed for TCP: its 2-byte length (as given, to forge impossible ones), then the message. */
export const framed = (msg: Buffer, length = msg.length): Buffer => Buffer.concat([Buffer.from([length >> 8, length & 0xff]), msg]);

/** One DNS query over UDP on its own socket, retried (a flooded socket buffer may drop it); returns the reply. */
export async function udpAsk(port: number, msg: Buffer): Promise<Buffer> {
  const socket = dgram.createSocket('udp4');
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const reply = await new Promise<Buffer | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 2_000);
        socket.once('message', (m) => {
          clearTimeout(timer);
          resolve(m);
        });
        socket.send(msg, port, '127.0.0.1');
      });
      if (reply) return reply;
    }
    throw new Error('no UDP reply after 5 tries');
  } finally {
    socket.close();
  }
}
