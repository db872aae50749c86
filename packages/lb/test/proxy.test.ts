// The HTTP data plane over real sockets: routing rules, per-backend options, errors, limits, upgrades
// and table swaps that keep connections and in-flight requests alive. Tables are built by hand here.

import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, Client, request } from 'undici';
import { WebSocket, WebSocketServer } from 'ws';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { startLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from '../src/server.js';
import type { RouteTable } from '../src/route-table.js';
import { freePort, makeBackend, makeServer, makeTable, rawRequest, startEcho, waitFor, type Echo } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const agent = new Agent({ keepAliveTimeout: 1_000 });
afterAll(() => agent.close());

async function lbWith(table: RouteTable, opts: Partial<LoadBalancerOptions> = {}): Promise<LoadBalancer> {
  const lb = await startLoadBalancer({
    bindAddress: '127.0.0.1',
    httpPort: 0,
    httpsPort: 0,
    appIdPort: 0,
    adminPort: null,
    initialTable: table,
    ...opts,
  });
  cleanups.push(() => lb.close(1_000));
  return lb;
}

async function echoes(...names: string[]): Promise<Echo[]> {
  const list = await Promise.all(names.map((n) => startEcho(n)));
  for (const e of list) cleanups.push(() => e.close());
  return list;
}

async function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  const res = await request(`http://127.0.0.1:${port}${path}`, { method, headers, body, dispatcher: agent });
  const text = await res.body.text();
  let json: { name: string; url: string; headers: Record<string, string>; rawHeaders: string[]; body: string } | undefined;
  if (String(res.headers['content-type']).startsWith('application/json')) json = JSON.parse(text);
  return { status: res.statusCode, headers: res.headers, text, json };
}

