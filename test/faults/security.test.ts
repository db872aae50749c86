// Security: basic auth on baton-lb's admin port and on baton-dns's HTTP API (/health stays open for
// probes); no secret in /v1/config or any admin page; DNS forwarding only for allowed client
// networks; and the proxy only ever connects to the servers of a route — absolute-form targets,
// CONNECT and Host headers naming other addresses are answered locally, and a "tripwire" listener
// on another loopback port receives nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { parseArgs, run, type RunningLb } from '../../packages/lb/src/cli.js';
import { startBatonDns, type BatonDns } from '../../packages/dns/src/cli.js';
import { parseDnsConfig } from '../../packages/dns/src/config.js';
import { rawExchange, startGuardedApp, statusOf, waitFor, type CountingBackend, type Tripwire } from './hardening-helpers.js';

const VHOST = 'app.test';
const MARATHON_USER = 'marathon';
const MARATHON_SECRET = 'marathon-s3cret-1';
const ADMIN_SECRET = 'admin-s3cret-2';
const DNS_HTTP_SECRET = 'dns-s3cret-3';
const MESOS_SECRET = 'mesos-s3cret-4';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let sim: MarathonSimulator;
let backend: CountingBackend;
let tripwire: Tripwire;
let lb: RunningLb;
let servicePort = 0;

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

beforeAll(async () => {
  ({ sim, backend, tripwire } = await startGuardedApp(VHOST, cleanups, { auth: { username: MARATHON_USER, password: MARATHON_SECRET } }));

  lb = await run(
    parseArgs([
      '--marathon', sim.url, '--auth-credentials', `${MARATHON_USER}:${MARATHON_SECRET}`, '--group', 'external',
      '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0',
      '--admin-auth', `admin:${ADMIN_SECRET}`,
    ]),
    silentLogger(),
  );
  cleanups.push(() => lb.stop(1_000));
  await waitFor(() => lb.lb.table().hostIndex.has(VHOST), 15_000);
  const backendEntry = [...lb.lb.table().backends.values()].find((b) => b.appId === '/web')!;
  await waitFor(() => lb.lb.servicePort(backendEntry.servicePort) !== undefined, 15_000);
  servicePort = lb.lb.servicePort(backendEntry.servicePort)!;
}, 60_000);

