// Access logs of the real baton-lb bin: syslog lines (HAProxy's httplog/tcplog as RFC 3164 messages,
// or marathon-lb's --log-format) received on a Unix datagram socket this test creates, and pino JSON
// lines on stdout with HAProxy's field names.
import { connect } from 'node:net';
import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, http, startBin, startWebBackends, type Bin } from './fault-helpers.js';
import { freePort } from './hardening-helpers.js';

interface DgramSocket {
  bind(path: string): void;
  on(event: 'data', listener: (data: Buffer) => void): void;
  close(): void;
}
const { DgramSocket } = createRequire(join(import.meta.dirname, '../../packages/lb/package.json'))('node-unix-socket') as { DgramSocket: new () => DgramSocket };

let dir: string;
let sim: MarathonSimulator;
const bins: Bin[] = [];
const sockets: DgramSocket[] = [];

async function startLb(args: string[]) {
  // Every bin binds the same service port: the previous one goes first.
  for (const old of bins.splice(0)) {
    old.kill();
    await old.exited;
  }
  const bin = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', ...args,
  ]);
  bins.push(bin);
  const [, httpPort, adminPort] = await bin.line(/listening on 127\.0\.0\.1: http=(\d+) https=\d+ app-id=\d+ admin=(\d+)/);
  const admin = `http://127.0.0.1:${adminPort}`;
  // Routes in place: /web's vhost and /tcp's service port.
  let tcpPort = 0;
  await waitFor(async () => {
    const status = await getJson<{ listeners: { backend?: string; boundPort?: number; mode: string }[] }>(`${admin}/_baton/status`);
    tcpPort = status.body.listeners.find((l) => l.mode === 'tcp')?.boundPort ?? 0;
    const r = await http(`http://127.0.0.1:${httpPort}/`, { headers: { host: 'web.test' } });
    return r.status === 200 && tcpPort > 0;
  }, 20_000, 50);
  return { bin, url: `http://127.0.0.1:${httpPort}`, tcpPort };
}

/** A Unix datagram socket in the test's dir, collecting what it receives. */
function syslogReceiver(name: string): { path: string; lines: string[] } {
  const path = join(dir, name);
  const socket = new DgramSocket();
  socket.bind(path);
  const lines: string[] = [];
  socket.on('data', (data) => lines.push(data.toString('utf8')));
  sockets.push(socket);
  return { path, lines };
}

/** One TCP connection through the service port: an HTTP/1.0 request as bytes, read until the server closes. */
function tcpRoundTrip(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.once('end', () => {
      socket.end();
      resolve(data);
    });
    socket.once('error', reject);
    socket.write('GET /over-tcp HTTP/1.0\r\n\r\n');
  });
}

beforeAll(async () => {
  ensureBuilt('lb');
  ({ dir, sim } = await startWebBackends('access-logs', 1));
  // A TCP app: the same backend script, reached through its service port as a byte stream.
  await sim.createApp({
    id: '/tcp',
    cmd: `${process.execPath} ${join(dir, 'backend.cjs')}`,
    instances: 1,
    // A free service port: a fixed one may be bound by another process on this machine.
    portDefinitions: [{ port: await freePort() }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_MODE: 'tcp' },
  });
  await sim.waitForRunning('/tcp', 1);
}, 60_000);

