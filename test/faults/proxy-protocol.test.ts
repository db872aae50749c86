// PROXY protocol v1/v2 and HAPROXY_{n}_BIND_OPTIONS on the real baton-lb bin: raw clients send the
// header a cloud load balancer would (to :80 with --proxy-protocol, to a service port with
// `accept-proxy`); the backend sees the header's address in X-Forwarded-For and network ACLs use it.
// A connection without a valid header, or whose header trickles past the deadline, is closed while
// others are served. `ssl-min-ver TLSv1.3` on a TLS service port refuses a TLS 1.2 client.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '@baton/marathon-sim';
import { silentLogger } from '@baton/marathon';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, getText, metric, startBin, type Bin } from './fault-helpers.js';
import { freePort, rawExchange, statusOf } from './hardening-helpers.js';

const ECHO = `const http = require('node:http');
http.createServer((req, res) => res.end('xff=' + (req.headers['x-forwarded-for'] || '-'))).listen(Number(process.env.PORT0), '127.0.0.1');
`;

let dir: string;
let certFile: string;
let sim: MarathonSimulator;
let bin: Bin;
let httpPort = 0;
let httpsPort = 0;
let admin = '';
let servicePort = 0;
let tlsPort = 0;
let tcpPort = 0;
let tls12Port = 0;

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
function v2Ipv4(src: number[], sport: number): Buffer {
  const b = Buffer.alloc(28);
  SIG.copy(b);
  b[12] = 0x21; // version 2, PROXY
  b[13] = 0x11; // INET, STREAM
  b.writeUInt16BE(12 + 7, 14); // the addresses and one TLV (skipped)
  b.set(src, 16);
  b.set([127, 0, 0, 1], 20);
  b.writeUInt16BE(sport, 24);
  b.writeUInt16BE(80, 26);
  return Buffer.concat([b, Buffer.from([0x01, 0x00, 0x04]), Buffer.from('http')]);
}
function v2Ipv6(src: string, sport: number): Buffer {
  const b = Buffer.alloc(16 + 36);
  SIG.copy(b);
  b[12] = 0x21;
  b[13] = 0x21; // INET6, STREAM
  b.writeUInt16BE(36, 14);
  Buffer.from(src, 'hex').copy(b, 16);
  b[47] = 1; // destination ::1
  b.writeUInt16BE(sport, 48);
  b.writeUInt16BE(80, 50);
  return b;
}
/** The JSON access-log records the bin printed so far. */
const accessRecords = (): Record<string, unknown>[] =>
  bin
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
const get = (host: string): string => `GET / HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`;
const bodyOf = (raw: string): string => raw.slice(raw.indexOf('\r\n\r\n') + 4);

beforeAll(async () => {
  ensureBuilt('lb');
  dir = mkdtempSync(join(tmpdir(), 'baton-faults-proxy-protocol-'));
  writeFileSync(join(dir, 'echo.cjs'), ECHO);
  certFile = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=tls.test', '-keyout', `${certFile}.key`, '-out', `${certFile}.crt`], { stdio: 'ignore' });
  writeFileSync(certFile, readFileSync(`${certFile}.crt`, 'utf8') + readFileSync(`${certFile}.key`, 'utf8'));
  sim = new MarathonSimulator({ heartbeatMs: 200, exec: true, logger: silentLogger() });
  await sim.start();
  servicePort = await freePort();
  tlsPort = await freePort();
  tcpPort = await freePort();
  tls12Port = await freePort();
  const app = (id: string, port: number, labels: Record<string, string>) =>
    sim.createApp({ id, cmd: `${process.execPath} ${join(dir, 'echo.cjs')}`, instances: 1, portDefinitions: [{ port }], labels: { HAPROXY_GROUP: 'external', ...labels } });
  await app('/web', 0, { HAPROXY_0_VHOST: 'web.test' });
  await app('/acl', 0, { HAPROXY_0_VHOST: 'acl.test', HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '203.0.113.0/24' });
  await app('/svc', servicePort, { HAPROXY_0_MODE: 'http', HAPROXY_0_BIND_OPTIONS: 'accept-proxy' });
  await app('/tcp', tcpPort, { HAPROXY_0_MODE: 'tcp', HAPROXY_0_BIND_OPTIONS: 'accept-proxy', HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '203.0.113.0/24' });
  await app('/tls', tlsPort, { HAPROXY_0_MODE: 'http', HAPROXY_0_BIND_OPTIONS: `ssl crt ${certFile} ssl-min-ver TLSv1.3 frobnicate 3` });
  await app('/tls12', tls12Port, { HAPROXY_0_MODE: 'http', HAPROXY_0_BIND_OPTIONS: `ssl crt ${certFile} ciphers ECDHE-RSA-AES256-GCM-SHA384` });
  for (const id of ['/web', '/acl', '/svc', '/tcp', '/tls', '/tls12']) await sim.waitForRunning(id, 1);

  bin = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0',
    '--app-id-port', '0', '--admin-port', '0', '--proxy-protocol', '--timeout-http-request', '1s',
    '--ssl-certs', certFile, '--access-log', 'json',
  ]);
  const [, http, https, adminPort] = await bin.line(/listening on 127\.0\.0\.1: http=(\d+) https=(\d+) app-id=\d+ admin=(\d+)/);
  httpPort = Number(http);
  httpsPort = Number(https);
  admin = `http://127.0.0.1:${adminPort}`;
  await waitFor(async () => {
    const status = await getJson<{ listeners: { backend?: string }[] }>(`${admin}/_baton/status`);
    const served = statusOf(await rawExchange(httpPort, ['PROXY TCP4 203.0.113.7 127.0.0.1 5000 80\r\n', get('web.test')])) === 200;
    return served && status.body.listeners.filter((l) => l.backend?.startsWith('svc_') || l.backend?.startsWith('tls_') || l.backend?.startsWith('tcp_') || l.backend?.startsWith('tls12_')).length === 4;
  }, 30_000, 100);
}, 60_000);