describe('baton-lb admin port with --admin-auth', () => {
  const admin = (path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${lb.lb.addresses.admin}${path}`, { headers });

  it.each(['/_baton/status', '/_haproxy_getconfig', '/_haproxy_getvhostmap', '/_haproxy_getappmap', '/haproxy?stats;csv', '/metrics', '/_mlb_signal/usr1', '/_mlb_signal/hup'])(
    '%s: 401 without or with wrong credentials, 200 with them',
    async (path) => {
      const none = await admin(path);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect((await admin(path, { authorization: basic('admin', 'wrong') })).status).toBe(401);
      expect((await admin(path, { authorization: basic('admin', `${ADMIN_SECRET}x`) })).status).toBe(401);
      expect((await admin(path, { authorization: 'Bearer whatever' })).status).toBe(401);
      expect((await admin(path, { authorization: basic('admin', ADMIN_SECRET) })).status).toBe(200);
    },
  );

  it('leaves /_haproxy_health_check open for probes', async () => {
    expect((await admin('/_haproxy_health_check')).status).toBe(200);
  });

  it('never shows the admin password or the Marathon credentials', async () => {
    const auth = { authorization: basic('admin', ADMIN_SECRET) };
    for (const path of ['/_baton/status', '/_haproxy_getconfig', '/haproxy?stats', '/haproxy?stats;csv', '/metrics']) {
      const text = await (await admin(path, auth)).text();
      expect(text.length).toBeGreaterThan(0);
      expect(text, path).not.toContain(ADMIN_SECRET);
      expect(text, path).not.toContain(MARATHON_SECRET);
      expect(text, path).not.toContain(Buffer.from(`${MARATHON_USER}:${MARATHON_SECRET}`).toString('base64'));
    }
  });
});

describe('the proxy only connects to the servers of a route', () => {
  const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

  async function answeredLocally(port: number, request: string, statuses: number[]): Promise<void> {
    const before = backend.requests.length;
    const reply = await rawExchange(port, request);
    expect(statuses, reply).toContain(statusOf(reply));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(backend.requests.slice(before).map((r) => r.url)).toEqual([]);
    expect(tripwire.connections).toBe(0);
  }

  it('answers absolute-form targets naming another host with 400 (metadata address, the tripwire, the backend)', async () => {
    const http = lb.lb.addresses.http!;
    await answeredLocally(http, head(['GET http://169.254.169.254/latest/meta-data/ HTTP/1.1', `Host: ${VHOST}`, 'Connection: close']), [400]);
    await answeredLocally(http, head([`GET http://127.0.0.1:${tripwire.port}/ HTTP/1.1`, `Host: ${VHOST}`, 'Connection: close']), [400]);
    await answeredLocally(http, head([`GET http://${backend.host}:${backend.port}/ HTTP/1.1`, `Host: ${VHOST}`, 'Connection: close']), [400]);
    await answeredLocally(http, head([`GET http://user@${VHOST}/ HTTP/1.1`, `Host: ${VHOST}`, 'Connection: close']), [400]);
    // An absolute-form target naming the tripwire in both places is just an unknown vhost.
    await answeredLocally(http, head([`GET http://127.0.0.1:${tripwire.port}/ HTTP/1.1`, `Host: 127.0.0.1:${tripwire.port}`, 'Connection: close']), [503]);
  });

  it('answers CONNECT with 405 on every HTTP listener', async () => {
    for (const port of [lb.lb.addresses.http!, lb.lb.addresses.appId!, servicePort]) {
      await answeredLocally(port, head([`CONNECT 127.0.0.1:${tripwire.port} HTTP/1.1`, `Host: 127.0.0.1:${tripwire.port}`]), [405]);
      await answeredLocally(port, head(['CONNECT 169.254.169.254:80 HTTP/1.1', `Host: ${VHOST}`]), [405]);
    }
  });

  it('answers Host headers naming other ports or addresses with 503', async () => {
    const http = lb.lb.addresses.http!;
    for (const host of [`127.0.0.1:${tripwire.port}`, `127.0.0.1`, `[::1]:${tripwire.port}`, `${backend.host}:${backend.port}`, '169.254.169.254', `localhost:${tripwire.port}`]) {
      await answeredLocally(http, head(['GET / HTTP/1.1', `Host: ${host}`, 'Connection: close']), [503]);
    }
  });

  it('answers upgrade requests naming another host locally', async () => {
    const http = lb.lb.addresses.http!;
    const upgrade = ['Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='];
    await answeredLocally(http, head([`GET http://127.0.0.1:${tripwire.port}/ HTTP/1.1`, `Host: ${VHOST}`, ...upgrade]), [400]);
    await answeredLocally(http, head(['GET / HTTP/1.1', `Host: 127.0.0.1:${tripwire.port}`, ...upgrade]), [503]);
    await answeredLocally(http, head(['GET / HTTP/1.1', `Host: ${VHOST}`, `Host: 127.0.0.1:${tripwire.port}`, ...upgrade]), [400]);
  });

  it('on :9091 and service ports, sends only to the route\'s servers whatever the target says', async () => {
    await answeredLocally(lb.lb.addresses.appId!, head(['GET / HTTP/1.1', 'Host: x', 'X-Marathon-App-Id: /not-an-app', 'Connection: close']), [503]);
    await answeredLocally(lb.lb.addresses.appId!, head([`GET http://127.0.0.1:${tripwire.port}/ HTTP/1.1`, 'Host: x', 'X-Marathon-App-Id: /web', 'Connection: close']), [400]);
    const before = backend.requests.length;
    const reply = await rawExchange(servicePort, head([`GET http://127.0.0.1:${tripwire.port}/svc HTTP/1.1`, `Host: 127.0.0.1:${tripwire.port}`, 'Connection: close']));
    expect(statusOf(reply), reply).toBe(200);
    expect(backend.requests.slice(before).map((r) => r.url)).toEqual(['/svc']);
    expect(tripwire.connections).toBe(0);
  });

  it('still forwards an absolute-form target that agrees with Host, as origin-form', async () => {
    const before = backend.requests.length;
    const reply = await rawExchange(lb.lb.addresses.http!, head([`GET http://${VHOST}/abs?q=1 HTTP/1.1`, `Host: ${VHOST}`, 'Connection: close']));
    expect(statusOf(reply), reply).toBe(200);
    expect(backend.requests.slice(before).map((r) => r.url)).toEqual(['/abs?q=1']);
  });
});