describe('routing on :80', () => {
  it('routes by vhost, with or without :port in Host, and answers 503 for unknown hosts', async () => {
    const [a, b] = await echoes('a', 'b');
    const lb = await lbWith(
      makeTable([
        makeBackend('app_a_10001', [makeServer('a1', a.port)], { vhosts: ['a.example.com'] }),
        makeBackend('app_b_10002', [makeServer('b1', b.port)], { vhosts: ['b.example.com', 'www.b.example.com'] }),
      ]),
    );
    const port = lb.addresses.http!;
    expect((await get(port, '/', { host: 'a.example.com' })).json!.name).toBe('a');
    expect((await get(port, '/', { host: 'B.Example.com:8080' })).json!.name).toBe('b');
    expect((await get(port, '/', { host: 'www.b.example.com' })).json!.name).toBe('b');
    const unknown = await get(port, '/', { host: 'c.example.com' });
    expect(unknown.status).toBe(503);
    expect(a.requests + b.requests).toBe(3);
  });

  it('matches *.suffix wildcards after exact hosts', async () => {
    const [exact, wild] = await echoes('exact', 'wild');
    const lb = await lbWith(
      makeTable([
        makeBackend('wild_1', [makeServer('w', wild.port)], { vhosts: ['*.apps.example.com'] }),
        makeBackend('exact_1', [makeServer('e', exact.port)], { vhosts: ['api.apps.example.com'] }),
      ]),
    );
    const port = lb.addresses.http!;
    expect((await get(port, '/', { host: 'api.apps.example.com' })).json!.name).toBe('exact');
    expect((await get(port, '/', { host: 'shop.apps.example.com' })).json!.name).toBe('wild');
    expect((await get(port, '/', { host: 'x.y.apps.example.com' })).json!.name).toBe('wild');
    expect((await get(port, '/', { host: 'apps.example.com' })).status).toBe(503);
  });

  it('takes the first rule whose path prefix matches, in table order; -i paths ignore case', async () => {
    const [api, root, docs] = await echoes('api', 'root', 'docs');
    const lb = await lbWith(
      makeTable([
        makeBackend('api_1', [makeServer('api', api.port)], { vhosts: ['site.com'], paths: ['/api', '/v2'], weight: 1 }),
        makeBackend('docs_1', [makeServer('docs', docs.port)], { vhosts: ['site.com'], paths: ['/docs'], caseInsensitivePath: true, weight: 1 }),
        makeBackend('root_1', [makeServer('root', root.port)], { vhosts: ['site.com'] }),
      ]),
    );
    const port = lb.addresses.http!;
    expect((await get(port, '/api/users?x=1', { host: 'site.com' })).json!.name).toBe('api');
    expect((await get(port, '/v2', { host: 'site.com' })).json!.name).toBe('api');
    expect((await get(port, '/DOCS/intro', { host: 'site.com' })).json!.name).toBe('docs');
    expect((await get(port, '/API/users', { host: 'site.com' })).json!.name).toBe('root');
    expect((await get(port, '/', { host: 'site.com' })).json!.name).toBe('root');
  });

  it('--overwrite-forwarded-proto: the client’s X-Forwarded-Proto is replaced by http (https on TLS)', async () => {
    const [a] = await echoes('a');
    const lb = await lbWith(makeTable([makeBackend('a_1', [makeServer('a', a.port)], { vhosts: ['a.com'] })]), { overwriteForwardedProto: true });
    const res = await get(lb.addresses.http!, '/x', { host: 'a.com', 'x-forwarded-proto': 'https' });
    expect(res.json!.headers['x-forwarded-proto']).toBe('http');
  });

  it('sends X-Forwarded-For/-Port/-Proto and no hop-by-hop headers upstream', async () => {
    const [a] = await echoes('a');
    const lb = await lbWith(makeTable([makeBackend('a_1', [makeServer('a', a.port)], { vhosts: ['a.com'] })]));
    const port = lb.addresses.http!;
    const res = await get(port, '/x', { host: 'a.com', 'x-forwarded-for': '10.1.1.1', 'x-forwarded-proto': 'https', 'proxy-connection': 'keep-alive', te: 'trailers', 'x-custom': 'kept' });
    const h = res.json!.headers;
    expect(h['x-forwarded-for']).toBe('10.1.1.1, 127.0.0.1');
    expect(h['x-forwarded-port']).toBe(String(port));
    // As marathon-lb on plain HTTP: the client's X-Forwarded-Proto passes through, none is added.
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-custom']).toBe('kept');
    expect(h['proxy-connection']).toBeUndefined();
    expect(h.te).toBeUndefined();
    expect(h.host).toBe('a.com');
    expect(res.headers['x-served-by']).toBe('a');
  });

  it('streams request bodies (fixed length and chunked) and large responses', async () => {
    const [a] = await echoes('a');
    const lb = await lbWith(makeTable([makeBackend('a_1', [makeServer('a', a.port)], { vhosts: ['a.com'] })]));
    const port = lb.addresses.http!;
    const fixed = await get(port, '/post', { host: 'a.com', 'content-type': 'text/plain' }, 'POST', 'hello body');
    expect(fixed.json!.body).toBe('hello body');
    const chunked = await request(`http://127.0.0.1:${port}/post`, {
      method: 'POST',
      headers: { host: 'a.com' },
      body: Readable.from(['part1-', 'part2']),
      dispatcher: agent,
    });
    expect(JSON.parse(await chunked.body.text()).body).toBe('part1-part2');
    const big = await get(port, '/size?bytes=5000000', { host: 'a.com' });
    expect(big.text.length).toBe(5_000_000);
  });
});

