// HTTP/2 through ALPN on the real baton-lb bin: :443 with --http2, and a TLS service port whose
// HAPROXY_0_BIND_OPTIONS has `alpn h2,http/1.1`. Streams are proxied to HTTP/1.1 backends with the
// routing, auth, redirects and X-Forwarded-* headers of HTTP/1.1; many streams share one connection
// under the concurrent-stream limit; an oversized header list is refused; streams reset mid-response
// or in a flood leave nothing behind.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as h2connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, metric, getText, startBin, type Bin } from './fault-helpers.js';
import { freePort } from './hardening-helpers.js';

let dir: string;
let sim: MarathonSimulator;
let lb: Bin;
let httpsPort = 0;
let svcPort = 0;
let webPort = 0;
let admin = '';

/** Echoes what it got as JSON; `/big?kb=N` streams N KiB. */
const BACKEND = `const http = require('node:http');
const crypto = require('node:crypto');
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/big') {
    let left = Number(url.searchParams.get('kb')) * 1024;
    const chunk = Buffer.alloc(16384, 120);
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    const pump = () => {
      while (left > 0) {
        left -= chunk.length;
        if (!res.write(chunk)) return res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  req.on('data', (c) => { bytes += c.length; hash.update(c); });
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bytes, sha: hash.digest('hex') }));
  });
});
server.listen(Number(process.env.PORT0), '127.0.0.1');
`;

function pemFile(cn: string): string {
  const base = join(dir, cn);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`, '-keyout', `${base}.key`, '-out', `${base}.crt`], { stdio: 'ignore' });
  writeFileSync(`${base}.pem`, readFileSync(`${base}.crt`, 'utf8') + readFileSync(`${base}.key`, 'utf8'));
  return `${base}.pem`;
}

interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function h2session(port: number): ClientHttp2Session {
  const session = h2connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'web.test' });
  session.on('error', () => {});
  return session;
}

function h2request(session: ClientHttp2Session, headers: Record<string, string>, body?: Buffer): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': body ? 'POST' : 'GET', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => (head = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    if (body) stream.end(body);
  });
}

async function backendSessions(): Promise<number> {
  return metric(await getText(`${admin}/metrics`), 'baton_lb_backend_active_sessions', `{backend="web_${webPort}"}`) ?? -1;
}

beforeAll(async () => {
  ensureBuilt('lb');
  dir = mkdtempSync(join(tmpdir(), 'baton-faults-http2-'));
  const script = join(dir, 'backend.cjs');
  writeFileSync(script, BACKEND);
  const cert = pemFile('web.test');
  const authHash = execFileSync('openssl', ['passwd', '-1', 'pw']).toString().trim();
  sim = new MarathonSimulator({ heartbeatMs: 200, exec: true, logger: silentLogger() });
  await sim.start();
  const cmd = `${process.execPath} ${script}`;
  svcPort = await freePort();
  webPort = await freePort();
  await sim.createApp({
    id: '/web', cmd, instances: 1, portDefinitions: [{ port: webPort }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.test', HAPROXY_0_HTTP_BACKEND_REDIR: '/home' },
  });
  await sim.createApp({
    id: '/private', cmd, instances: 1, portDefinitions: [{ port: await freePort() }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'private.test', HAPROXY_0_AUTH: `private:alice:${authHash}` },
  });
  await sim.createApp({
    id: '/svc', cmd, instances: 1, portDefinitions: [{ port: svcPort }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'http', HAPROXY_0_SSL_CERT: cert, HAPROXY_0_BIND_OPTIONS: 'alpn h2,http/1.1' },
  });
  await Promise.all(['/web', '/private', '/svc'].map((id) => sim.waitForRunning(id, 1)));
  lb = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--http2', '--ssl-certs', cert,
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--access-log', 'json',
  ]);
  const [, https, adminPort] = await lb.line(/listening on 127\.0\.0\.1: http=\d+ https=(\d+) app-id=\d+ admin=(\d+)/);
  httpsPort = Number(https);
  admin = `http://127.0.0.1:${adminPort}`;
  await waitFor(async () => {
    const status = await getJson<{ listeners: { backend?: string; boundPort?: number }[] }>(`${admin}/_baton/status`);
    const svc = status.body.listeners.find((l) => l.backend?.startsWith('svc_'));
    if (svc?.boundPort === undefined) return false;
    svcPort = svc.boundPort;
    const session = h2session(httpsPort);
    try {
      return (await h2request(session, { ':path': '/ready', ':authority': 'web.test' })).status === 200;
    } finally {
      session.close();
    }
  }, 30_000, 100);
}, 90_000);