describe('baton-dns HTTP API with httpAuth', () => {
  let dns: BatonDns;
  let base = '';

  beforeAll(async () => {
    const marathonUrl = sim.url.replace('http://', `http://${MARATHON_USER}:${MARATHON_SECRET}@`);
    const { config, error } = parseDnsConfig({
      marathon: [marathonUrl],
      masters: [new URL(sim.url).host],
      mesosAuthentication: 'basic',
      mesosCredentials: { principal: 'baton', secret: MESOS_SECRET },
      httpAuth: `api:${DNS_HTTP_SECRET}`,
      port: 0,
      listener: '127.0.0.1',
      httpport: 0,
      HTTPListener: '127.0.0.1',
      resolvers: ['127.0.0.1:1'],
    });
    expect(error).toBeUndefined();
    dns = await startBatonDns(config!, silentLogger());
    cleanups.push(() => dns.close());
    base = `http://${dns.addresses.find((a) => a.startsWith('http '))!.slice('http '.length)}`;
  }, 60_000);

  it.each(['/v1/version', '/v1/config', '/v1/hosts/web.marathon.mesos', '/v1/services/_web._tcp.marathon.mesos', '/v1/enumerate', '/v1/axfr', '/metrics'])(
    '%s: 401 without or with wrong credentials, 200 with them',
    async (path) => {
      const none = await fetch(base + path);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Basic realm="baton-dns"');
      expect((await fetch(base + path, { headers: { authorization: basic('api', 'nope') } })).status).toBe(401);
      expect((await fetch(base + path, { headers: { authorization: basic('api', `${DNS_HTTP_SECRET}!`) } })).status).toBe(401);
      expect((await fetch(base + path, { headers: { authorization: basic('api', DNS_HTTP_SECRET) } })).status).toBe(200);
    },
  );

  it('leaves /health open for probes', async () => {
    await waitFor(async () => (await fetch(`${base}/health`)).status === 200, 15_000);
  });

  it('/v1/config shows no secret: Mesos credentials, the API password, Marathon URL credentials', async () => {
    const res = await fetch(`${base}/v1/config`, { headers: { authorization: basic('api', DNS_HTTP_SECRET) } });
    const text = await res.text();
    for (const secret of [MESOS_SECRET, DNS_HTTP_SECRET, MARATHON_SECRET]) expect(text).not.toContain(secret);
    const config = JSON.parse(text) as { MesosCredentials: { Principal: string; Secret: string }; HttpAuth: string; Marathon: string[] };
    expect(config.MesosCredentials).toEqual({ Principal: 'baton', Secret: '<redacted>' });
    expect(config.HttpAuth).toBe('api:<redacted>');
    expect(config.Marathon[0]).toMatch(/^http:\/\/<redacted>@127\.0\.0\.1:\d+$/);
  });
});

describe('baton-dns forwards only for allowed client networks', () => {
  let upstreamQueries = 0;
  let upstreamPort = 0;

  beforeAll(async () => {
    const upstream = dgram.createSocket('udp4');
    upstream.on('message', (msg, rinfo) => {
      upstreamQueries++;
      let end = 12; // header + question, as sent
      while (end < msg.length && msg[end] !== 0) end += msg[end] + 1;
      const reply = Buffer.from(msg.subarray(0, end + 5));
      reply[2] |= 0x80;
      reply[3] = (reply[3] & 0xf0) | 3; // NXDOMAIN
      reply.writeUInt16BE(0, 6);
      reply.writeUInt32BE(0, 8);
      upstream.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    upstreamPort = upstream.address().port;
    cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));
  });

  async function dnsWith(networks: string[] | undefined): Promise<Resolver> {
    const { config, error } = parseDnsConfig({
      marathon: [sim.url.replace('http://', `http://${MARATHON_USER}:${MARATHON_SECRET}@`)],
      port: 0,
      listener: '127.0.0.1',
      httpon: false,
      resolvers: [`127.0.0.1:${upstreamPort}`],
      timeout: 1,
      ...(networks ? { forwardAllowedNetworks: networks } : {}),
    });
    expect(error).toBeUndefined();
    const dns = await startBatonDns(config!, silentLogger());
    cleanups.push(() => dns.close());
    const resolver = new Resolver({ timeout: 2_000, tries: 2 });
    resolver.setServers([`127.0.0.1:${dns.dns!.udpPort}`]);
    return resolver;
  }

  it('REFUSES outside names to a client outside forwardAllowedNetworks, forwarding nothing; in-domain names still answered', async () => {
    const resolver = await dnsWith(['10.0.0.0/8', '192.168.0.0/16', 'fd00::/8']);
    const before = upstreamQueries;
    await expect(resolver.resolve4('outside.example')).rejects.toMatchObject({ code: 'EREFUSED' });
    await expect(resolver.resolveTxt('other.example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
    await expect(resolver.resolvePtr('8.8.8.8.in-addr.arpa')).rejects.toMatchObject({ code: 'EREFUSED' });
    expect(upstreamQueries).toBe(before);
    expect(await resolver.resolve4('web.marathon.mesos')).toHaveLength(1);
  });

  it('forwards for clients inside the default networks (loopback included)', async () => {
    const resolver = await dnsWith(undefined);
    const before = upstreamQueries;
    await expect(resolver.resolve4('outside.example')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(upstreamQueries).toBeGreaterThan(before);
  });
});