describe('per-backend options', () => {
  it('redirects to https on :80 (301) and adds HSTS to responses', async () => {
    const [a, h] = await echoes('a', 'h');
    const lb = await lbWith(
      makeTable([
        makeBackend('secure_1', [makeServer('a', a.port)], { vhosts: ['secure.com'], redirectToHttps: true }),
        makeBackend('hsts_1', [makeServer('h', h.port)], { vhosts: ['hsts.com'], useHsts: true }),
      ]),
      { httpsPort: 0 },
    );
    const redirect = await get(lb.addresses.http!, '/path?q=1', { host: 'secure.com:80' });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://secure.com:${lb.addresses.https}/path?q=1`);
    expect(a.requests).toBe(0);
    const hsts = await get(lb.addresses.http!, '/', { host: 'hsts.com' });
    expect(hsts.status).toBe(200);
    expect(hsts.headers['strict-transport-security']).toBe('max-age=15768000');
  });

  it('asks for basic auth on vhost routes (401 + realm) and lets the right credentials through', async () => {
    const [a] = await echoes('a');
    const hash = execFileSync('openssl', ['passwd', '-1', 's3cret']).toString().trim();
    const backend = makeBackend('auth_1', [makeServer('a', a.port)], { vhosts: ['auth.com'], auth: { realm: 'private', user: 'alice', passwordHash: hash } });
    const lb = await lbWith(makeTable([backend], { servicePorts: { [await freePort()]: 'auth_1' } }));
    const port = lb.addresses.http!;
    const none = await get(port, '/', { host: 'auth.com' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="private"');
    const wrong = await get(port, '/', { host: 'auth.com', authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` });
    expect(wrong.status).toBe(401);
    const right = await get(port, '/', { host: 'auth.com', authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` });
    expect(right.status).toBe(200);
    expect(a.requests).toBe(1);
    // As marathon-lb: the service port itself is not guarded.
    const servicePort = [...lb.table().servicePorts.keys()][0];
    expect((await get(lb.servicePort(servicePort)!, '/')).status).toBe(200);
  });

  it('proxypass strips the prefix and sets Host; revproxy rewrites Location; redir sends / elsewhere', async () => {
    const [a] = await echoes('a');
    const lb = await lbWith(
      makeTable([
        makeBackend('pp_1', [makeServer('a', a.port)], {
          vhosts: ['pp.com'],
          paths: ['/svc'],
          proxyPassPath: '/svc',
          revProxyPath: '/svc',
          redirectRootTo: '/svc/home',
        }),
        makeBackend('redir_1', [makeServer('a2', a.port)], { vhosts: ['redir.com'], redirectRootTo: '/home' }),
      ]),
    );
    const port = lb.addresses.http!;
    const res = await get(port, '/svc/users?id=3', { host: 'PP.com:80' });
    expect(res.json!.url).toBe('/users?id=3');
    expect(res.json!.headers.host).toBe('pp.com');
    const loc = await get(port, '/svc/location?to=/login', { host: 'pp.com' });
    expect(loc.headers.location).toBe('/svc/login');
    const abs = await get(port, `/svc/location?to=${encodeURIComponent('http://pp.com:8080/next')}`, { host: 'pp.com' });
    expect(abs.headers.location).toBe('http://pp.com:8080/svc/next');
    const other = await get(port, `/svc/location?to=${encodeURIComponent('http://elsewhere.com/next')}`, { host: 'pp.com' });
    expect(other.headers.location).toBe('http://elsewhere.com/next');
    const redir = await get(port, '/', { host: 'redir.com' });
    expect(redir.status).toBe(301);
    expect(redir.headers.location).toBe('/home');
    expect((await get(port, '/other', { host: 'redir.com' })).status).toBe(200);
  });

  it('applies the network ACL: 403 outside the allowed networks', async () => {
    const [a] = await echoes('a');
    const lb = await lbWith(
      makeTable([
        makeBackend('open_1', [makeServer('a', a.port)], { vhosts: ['in.com'], allowedNetworks: ['10.0.0.0/8', '127.0.0.0/8'] }),
        makeBackend('closed_1', [makeServer('b', a.port)], { vhosts: ['out.com'], allowedNetworks: ['10.0.0.0/8'] }),
      ]),
    );
    expect((await get(lb.addresses.http!, '/', { host: 'in.com' })).status).toBe(200);
    expect((await get(lb.addresses.http!, '/', { host: 'out.com' })).status).toBe(403);
    expect(a.requests).toBe(1);
  });

  it('routes :9091 by X-Marathon-App-Id (case-insensitive), 503 without it', async () => {
    const [a, b] = await echoes('a', 'b');
    const lb = await lbWith(
      makeTable([
        makeBackend('prod_a_1', [makeServer('a', a.port)], { appId: '/prod/a' }),
        makeBackend('prod_b_1', [makeServer('b', b.port)], { appId: '/prod/b' }),
      ]),
    );
    const port = lb.addresses.appId!;
    expect((await get(port, '/', { 'x-marathon-app-id': '/prod/a' })).json!.name).toBe('a');
    expect((await get(port, '/', { 'x-marathon-app-id': '/PROD/B' })).json!.name).toBe('b');
    expect((await get(port, '/')).status).toBe(503);
    expect((await get(port, '/', { 'x-marathon-app-id': '/prod/c' })).status).toBe(503);
  });

  it('sticky: sets mesosphere_server_id and keeps sending the client to that server', async () => {
    const [a, b] = await echoes('a', 'b');
    const lb = await lbWith(
      makeTable([makeBackend('sticky_1', [makeServer('a', a.port, { cookie: 'aaaaaaaaaa' }), makeServer('b', b.port, { cookie: 'bbbbbbbbbb' })], { vhosts: ['s.com'], sticky: true })]),
    );
    const port = lb.addresses.http!;
    const first = await get(port, '/', { host: 's.com' });
    const setCookie = String(first.headers['set-cookie']);
    const cookie = /mesosphere_server_id=(\w+)/.exec(setCookie)![1];
    const served = first.json!.name;
    expect(cookie).toBe(served === 'a' ? 'aaaaaaaaaa' : 'bbbbbbbbbb');
    for (let i = 0; i < 4; i++) {
      const again = await get(port, '/', { host: 's.com', cookie: `other=1; mesosphere_server_id=${cookie}` });
      expect(again.json!.name).toBe(served);
      expect(again.headers['set-cookie']).toBeUndefined();
    }
  });
});

describe('balancing', () => {
  it('roundrobin alternates; source keeps one client on one server', async () => {
    const [a, b] = await echoes('a', 'b');
    const servers = [makeServer('a', a.port), makeServer('b', b.port)];
    const lb = await lbWith(
      makeTable([
        makeBackend('rr_1', servers, { vhosts: ['rr.com'] }),
        makeBackend('src_1', servers, { vhosts: ['src.com'], balance: 'source' }),
      ]),
    );
    const port = lb.addresses.http!;
    const rr: string[] = [];
    for (let i = 0; i < 4; i++) rr.push((await get(port, '/', { host: 'rr.com' })).json!.name);
    expect(new Set(rr)).toEqual(new Set(['a', 'b']));
    expect(rr[0]).not.toBe(rr[1]);
    const src = new Set<string>();
    for (let i = 0; i < 4; i++) src.add((await get(port, '/', { host: 'src.com' })).json!.name);
    expect(src.size).toBe(1);
  });

  it('leastconn sends new requests to the server with fewer open requests; draining servers get none', async () => {
    const [a, b, c] = await echoes('a', 'b', 'c');
    const lb = await lbWith(
      makeTable([
        makeBackend('lc_1', [makeServer('a', a.port), makeServer('b', b.port), makeServer('c', c.port, { draining: true })], { vhosts: ['lc.com'], balance: 'leastconn' }),
      ]),
    );
    const port = lb.addresses.http!;
    const slow = get(port, '/slow?ms=1500', { host: 'lc.com' });
    await waitFor(() => a.requests + b.requests === 1);
    const busy = a.requests === 1 ? 'a' : 'b';
    for (let i = 0; i < 3; i++) expect((await get(port, '/', { host: 'lc.com' })).json!.name).not.toBe(busy);
    expect((await slow).json!.name).toBe(busy);
    expect(c.requests).toBe(0);
  });
});

describe('errors and passive health', () => {
  it('503 when the route has no server, 502 when the only server refuses, 504 when it does not answer', async () => {
    const [a] = await echoes('a');
    const dead = await freePort();
    const lb = await lbWith(
      makeTable([
        makeBackend('empty_1', [], { vhosts: ['empty.com'] }),
        makeBackend('dead_1', [makeServer('dead', dead)], { vhosts: ['dead.com'] }),
        makeBackend('hang_1', [makeServer('a', a.port)], { vhosts: ['hang.com'] }),
      ]),
      { timeouts: { serverMs: 500 } },
    );
    const port = lb.addresses.http!;
    expect((await get(port, '/', { host: 'empty.com' })).status).toBe(503);
    expect((await get(port, '/', { host: 'dead.com' })).status).toBe(502);
    expect((await get(port, '/hang', { host: 'hang.com' })).status).toBe(504);
  });

  it('takes a refusing server out and sends every request to the others; retries it later', async () => {
    const [a] = await echoes('a');
    const deadPort = await freePort();
    const lb = await lbWith(
      makeTable([makeBackend('pair_1', [makeServer('dead', deadPort), makeServer('a', a.port)], { vhosts: ['pair.com'] })]),
      { passiveHealth: { initialBackoffMs: 300, maxBackoffMs: 300 } },
    );
    const port = lb.addresses.http!;
    for (let i = 0; i < 6; i++) {
      const res = await get(port, '/', { host: 'pair.com' });
      expect(res.status).toBe(200);
      expect(res.json!.name).toBe('a');
    }
    expect(lb.balancer.health.state('dead')).toBe('down');
    // The server comes back: after its retry delay it serves again.
    const revived = createServer((_req, res) => res.end('revived'));
    await new Promise<void>((resolve) => revived.listen(deadPort, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { revived.closeAllConnections(); revived.close(resolve); }));
    await waitFor(async () => (await get(port, '/', { host: 'pair.com' })).text === 'revived', 10_000, 100);
    expect(lb.balancer.health.state('dead')).toBe('up');
  });

  it('a new server that does not listen yet is re-probed quickly: it serves soon after it listens, and no request fails', async () => {
    const [a] = await echoes('a');
    const newPort = await freePort();
    const lb = await lbWith(makeTable([makeBackend('scale_1', [makeServer('a', a.port), makeServer('new', newPort)], { vhosts: ['scale.com'] })]));
    const port = lb.addresses.http!;
    const statuses = new Set<number>();
    let served = 0;
    // Until the new server has refused a request (and is marked down).
    while (lb.balancer.health.state('new') !== 'down') statuses.add((await get(port, '/', { host: 'scale.com' })).status);
    const refusedAt = Date.now();
    let listening = false;
    // Requests every 10 ms for 600 ms; the new task starts listening 100 ms in. With the old 1 s
    // retry after a refusal it would get nothing in this window.
    while (Date.now() - refusedAt < 600) {
      if (!listening && Date.now() - refusedAt >= 100) {
        listening = true;
        const server = createServer((_req, res) => {
          served++;
          res.end('new');
        });
        await new Promise<void>((resolve) => server.listen(newPort, '127.0.0.1', resolve));
        cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
      }
      statuses.add((await get(port, '/', { host: 'scale.com' })).status);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect([...statuses]).toEqual([200]);
    expect(served).toBeGreaterThan(0);
  });

  it('sends an idempotent request that two servers reset in turn (a scale-down) to the third', async () => {
    const [a] = await echoes('a');
    const { createServer: createTcpServer } = await import('node:net');
    const resets = new Map<string, number>();
    const ports: number[] = [];
    for (const name of ['r1', 'r2']) {
      // Accepts, then closes each connection as a request arrives: a server that is stopping.
      const server = createTcpServer((socket) => socket.once('data', () => { resets.set(name, (resets.get(name) ?? 0) + 1); socket.resetAndDestroy(); }));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      ports.push((server.address() as AddressInfo).port);
    }
    const lb = await lbWith(
      makeTable([makeBackend('trio_3', [makeServer('r1', ports[0]), makeServer('r2', ports[1]), makeServer('a', a.port)], { vhosts: ['trio.com'] })]),
    );
    for (let i = 0; i < 6; i++) {
      const res = await get(lb.addresses.http!, `/${i}`, { host: 'trio.com' });
      expect(res.status).toBe(200);
      expect(res.json!.name).toBe('a');
    }
    expect(resets.get('r1')).toBeGreaterThanOrEqual(1);
    expect(resets.get('r2')).toBeGreaterThanOrEqual(1);
  });

  it('sends an idempotent request that a server reset on another server; a POST with a body is not resent', async () => {
    const [a] = await echoes('a');
    // A server that accepts connections and resets each one as soon as a request arrives, as a server
    // killed with pooled connections open does.
    const { createServer: createTcpServer } = await import('node:net');
    let resets = 0;
    const resetter = createTcpServer((socket) => socket.once('data', () => { resets++; socket.resetAndDestroy(); }));
    await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => resetter.close(resolve)));
    const resetPort = (resetter.address() as AddressInfo).port;
    const lb = await lbWith(
      makeTable([makeBackend('pair_2', [makeServer('reset', resetPort), makeServer('a', a.port)], { vhosts: ['pair.com'], balance: 'leastconn' })]),
    );
    const port = lb.addresses.http!;
    for (let i = 0; i < 4; i++) {
      const res = await get(port, '/', { host: 'pair.com' });
      expect(res.status).toBe(200);
      expect(res.json!.name).toBe('a');
    }
    expect(resets).toBeGreaterThanOrEqual(1);
    // A POST's body may have reached the server: it is answered 502, never sent twice.
    const before = a.requests;
    const statuses = new Set<number>();
    for (let i = 0; i < 4; i++) statuses.add((await get(port, '/', { host: 'pair.com' }, 'POST', 'payload')).status);
    expect(statuses.has(502)).toBe(true);
    expect(a.requests - before).toBeLessThanOrEqual(4);
  });

  it('rejects oversized heads (431), too many headers (400) and smuggling attempts (400), forwarding none', async () => {
    const [a] = await echoes('a');
    const lb = await lbWith(makeTable([makeBackend('a_1', [makeServer('a', a.port)], { vhosts: ['a.com'] })]), { maxHeaders: 20 });
    const port = lb.addresses.http!;
    const big = await rawRequest(port, `GET / HTTP/1.1\r\nHost: a.com\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`);
    expect(big).toMatch(/^HTTP\/1\.1 431/);
    let many = 'GET / HTTP/1.1\r\nHost: a.com\r\n';
    for (let i = 0; i < 30; i++) many += `X-H${i}: v\r\n`;
    expect(await rawRequest(port, `${many}Connection: close\r\n\r\n`)).toMatch(/^HTTP\/1\.1 400/);
    const clte = await rawRequest(port, 'POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.com\r\n\r\n');
    expect(clte).toMatch(/^HTTP\/1\.1 400/);
    const dupCl = await rawRequest(port, 'POST / HTTP/1.1\r\nHost: a.com\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc');
    expect(dupCl).toMatch(/^HTTP\/1\.1 400/);
    expect(a.requests).toBe(0);
  });
});

describe('table swaps', () => {
  it('a new table routes at once on the same keep-alive connection, and a removed server finishes its in-flight request', async () => {
    const [a, b] = await echoes('a', 'b');
    const v1 = makeTable([makeBackend('web_1', [makeServer('a', a.port)], { vhosts: ['web.com'] })], { version: 1 });
    const v2 = makeTable([makeBackend('web_1', [makeServer('b', b.port)], { vhosts: ['web.com'] })], { version: 2 });
    const lb = await lbWith(v1);
    const client = new Client(`http://127.0.0.1:${lb.addresses.http}`, { pipelining: 1, connections: 1 } as object);
    cleanups.push(() => client.close());
    let connects = 0;
    client.on('connect', () => connects++);
    const first = await client.request({ path: '/', method: 'GET', headers: { host: 'web.com' } });
    expect(JSON.parse(await first.body.text()).name).toBe('a');
    // A slow request to `a` is in flight while `a` is removed from the table.
    const other = new Client(`http://127.0.0.1:${lb.addresses.http}`);
    cleanups.push(() => other.close());
    const slow = other.request({ path: '/slow?ms=1500', method: 'GET', headers: { host: 'web.com' } });
    await waitFor(() => a.requests === 2);
    await lb.apply(v2);
    const second = await client.request({ path: '/', method: 'GET', headers: { host: 'web.com' } });
    expect(JSON.parse(await second.body.text()).name).toBe('b');
    expect(connects).toBe(1);
    const slowRes = await slow;
    expect(slowRes.statusCode).toBe(200);
    expect(JSON.parse(await slowRes.body.text()).name).toBe('a');
    expect(lb.table().stateVersion).toBe(2);
  });
});

describe('upgrades', () => {
  it('proxies WebSocket connections on vhost routes and keeps them across table swaps', async () => {
    const http = createServer();
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.headers['x-forwarded-for']} ${req.url}`);
      ws.on('message', (m) => ws.send(`echo ${m}`));
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { wss.close(); http.closeAllConnections(); http.close(resolve); }));
    const port = (http.address() as AddressInfo).port;
    const lb = await lbWith(makeTable([makeBackend('ws_1', [makeServer('w', port)], { vhosts: ['ws.com'] })]));
    const ws = new WebSocket(`ws://127.0.0.1:${lb.addresses.http}/chat`, { headers: { host: 'ws.com' } });
    cleanups.push(() => ws.close());
    const messages: string[] = [];
    ws.on('message', (m) => messages.push(String(m)));
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    await waitFor(() => messages.length === 1);
    expect(messages[0]).toBe('hello 127.0.0.1 /chat');
    await lb.apply(makeTable([], { version: 2 }));
    ws.send('still here');
    await waitFor(() => messages.length === 2);
    expect(messages[1]).toBe('echo still here');
    // New upgrades follow the new (empty) table.
    const refused = new WebSocket(`ws://127.0.0.1:${lb.addresses.http}/chat`, { headers: { host: 'ws.com' } });
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
    expect(status).toBe(503);
  });
});