afterAll(async () => {
  lb?.kill();
  await lb?.exited;
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('HTTP/2 through ALPN (the real bin)', () => {
  it('routes by :authority, forwards as HTTP/1.1 with X-Forwarded-* and one Cookie header', async () => {
    const session = h2session(httpsPort);
    try {
      const r = await h2request(session, { ':path': '/echo?x=1', ':authority': 'web.test', cookie: 'c=1', 'x-forwarded-for': '10.9.9.9' });
      expect(r.status).toBe(200);
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      // The access log (JSON on stdout, the default) gives the request line HAProxy logs for HTTP/2.
      await waitFor(() => lb.stdout().includes('"http_request":"GET /echo?x=1 HTTP/2.0"'), 5_000);
      const echo = JSON.parse(r.body.toString()) as { url: string; headers: Record<string, string> };
      expect(echo.url).toBe('/echo?x=1');
      expect(echo.headers.host).toBe('web.test');
      expect(echo.headers['x-forwarded-proto']).toBe('https');
      expect(echo.headers['x-forwarded-port']).toBe(String(httpsPort));
      expect(echo.headers['x-forwarded-for']).toBe('10.9.9.9, 127.0.0.1');
      const split = await new Promise<Record<string, string>>((resolve, reject) => {
        // Two cookie fields (HTTP/2 clients split them) reach the server as one header.
        const stream = session.request({ ':path': '/c', ':authority': 'web.test', cookie: ['a=1', 'b=2'] });
        let data = '';
        stream.on('data', (c: Buffer) => (data += c.toString()));
        stream.on('end', () => resolve((JSON.parse(data) as { headers: Record<string, string> }).headers));
        stream.on('error', reject);
      });
      expect(split.cookie).toBe('a=1; b=2');
      // A Host field beside :authority is ignored (as HAProxy does, against HTTP/2 desync).
      const smuggled = await h2request(session, { ':path': '/h', ':authority': 'web.test', host: 'private.test' });
      expect(smuggled.status).toBe(200);
      expect((JSON.parse(smuggled.body.toString()) as { headers: Record<string, string> }).headers.host).toBe('web.test');
    } finally {
      session.close();
    }
    const unknown = h2connect(`https://127.0.0.1:${httpsPort}`, { rejectUnauthorized: false, servername: 'nowhere.test' });
    unknown.on('error', () => {});
    try {
      expect((await h2request(unknown, { ':path': '/', ':authority': 'nowhere.test' })).status).toBe(503);
    } finally {
      unknown.close();
    }
  }, 20_000);

  it('auth 401 and 200, and the root redirect, as over HTTP/1.1', async () => {
    const session = h2session(httpsPort);
    try {
      const denied = await h2request(session, { ':path': '/', ':authority': 'private.test' });
      expect(denied.status).toBe(401);
      expect(denied.headers['www-authenticate']).toBe('Basic realm="private"');
      const allowed = await h2request(session, { ':path': '/', ':authority': 'private.test', authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}` });
      expect(allowed.status).toBe(200);
      const redirect = await h2request(session, { ':path': '/', ':authority': 'web.test' });
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe('/home');
    } finally {
      session.close();
    }
  }, 20_000);

  it('200 streams over one connection that allows 100 at once all complete', async () => {
    const session = h2session(httpsPort);
    try {
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      expect(session.remoteSettings.maxConcurrentStreams).toBe(100);
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => h2request(session, { ':path': `/many/${i}`, ':authority': 'web.test' })));
      expect(results.filter((r) => r.status === 200)).toHaveLength(200);
      expect(results.map((r) => (JSON.parse(r.body.toString()) as { url: string }).url)).toEqual(Array.from({ length: 200 }, (_, i) => `/many/${i}`));
    } finally {
      session.close();
    }
  }, 30_000);

  it('uploads a request body (without a content-length) through flow control', async () => {
    const session = h2session(httpsPort);
    try {
      const body = Buffer.alloc(3 * 1024 * 1024 + 17, 'ab');
      const r = await h2request(session, { ':path': '/upload', ':authority': 'web.test' }, body);
      expect(r.status).toBe(200);
      const echo = JSON.parse(r.body.toString()) as { method: string; bytes: number; sha: string };
      expect(echo.method).toBe('POST');
      expect(echo.bytes).toBe(body.length);
      expect(echo.sha).toBe(createHash('sha256').update(body).digest('hex'));
    } finally {
      session.close();
    }
  }, 30_000);

  it('streams reset mid-response free their server slot; the connection keeps serving', async () => {
    const session = h2session(httpsPort);
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(
          Array.from({ length: 20 }, () =>
            new Promise<void>((resolve) => {
              const stream = session.request({ ':path': '/big?kb=8192', ':authority': 'web.test' });
              stream.once('data', () => stream.close(constants.NGHTTP2_CANCEL));
              stream.on('error', () => {});
              stream.once('close', () => resolve());
            }),
          ),
        );
      }
      await waitFor(async () => (await backendSessions()) === 0, 10_000, 50);
      expect((await h2request(session, { ':path': '/after', ':authority': 'web.test' })).status).toBe(200);
    } finally {
      session.close();
    }
  }, 30_000);

  it('a client that opens and resets 2,000 streams at once (rapid reset) leaks nothing; new connections are served', async () => {
    const frontendConnections = async (): Promise<number> =>
      metric(await getText(`${admin}/metrics`), 'baton_lb_frontend_active_connections', '{frontend="marathon_https_in"}') ?? -1;
    const session = h2session(httpsPort);
    await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
    const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    for (let i = 0; i < 2_000 && !session.closed && !session.destroyed; i++) {
      try {
        const stream = session.request({ ':path': `/flood/${i}`, ':authority': 'web.test' });
        stream.on('error', () => {});
        stream.close(constants.NGHTTP2_CANCEL);
      } catch {
        break; // the server sent GOAWAY
      }
    }
    session.close();
    await closed;
    await waitFor(async () => (await backendSessions()) === 0 && (await frontendConnections()) === 0, 10_000, 50);
    const fresh = h2session(httpsPort);
    try {
      expect((await h2request(fresh, { ':path': '/after-flood', ':authority': 'web.test' })).status).toBe(200);
    } finally {
      fresh.close();
    }
  }, 30_000);

  it('a header list over the limit is refused; the connection goes on', async () => {
    const session = h2session(httpsPort);
    try {
      await new Promise<void>((resolve) => session.once('remoteSettings', () => resolve()));
      const outcome = await h2request(session, { ':path': '/big-head', ':authority': 'web.test', 'x-big': 'x'.repeat(40_000) }).then(
        (r) => `status ${r.status}`,
        (err: NodeJS.ErrnoException) => `error ${err.code}`,
      );
      // nghttp2 resets the stream (beyond SETTINGS_MAX_HEADER_LIST_SIZE = the HTTP/1.1 head limit).
      expect(['error ERR_HTTP2_STREAM_ERROR', 'status 431']).toContain(outcome);
      expect((await h2request(session.closed || session.destroyed ? h2session(httpsPort) : session, { ':path': '/small', ':authority': 'web.test' })).status).toBe(200);
    } finally {
      session.close();
    }
  }, 20_000);

  it('a TLS service port with `alpn h2,http/1.1` speaks HTTP/2, and HTTP/1.1 clients on the same ports still work', async () => {
    const session = h2session(svcPort);
    try {
      const r = await h2request(session, { ':path': '/svc', ':authority': 'anything' });
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body.toString()) as { url: string }).url).toBe('/svc');
    } finally {
      session.close();
    }
    for (const port of [httpsPort, svcPort]) {
      const alpn = await new Promise<string | false>((resolve, reject) => {
        const socket = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'], servername: 'web.test' }, () => {
          resolve(socket.alpnProtocol ?? false);
          socket.end();
        });
        socket.on('error', reject);
      });
      expect(alpn).toBe('h2');
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpsRequest({ port, host: '127.0.0.1', path: '/h1', headers: { host: 'web.test' }, rejectUnauthorized: false, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(status).toBe(200);
    }
  }, 20_000);

  it('curl --http2, when curl is installed', async () => {
    let out: string;
    try {
      out = execFileSync('curl', ['-sk', '--http2', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', '--resolve', `web.test:${httpsPort}:127.0.0.1`, `https://web.test:${httpsPort}/curl`]).toString();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    expect(out).toBe('2 200');
  }, 20_000);
});
