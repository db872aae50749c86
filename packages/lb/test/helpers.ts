// Shared test helpers: hand-built route tables, backend HTTP servers that say who they are, free ports,
// raw HTTP over a socket, self-signed certificates.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, HttpRule, RouteTable, Server } from '../src/route-table.js';
import { startLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/server.js';

export { waitFor } from '../../../test/helpers/wait.js';

export function makeServer(id: string, port: number, extra: Partial<Server> = {}): Server {
  return { id, name: `127_0_0_1_${port}`, taskId: id, appId: '/app', host: '127.0.0.1', port, draining: false, cookie: `c${id}`.slice(0, 10), ...extra };
}

export function makeBackend(name: string, servers: Server[], extra: Partial<Backend> = {}): Backend {
  return {
    name,
    appId: `/${name}`,
    portIndex: 0,
    servicePort: 10000,
    mode: 'http',
    balance: 'roundrobin',
    sticky: false,
    servers,
    vhosts: [],
    paths: [],
    caseInsensitivePath: false,
    weight: 0,
    redirectToHttps: false,
    useHsts: false,
    allowedNetworks: [],
    bindAddr: '*',
    ...extra,
  };
}

/**
 * A table from backends: vhost rules in the given order (each backend's vhosts × its paths),
 * service ports for backends listed in `servicePorts`, app ids for http backends.
 */
export function makeTable(backends: Backend[], opts: { servicePorts?: Record<number, string>; version?: number; problems?: RouteTable['problems']; certificateFiles?: string[] } = {}): RouteTable {
  const httpRules: HttpRule[] = [];
  for (const b of backends) {
    for (const host of b.vhosts) httpRules.push({ host, paths: b.paths, caseInsensitivePath: b.caseInsensitivePath, backend: b.name, weight: b.weight });
  }
  const hostIndex = new Map<string, HttpRule[]>();
  const wildcardRules: HttpRule[] = [];
  for (const rule of httpRules) {
    if (rule.host.startsWith('*.')) wildcardRules.push(rule);
    else {
      const list = hostIndex.get(rule.host) ?? [];
      list.push(rule);
      hostIndex.set(rule.host, list);
    }
  }
  const appIdIndex = new Map<string, string>();
  for (const b of backends) if (b.mode === 'http' && b.portIndex === 0) appIdIndex.set(b.appId.toLowerCase(), b.name);
  return {
    stateVersion: opts.version ?? 1,
    backends: new Map(backends.map((b) => [b.name, b])),
    servicePorts: new Map(Object.entries(opts.servicePorts ?? {}).map(([p, n]) => [Number(p), n])),
    httpRules,
    hostIndex,
    wildcardRules,
    appIdIndex,
    certificateFiles: opts.certificateFiles ?? [],
    problems: opts.problems ?? [],
  };
}

export interface Echo {
  name: string;
  port: number;
  server: HttpServer;
  requests: number;
  close(): Promise<void>;
}

/**
 * A backend that answers JSON `{name, method, url, headers}`. `/slow?ms=N` waits N ms first;
 * `/size?bytes=N` streams N bytes; `/hang` never answers; `/location?to=X` sets Location.
 */
export async function startEcho(name: string, handler?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<Echo> {
  const echo = { name, port: 0, requests: 0 } as Echo;
  const server = createServer((req, res) => {
    echo.requests++;
    if (handler?.(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (): void => {
      if (url.pathname === '/size') {
        const bytes = Number(url.searchParams.get('bytes'));
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes });
        res.end(Buffer.alloc(bytes, 120));
        return;
      }
      if (url.pathname === '/hang') return;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-served-by': name };
        if (url.pathname === '/location') headers.location = url.searchParams.get('to') ?? '/';
        res.writeHead(200, headers);
        res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() }));
      });
    };
    const ms = url.pathname === '/slow' ? Number(url.searchParams.get('ms') ?? 500) : 0;
    if (ms > 0) setTimeout(reply, ms);
    else reply();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  echo.server = server;
  echo.port = (server.address() as AddressInfo).port;
  echo.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return echo;
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends raw bytes, returns everything the server sent until it closed (or `untilMs`). */
export function rawRequest(port: number, text: string | Buffer, untilMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(), untilMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.write(text);
  });
}

/** A self-signed certificate + key in one PEM file for `cn` (plus SANs), made with openssl. */
export function makeCertificate(dir: string, cn: string, altNames: string[] = [cn]): string {
  const file = join(dir, `${cn.replace(/[^a-z0-9.-]/gi, '_')}.pem`);
  const keyFile = `${file}.key`;
  const certFile = `${file}.crt`;
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`,
    '-addext', `subjectAltName=${altNames.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  writeFileSync(file, readFileSync(certFile, 'utf8') + readFileSync(keyFile, 'utf8'));
  return file;
}

export function tempDir(prefix = 'baton-lb-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A Logger that records every call as one JSON line (pino's shape: level, msg, fields). */
export function captureLogger(lines: string[]): import('@baton/marathon').Logger {
  const levels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
  const logger: Record<string, unknown> = {
    level: 'info',
    child: () => logger,
    flush: (cb?: () => void) => cb?.(),
    isLevelEnabled: () => true,
  };
  for (const level of levels) {
    logger[level] = (a: unknown, b?: unknown) => {
      const fields = typeof a === 'object' && a !== null ? (a as object) : {};
      const msg = typeof a === 'string' ? a : b;
      lines.push(JSON.stringify({ level, ...fields, msg }, (_k, v) => (v instanceof Error ? v.message : v)));
    };
  }
  return logger as unknown as import('@baton/marathon').Logger;
}

/** A load balancer on 127.0.0.1 with ephemeral :80 and :443, and no :9091 or admin port unless `opts` asks. */
export function startLocalLb(opts: Partial<LoadBalancerOptions> = {}): Promise<LoadBalancer> {
  return startLoadBalancer({ bindAddress: '127.0.0.1', httpPort: 0, httpsPort: 0, appIdPort: null, adminPort: null, ...opts });
}