afterAll(async () => {
  for (const bin of bins) bin.kill();
  await Promise.all(bins.map((b) => b.exited));
  for (const s of sockets) s.close();
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const DATE = String.raw`\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}`;

describe('access logs (the real bin)', () => {
  it('--syslog-socket PATH: one RFC 3164 line per HTTP request and TCP connection, as HAProxy sends them', async () => {
    const syslog = syslogReceiver('syslog.sock');
    const lb = await startLb(['--syslog-socket', syslog.path]);
    const before = syslog.lines.length;
    expect((await http(`${lb.url}/hello?x=1`, { headers: { host: 'web.test' } })).status).toBe(200);
    expect((await http(`${lb.url}/nowhere`, { headers: { host: 'unknown.test' } })).status).toBe(503);
    const pid = lb.bin.child.pid!;
    const httpOk = new RegExp(
      String.raw`^<134>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d baton-lb\[${pid}\]: 127\.0\.0\.1:\d+ \[${DATE}\] marathon_http_in web_\d+/127_0_0_1_\d+ 0/0/0/\d+/\d+ 200 \d+ - - ---- 0/0/0/0/0 0/0 "GET /hello\?x=1 HTTP/1\.1"$`,
    );
    const noRoute = new RegExp(String.raw`\] marathon_http_in marathon_http_in/<NOSRV> 0/-1/-1/-1/\d+ 503 0 - - SC-- 0/0/0/0/0 0/0 "GET /nowhere HTTP/1\.1"$`);
    await waitFor(() => syslog.lines.slice(before).some((l) => httpOk.test(l)) && syslog.lines.some((l) => noRoute.test(l)), 5_000, 20);

    expect(await tcpRoundTrip(lb.tcpPort)).toMatch(/^HTTP\/1\.1 200/);
    const tcpLine = new RegExp(String.raw`^<134>.* baton-lb\[${pid}\]: 127\.0\.0\.1:\d+ \[${DATE}\] tcp_\d+ tcp_\d+/127_0_0_1_\d+ 0/\d+/\d+ \d+ -- 0/0/0/0/0 0/0$`);
    await waitFor(() => syslog.lines.some((l) => tcpLine.test(l)), 5_000, 20);
  }, 40_000);

  it("--log-format: marathon-lb's Python logging format applied to each syslog line", async () => {
    const syslog = syslogReceiver('syslog-format.sock');
    const lb = await startLb(['--syslog-socket', syslog.path, '--log-format', '%(asctime)-15s %(name)s: %(message)s']);
    expect((await http(`${lb.url}/formatted`, { headers: { host: 'web.test' } })).status).toBe(200);
    const line = /^<134>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} baton_lb\.access: 127\.0\.0\.1:\d+ \[.*\] marathon_http_in web_\d+\/\S+ .* 200 .* "GET \/formatted HTTP\/1\.1"$/;
    await waitFor(() => syslog.lines.some((l) => line.test(l)), 5_000, 20);
  }, 30_000);

  it('--access-log json: pino JSON lines on stdout with the httplog and tcplog fields', async () => {
    const lb = await startLb(['--access-log', 'json']);
    expect((await http(`${lb.url}/json-me`, { headers: { host: 'web.test' } })).status).toBe(200);
    await tcpRoundTrip(lb.tcpPort);
    const records = (): Record<string, unknown>[] =>
      lb.bin
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    await waitFor(() => records().some((r) => r.http_request === 'GET /json-me HTTP/1.1') && records().some((r) => r.msg === 'tcp'), 5_000, 20);
    const request = records().find((r) => r.http_request === 'GET /json-me HTTP/1.1')!;
    expect(request).toMatchObject({ level: 30, msg: 'http', component: 'access', client_ip: '127.0.0.1', frontend_name: 'marathon_http_in', status_code: 200, termination_state: '----', TR: 0, Tw: 0, Tc: 0 });
    expect(request.backend_name).toMatch(/^web_\d+$/);
    expect(request.server_name).toMatch(/^127_0_0_1_\d+$/);
    expect(request.accept_date).toMatch(new RegExp(`^${DATE}$`));
    for (const key of ['client_port', 'Tr', 'Ta', 'bytes_read']) expect(typeof request[key]).toBe('number');
    expect(request.bytes_read as number).toBeGreaterThan(0);
    const tcp = records().find((r) => r.msg === 'tcp')!;
    expect(tcp).toMatchObject({ client_ip: '127.0.0.1', termination_state: '--', Tw: 0 });
    expect(tcp.backend_name).toMatch(/^tcp_\d+$/);
    for (const key of ['Tc', 'Tt', 'bytes_read']) expect(typeof tcp[key]).toBe('number');
  }, 30_000);

  it('--access-log off: no line', async () => {
    const lb = await startLb(['--access-log', 'off']);
    expect((await http(`${lb.url}/quiet`, { headers: { host: 'web.test' } })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(lb.bin.stdout()).not.toContain('/quiet');
  }, 30_000);
});
