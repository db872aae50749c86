import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { getEventListeners } from 'node:events';
import {
  MarathonAuthError,
  MarathonClient,
  MarathonHttpError,
  MarathonResponseError,
  MarathonUnavailableError,
} from '../src/client.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const servers: Server[] = [];
const clients: MarathonClient[] = [];

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return `127.0.0.1:${port}`;
}

async function serve(handler: Handler): Promise<{ url: string; requests: IncomingMessage[] }> {
  const requests: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  return { url: `http://${await listen(server)}`, requests };
}

/** A URL nothing listens on: a port that was just bound and released. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function client(options: ConstructorParameters<typeof MarathonClient>[0]): MarathonClient {
  const c = new MarathonClient(options);
  clients.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(
    servers.splice(0).map((s) => new Promise((resolve) => { s.closeAllConnections?.(); s.close(resolve); })),
  );
});

const app = { id: '/web', instances: 1, tasks: [{ id: 'web.1', host: 'a1', ports: [31000] }] };

describe('MarathonClient requests', () => {
  it('sends Basic credentials and returns the apps array with embedded tasks', async () => {
    const m = await serve((req, res) => json(res, 200, { apps: [app] }));
    const c = client({ urls: [m.url], auth: { username: 'ops', password: 's3cr:t' } });
    expect(await c.getApps()).toEqual([app]);
    const req = m.requests[0];
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from('ops:s3cr:t').toString('base64')}`);
    expect(req.url).toBe('/v2/apps?embed=apps.tasks');
  });

  it('sends a DC/OS token as `Authorization: token=…` and keeps the base path', async () => {
    const m = await serve((req, res) => json(res, 200, { apps: [] }));
    const c = client({ urls: [`${m.url}/service/marathon/`], auth: { token: 'eyJhbGc.x.y' } });
    await c.getApps({ embedTasks: false, id: '/prod', label: 'HAPROXY_GROUP==external' });
    expect(m.requests[0].headers.authorization).toBe('token=eyJhbGc.x.y');
    const url = new URL(m.requests[0].url!, 'http://x');
    expect(url.pathname).toBe('/service/marathon/v2/apps');
    expect(url.searchParams.get('embed')).toBeNull();
    expect(url.searchParams.get('id')).toBe('/prod');
    expect(url.searchParams.get('label')).toBe('HAPROXY_GROUP==external');
  });

  it('fetches one app, its tasks, the leader and info; 404 gives null / undefined', async () => {
    let leader = true;
    const m = await serve((req, res) => {
      if (req.url === '/v2/apps/prod/web?embed=app.tasks') return json(res, 200, { app: { id: '/prod/web' } });
      if (req.url === '/v2/apps/prod/web/tasks') return json(res, 200, { tasks: [{ id: 't1' }] });
      if (req.url === '/v2/leader') return leader ? json(res, 200, { leader: 'm1:8080' }) : json(res, 404, { message: 'There is no leader' });
      if (req.url === '/v2/info') return json(res, 200, { name: 'marathon', version: '1.11.0' });
      json(res, 404, { message: `App '${req.url}' does not exist` });
    });
    const c = client({ urls: [m.url] });
    expect(await c.getApp('/prod/web')).toEqual({ id: '/prod/web' });
    expect(await c.getAppTasks('/prod/web')).toEqual([{ id: 't1' }]);
    expect(await c.getApp('/nope')).toBeNull();
    expect(await c.getAppTasks('/nope')).toBeNull();
    expect(await c.getLeader()).toBe('m1:8080');
    leader = false;
    expect(await c.getLeader()).toBeUndefined();
    expect(await c.getInfo()).toMatchObject({ name: 'marathon' });
  });

  it('throws MarathonResponseError on truncated JSON and on a body of the wrong shape', async () => {
    let body = '{"apps":[{"id":"/web","tasks":[{"id":"web.1"';
    const m = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    const c = client({ urls: [m.url] });
    const truncated = await c.getApps().catch((e) => e);
    expect(truncated).toBeInstanceOf(MarathonResponseError);
    expect(truncated.message).toMatch(/truncated JSON/);
    expect(truncated.url).toContain(m.url);
    body = '{"message":"ok"}';
    await expect(c.getApps()).rejects.toThrow(/did not answer \{"apps"/);
  });

  it('reports 401 as credentials rejected, naming the URL, without trying other URLs', async () => {
    const m = await serve((req, res) => {
      res.writeHead(401, { 'www-authenticate': 'basic realm="Mesosphere"' });
      res.end();
    });
    const other = await serve((req, res) => json(res, 200, { apps: [] }));
    const c = client({ urls: [m.url, other.url], auth: { username: 'a', password: 'wrong' } });
    const err = await c.getApps().catch((e) => e);
    expect(err).toBeInstanceOf(MarathonAuthError);
    expect(err.status).toBe(401);
    expect(err.message).toContain('credentials rejected');
    expect(err.message).toContain(m.url);
    expect(other.requests).toHaveLength(0);
  });

  it('throws MarathonHttpError with the status and Marathon message on other 4xx', async () => {
    const m = await serve((req, res) => json(res, 422, { message: 'Object is not valid' }));
    const err = await client({ urls: [m.url] }).getApps().catch((e) => e);
    expect(err).toBeInstanceOf(MarathonHttpError);
    expect(err.status).toBe(422);
    expect(err.message).toContain('Object is not valid');
  });

  it('ping is true when Marathon answers pong, false when nothing answers', async () => {
    const m = await serve((req, res) => res.end('pong'));
    expect(await client({ urls: [m.url] }).ping()).toBe(true);
    expect(await client({ urls: [await deadUrl()], timeoutMs: 2000 }).ping()).toBe(false);
  });

  it('rejects URLs that are not http(s)', () => {
    expect(() => new MarathonClient({ urls: [] })).toThrow(/at least one/);
    expect(() => new MarathonClient({ urls: ['zk://m1:2181/marathon'] })).toThrow(/http or https/);
  });
});

describe('MarathonClient failover', () => {
  it('moves from a dead URL to a live one and remembers it', async () => {
    const dead = await deadUrl();
    const live = await serve((req, res) => json(res, 200, { apps: [app] }));
    const c = client({ urls: [dead, live.url] });
    expect(c.currentUrl).toBe(dead);
    expect(await c.getApps()).toEqual([app]);
    expect(c.currentUrl).toBe(live.url);
    expect(await c.getApps()).toEqual([app]);
    expect(live.requests).toHaveLength(2);
  });

  it('moves on from a 5xx standby', async () => {
    const standby = await serve((req, res) => json(res, 502, { message: 'Could not determine the current leader' }));
    const leader = await serve((req, res) => json(res, 200, { apps: [] }));
    const c = client({ urls: [standby.url, leader.url] });
    expect(await c.getApps()).toEqual([]);
    expect(standby.requests).toHaveLength(1);
    expect(c.currentUrl).toBe(leader.url);
  });

  it('tries each URL once, then throws MarathonUnavailableError listing why', async () => {
    const dead = await deadUrl();
    const failing = await serve((req, res) => json(res, 503, { message: 'overloaded' }));
    const c = client({ urls: [dead, failing.url] });
    const err = await c.getApps().catch((e) => e);
    expect(err).toBeInstanceOf(MarathonUnavailableError);
    expect(err.attempts).toEqual([
      { url: dead, reason: 'connection refused' },
      { url: failing.url, reason: 'HTTP 503: overloaded' },
    ]);
    expect(failing.requests).toHaveLength(1);
  });
});

describe('MarathonClient timeouts and close', () => {
  it('times out when no response headers come', async () => {
    const silent = await serve(() => undefined);
    const live = await serve((req, res) => json(res, 200, { apps: [] }));
    const c = client({ urls: [silent.url], timeoutMs: 300 });
    const err = await c.getApps().catch((e) => e);
    expect(err).toBeInstanceOf(MarathonUnavailableError);
    expect(err.message).toMatch(/timeout after 300 ms waiting for response headers/);
    // and a timeout counts as a failure worth failing over for
    expect(await client({ urls: [silent.url, live.url], timeoutMs: 300 }).getApps()).toEqual([]);
  });

  it('times out when the body stalls', async () => {
    const m = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"apps":[');
    });
    const err = await client({ urls: [m.url], timeoutMs: 300 }).getApps().catch((e) => e);
    expect(err).toBeInstanceOf(MarathonUnavailableError);
    expect(err.message).toMatch(/timeout after 300 ms waiting for the response body/);
  });

  it('close() aborts a pending request', async () => {
    const silent = await serve(() => undefined);
    const c = client({ urls: [silent.url] });
    const pending = c.getApps().catch((e) => e);
    await waitFor(() => silent.requests.length === 1);
    await c.close();
    expect((await pending).message).toMatch(/client closed/);
    await expect(c.getApps()).rejects.toThrow(/client closed/);
  });

  it('an AbortSignal cancels one request', async () => {
    const silent = await serve(() => undefined);
    const c = client({ urls: [silent.url] });
    const controller = new AbortController();
    const pending = c.getApp('/x', { signal: controller.signal }).then(() => undefined, (e: Error) => e);
    await waitFor(() => silent.requests.length === 1);
    controller.abort(new Error('cancelled by test'));
    expect((await pending)?.message).toBe('cancelled by test');
  });

  it('requests with a signal leave nothing behind on the long-lived signals', async () => {
    const marathon = await serve((_req, res) => json(res, 200, { app: { id: '/x', instances: 1 } }));
    const c = client({ urls: [marathon.url] });
    const lifetime = new AbortController(); // like a feed's: one signal for every request of the process
    for (let i = 0; i < 200; i++) await c.getApp('/x', { signal: lifetime.signal });
    // What AbortSignal.any leaves on its inputs (Node 20 never removes these entries while the input lives).
    const dependants = (signal: AbortSignal): number => {
      const key = Object.getOwnPropertySymbols(signal).find((sym) => sym.description === 'kDependantSignals');
      return key === undefined ? 0 : ((signal as unknown as Record<symbol, Set<unknown> | undefined>)[key]?.size ?? 0);
    };
    expect(dependants(lifetime.signal)).toBeLessThan(10);
    expect(dependants(c.closeSignal)).toBeLessThan(10);
    expect(getEventListeners(lifetime.signal, 'abort')).toHaveLength(0);
    expect(getEventListeners(c.closeSignal, 'abort')).toHaveLength(0);
  });
});

describe('MarathonClient TLS', () => {
  let dir: string;
  let cert: string;
  let key: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'baton-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    key = readFileSync(join(dir, 'key.pem'), 'utf8');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trusts a self-signed certificate given as ca, and refuses it otherwise', async () => {
    const server = createHttpsServer({ cert, key }, (req, res) => json(res, 200, { apps: [app] }));
    const url = `https://${await listen(server as unknown as Server)}`;
    expect(await client({ urls: [url], ca: cert }).getApps()).toEqual([app]);
    const refused = await client({ urls: [url] }).getApps().catch((e) => e);
    expect(refused).toBeInstanceOf(MarathonUnavailableError);
    expect(refused.message).toMatch(/self.signed|certificate/i);
    expect(await client({ urls: [url], rejectUnauthorized: false }).getApps()).toEqual([app]);
  });
});

async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('waitFor timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
