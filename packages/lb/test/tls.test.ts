// TLS termination: SNI picks the certificate (--ssl-certs files and apps' _SSL_CERT, unknown → first),
// :443 routes by Host (then SNI), X-Forwarded-Proto is https, and a service port can terminate TLS.

import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import type { LoadBalancer } from '../src/server.js';
import { freePort, makeBackend, makeCertificate, makeServer, makeTable, startEcho, startLocalLb, tempDir, type Echo } from './helpers.js';

let dir: string;
let certs: Record<string, string>;
beforeAll(() => {
  dir = tempDir();
  certs = {
    default: makeCertificate(dir, 'default.test'),
    a: makeCertificate(dir, 'a.test'),
    wild: makeCertificate(dir, 'wild.test', ['*.wild.test']),
    app: makeCertificate(dir, 'app.test'),
    service: makeCertificate(dir, 'service.test'),
  };
});

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function peerCertificate(port: number, servername?: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

function httpsAgent(servername: string): Agent {
  const agent = new Agent({ connect: { rejectUnauthorized: false, servername } });
  cleanups.push(() => agent.close());
  return agent;
}

let echo: Echo;
beforeAll(async () => {
  echo = await startEcho('tls-backend');
});
afterAll(() => echo.close());

async function start(table = makeTable([])): Promise<LoadBalancer> {
  const lb = await startLocalLb({
    sslCerts: [certs.default, certs.a, certs.wild],
    initialTable: table,
  });
  cleanups.push(() => lb.close(1_000));
  return lb;
}

describe('HTTPS on :443', () => {
  it('presents the certificate matching SNI, the default for unknown or missing names', async () => {
    const lb = await start();
    const port = lb.addresses.https!;
    expect((await peerCertificate(port, 'a.test')).subject.CN).toBe('a.test');
    expect((await peerCertificate(port, 'shop.wild.test')).subject.CN).toBe('wild.test');
    expect((await peerCertificate(port, 'unknown.test')).subject.CN).toBe('default.test');
    expect((await peerCertificate(port)).subject.CN).toBe('default.test');
  });

  it("adds apps' _SSL_CERT files when the table names them, without restarting", async () => {
    const lb = await start();
    const port = lb.addresses.https!;
    expect((await peerCertificate(port, 'app.test')).subject.CN).toBe('default.test');
    await lb.apply(makeTable([], { version: 2, certificateFiles: [certs.app] }));
    expect((await peerCertificate(port, 'app.test')).subject.CN).toBe('app.test');
    expect(lb.addresses.https).toBe(port);
  });

  it('routes by Host (falling back to SNI) and forwards X-Forwarded-Proto: https', async () => {
    const lb = await start(makeTable([makeBackend('a_1', [makeServer('e', echo.port)], { vhosts: ['a.test'], useHsts: true })]));
    const port = lb.addresses.https!;
    const byHost = await request(`https://127.0.0.1:${port}/x`, { headers: { host: 'a.test' }, dispatcher: httpsAgent('a.test') });
    expect(byHost.statusCode).toBe(200);
    expect(byHost.headers['strict-transport-security']).toBe('max-age=15768000');
    const body = JSON.parse(await byHost.body.text());
    expect(body.headers['x-forwarded-proto']).toBe('https');
    expect(body.headers['x-forwarded-port']).toBe(String(port));
    const bySni = await request(`https://127.0.0.1:${port}/x`, { headers: { host: '127.0.0.1' }, dispatcher: httpsAgent('a.test') });
    expect(bySni.statusCode).toBe(200);
    await bySni.body.text();
    const none = await request(`https://127.0.0.1:${port}/x`, { headers: { host: 'nope.test' }, dispatcher: httpsAgent('nope.test') });
    expect(none.statusCode).toBe(503);
    await none.body.text();
  });

  it('does not redirect to https when the request already came over TLS', async () => {
    const lb = await start(makeTable([makeBackend('s_1', [makeServer('e', echo.port)], { vhosts: ['a.test'], redirectToHttps: true })]));
    const plain = await request(`http://127.0.0.1:${lb.addresses.http}/`, { headers: { host: 'a.test' } });
    expect(plain.statusCode).toBe(301);
    await plain.body.text();
    const secure = await request(`https://127.0.0.1:${lb.addresses.https}/`, { headers: { host: 'a.test' }, dispatcher: httpsAgent('a.test') });
    expect(secure.statusCode).toBe(200);
    await secure.body.text();
  });
});

describe('TLS on a service port (_SSL_CERT)', () => {
  it('terminates TLS with the app certificate and proxies HTTP', async () => {
    const servicePort = await freePort();
    const lb = await start(
      makeTable([makeBackend('svc_1', [makeServer('e', echo.port)], { servicePort, sslCert: certs.service })], { servicePorts: { [servicePort]: 'svc_1' } }),
    );
    const port = lb.servicePort(servicePort)!;
    expect((await peerCertificate(port, 'anything')).subject.CN).toBe('service.test');
    const res = await request(`https://127.0.0.1:${port}/hello`, { dispatcher: httpsAgent('service.test') });
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(await res.body.text());
    expect(body.url).toBe('/hello');
    expect(body.headers['x-forwarded-proto']).toBe('https');
  });

  it('reports an unreadable _SSL_CERT as a problem of that port only', async () => {
    const [bad, good] = [await freePort(), await freePort()];
    const lb = await start(
      makeTable(
        [
          makeBackend('bad_1', [makeServer('e', echo.port)], { servicePort: bad, sslCert: `${dir}/missing.pem`, appId: '/bad' }),
          makeBackend('good_1', [makeServer('e2', echo.port)], { servicePort: good }),
        ],
        { servicePorts: { [bad]: 'bad_1', [good]: 'good_1' } },
      ),
    );
    expect(lb.servicePort(bad)).toBeUndefined();
    const problem = lb.problems().find((p) => p.appId === '/bad');
    expect(problem?.kind).toBe('bind-failed');
    expect(problem?.message).toContain('missing.pem');
    const res = await request(`http://127.0.0.1:${lb.servicePort(good)}/`);
    expect(res.statusCode).toBe(200);
    await res.body.text();
  });
});