afterAll(async () => {
  bin?.kill();
  await bin?.exited;
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('PROXY protocol (the real bin)', () => {
  it('--proxy-protocol on :80: the v1 / v2 header\'s address is X-Forwarded-For, whether the request comes with it or after', async () => {
    const v1 = await rawExchange(httpPort, 'PROXY TCP4 203.0.113.7 127.0.0.1 5000 80\r\n' + get('web.test'));
    expect(statusOf(v1)).toBe(200);
    expect(bodyOf(v1)).toBe('xff=203.0.113.7');
    const v1Split = await rawExchange(httpPort, ['PROXY TCP6 2001:db8::9 ::1 5000 80\r\n', get('web.test')], { gapMs: 50 });
    expect(bodyOf(v1Split)).toBe('xff=2001:db8::9');
    const v2 = await rawExchange(httpPort, Buffer.concat([v2Ipv4([198, 51, 100, 20], 6000), Buffer.from(get('web.test'))]));
    expect(bodyOf(v2)).toBe('xff=198.51.100.20');
    const v2v6 = await rawExchange(httpPort, [v2Ipv6('20010db8000000000000000000000005', 6001), get('web.test')], { gapMs: 50 });
    expect(bodyOf(v2v6)).toBe('xff=2001:db8::5');
    const unknown = await rawExchange(httpPort, 'PROXY UNKNOWN\r\n' + get('web.test'));
    expect(bodyOf(unknown)).toBe('xff=127.0.0.1'); // the connection's own address
    // The access log names the header's client too.
    await waitFor(() => accessRecords().some((r) => r.client_ip === '198.51.100.20' && r.client_port === 6000 && r.frontend_name === 'marathon_http_in'), 5_000, 20);
  }, 20_000);

  it('--proxy-protocol on :443: the header, then the TLS handshake on the same connection', async () => {
    const raw = connect(httpsPort, '127.0.0.1');
    await once(raw, 'connect');
    raw.write(v2Ipv4([198, 51, 100, 77], 7000));
    const socket = tlsConnect({ socket: raw, servername: 'web.test', rejectUnauthorized: false });
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    await once(socket, 'secureConnect');
    socket.write(get('web.test'));
    await once(socket, 'close');
    expect(bodyOf(data)).toBe('xff=198.51.100.77');
  }, 20_000);

  it('HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL judges the header\'s address', async () => {
    expect(statusOf(await rawExchange(httpPort, 'PROXY TCP4 203.0.113.50 127.0.0.1 5000 80\r\n' + get('acl.test')))).toBe(200);
    expect(statusOf(await rawExchange(httpPort, 'PROXY TCP4 198.51.100.9 127.0.0.1 5000 80\r\n' + get('acl.test')))).toBe(403);
    expect(statusOf(await rawExchange(httpPort, Buffer.concat([v2Ipv4([198, 51, 100, 9], 1), Buffer.from(get('acl.test'))])))).toBe(403);
  }, 20_000);

  it('HAPROXY_0_BIND_OPTIONS accept-proxy on a service port: v1 and v2 headers used, a client without one refused', async () => {
    const port = Number((await getJson<{ listeners: { backend?: string; boundPort?: number; acceptProxy?: boolean }[] }>(`${admin}/_baton/status`)).body.listeners.find((l) => l.backend?.startsWith('svc_'))?.boundPort);
    expect(port).toBe(servicePort);
    expect(bodyOf(await rawExchange(port, 'PROXY TCP4 192.0.2.44 127.0.0.1 5000 80\r\n' + get('x')))).toBe('xff=192.0.2.44');
    expect(bodyOf(await rawExchange(port, Buffer.concat([v2Ipv4([192, 0, 2, 45], 1), Buffer.from(get('x'))])))).toBe('xff=192.0.2.45');
    expect(await rawExchange(port, get('x'))).toBe('');
  }, 20_000);

  it('accept-proxy on a TCP service port: the network ACL judges the header\'s address', async () => {
    expect(statusOf(await rawExchange(tcpPort, 'PROXY TCP4 203.0.113.8 127.0.0.1 5000 80\r\n' + get('x')))).toBe(200);
    expect(statusOf(await rawExchange(tcpPort, Buffer.concat([v2Ipv4([203, 0, 113, 9], 1), Buffer.from(get('x'))])))).toBe(200);
    expect(await rawExchange(tcpPort, 'PROXY TCP4 198.51.100.8 127.0.0.1 5000 80\r\n' + get('x'))).toBe('');
    expect(await rawExchange(tcpPort, get('x'))).toBe('');
    await waitFor(() => accessRecords().some((r) => r.msg === 'tcp' && r.client_ip === '203.0.113.8'), 5_000, 20);
  }, 20_000);

  it('missing, malformed and trickled headers are closed within the deadline and counted; other clients are served meanwhile', async () => {
    const before = metric(await getText(`${admin}/metrics`), 'baton_lb_proxy_header_refused_total') ?? 0;
    const started = Date.now();
    const header = 'PROXY TCP4 203.0.113.7 127.0.0.1 5000 80\r\n';
    // One byte every 100 ms: 4.3 s for the whole header, against a 1 s deadline.
    const trickle = rawExchange(httpPort, [...header].concat(get('web.test')), { gapMs: 100, untilMs: 8_000 }).then((raw) => ({ raw, ms: Date.now() - started }));
    const silent = rawExchange(httpPort, [], { untilMs: 8_000 }).then((raw) => ({ raw, ms: Date.now() - started }));
    const served = [];
    for (let i = 0; i < 5; i++) served.push(statusOf(await rawExchange(httpPort, header + get('web.test'))));
    expect(served).toEqual([200, 200, 200, 200, 200]);
    expect(await rawExchange(httpPort, get('web.test'))).toBe(''); // no header at all
    expect(await rawExchange(httpPort, 'PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n' + get('web.test'))).toBe('');
    expect(await rawExchange(httpPort, Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])]))).toBe(''); // 64 KiB declared
    expect(await rawExchange(httpPort, `PROXY UNKNOWN ${'x'.repeat(200)}\r\n`)).toBe(''); // over 107 bytes
    const t = await trickle;
    const s = await silent;
    expect(t.raw).toBe('');
    expect(s.raw).toBe('');
    // The 1 s deadline (--timeout-http-request) plus generous scheduling slack, below the trickle's 4.3 s.
    expect(t.ms).toBeLessThan(4_000);
    expect(s.ms).toBeLessThan(4_000);
    await waitFor(async () => (metric(await getText(`${admin}/metrics`), 'baton_lb_proxy_header_refused_total') ?? 0) >= before + 6, 5_000, 50);
  }, 30_000);

  it('ssl crt + ssl-min-ver TLSv1.3 on a service port: TLS 1.3 served, a TLS 1.2 client refused; ciphers applied; unknown options are route problems', async () => {
    const handshake = (maxVersion: 'TLSv1.2' | 'TLSv1.3', port = tlsPort, ciphers?: string) =>
      new Promise<{ protocol?: string | null; body?: string; error?: string }>((resolve) => {
        const socket = tlsConnect({ port, host: '127.0.0.1', servername: 'tls.test', rejectUnauthorized: false, maxVersion, ...(ciphers ? { ciphers } : {}) });
        let data = '';
        let protocol: string | null = null;
        socket.on('secureConnect', () => {
          protocol = socket.getProtocol(); // not after close: Node 20 crashes on a closed TLS socket's getProtocol
          socket.write(get('tls.test'));
        });
        socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
        socket.on('error', (err) => resolve({ error: err.message }));
        socket.on('close', () => resolve({ protocol, body: bodyOf(data) }));
      });
    expect(await handshake('TLSv1.3')).toEqual({ protocol: 'TLSv1.3', body: 'xff=127.0.0.1' });
    const old = await handshake('TLSv1.2');
    expect(old.error).toMatch(/alert|version|socket hang up|ECONNRESET/i);
    // `ciphers`: a TLS 1.2 client offering only a cipher outside the list is refused.
    expect(await handshake('TLSv1.2', tls12Port, 'ECDHE-RSA-AES256-GCM-SHA384')).toEqual({ protocol: 'TLSv1.2', body: 'xff=127.0.0.1' });
    expect((await handshake('TLSv1.2', tls12Port, 'ECDHE-RSA-AES128-GCM-SHA256')).error).toMatch(/alert|handshake|socket hang up|ECONNRESET/i);
    const status = await getJson<{ problems: { appId: string; kind: string; message: string }[] }>(`${admin}/_baton/status`);
    expect(status.body.problems).toContainEqual(expect.objectContaining({ appId: '/tls', kind: 'bind-option', message: expect.stringContaining('frobnicate 3') }));
    expect(metric(await getText(`${admin}/metrics`), 'baton_lb_route_problems', '{kind="bind-option"}')).toBe(1);
  }, 20_000);
});
