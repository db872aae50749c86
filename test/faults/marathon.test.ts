// Marathon faults: baton-dns and baton-lb (in-process, as their CLIs wire them) against a two-face
// simulator. Through leader failover, a stalled stream, 500s and truncated JSON, and a minute with every
// Marathon down, DNS keeps answering and the proxy keeps routing from the last good state (a probe loop
// counts failures: none), the staleness shows in /health, /_baton/status and both /metrics, and after
// recovery the state is fresh and includes what changed meanwhile.
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { parseDnsConfig } from '@baton/dns';
import { startBatonDns, type BatonDns } from '../../packages/dns/src/cli.js';
import { parseArgs, run, type RunningLb } from '../../packages/lb/src/cli.js';
import { waitFor } from '../helpers/wait.js';
import { getJson, getText, http, lookupA, metric, resolverFor, writeBackendScript } from './fault-helpers.js';

const FEED = { heartbeatTimeoutMs: 1_500, backoff: { initialMs: 100, maxMs: 1_000 } };

let dir: string;
let sim: MarathonSimulator;
let dns: BatonDns;
let lb: RunningLb;
let dnsHttp: string;
let lbAdmin: string;
let lbHttp: string;
let script: string;
const resolver = () => resolverFor(dns.dns!.udpPort);

function app(id: string, vhost: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    cmd: `${process.execPath} ${script}`,
    instances: 1,
    portDefinitions: [{ port: 0 }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: vhost },
    ...extra,
  };
}

/** Asks DNS and the proxy, over and over, for what must keep working; records every failure. */
function startProbe() {
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const failures: string[] = [];
  let rounds = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const a = await lookupA(resolver(), 'web.marathon.mesos');
        if (a.join() !== '127.0.0.1') failures.push(`${new Date().toISOString()} DNS web.marathon.mesos → [${a}]`);
      } catch (err) {
        failures.push(`${new Date().toISOString()} DNS error ${(err as Error).message}`);
      }
      try {
        const r = await http(`${lbHttp}/`, { headers: { host: 'web.test' }, agent, timeoutMs: 5_000 });
        if (r.status !== 200 || !r.body.startsWith('web.')) failures.push(`${new Date().toISOString()} HTTP ${r.status} ${r.body.slice(0, 80)}`);
      } catch (err) {
        failures.push(`${new Date().toISOString()} HTTP error ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      rounds++;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    failures,
    rounds: () => rounds,
    async stop() {
      running = false;
      await loop;
      agent.destroy();
    },
  };
}
let probe: ReturnType<typeof startProbe>;

interface Health {
  ok: boolean;
  stale: boolean;
  staleSeconds: number;
  sources: Record<string, { stale: boolean; staleSeconds: number; lastError?: string }>;
}
interface LbStatus {
  feed: { stale: boolean; staleSeconds: number; connected: boolean; leader?: string; lastError?: string; reconnects: number; ageSeconds: number | null };
}
const dnsHealth = async () => (await getJson<Health>(`${dnsHttp}/health`)).body;
const lbStatus = async () => (await getJson<LbStatus>(`${lbAdmin}/_baton/status`)).body;

async function bothFresh(): Promise<boolean> {
  const [h, s] = await Promise.all([dnsHealth(), lbStatus()]);
  return !h.stale && !s.feed.stale && s.feed.connected;
}

async function bothStale(): Promise<boolean> {
  const [h, s] = await Promise.all([dnsHealth(), lbStatus()]);
  return h.stale && h.sources.marathon.stale && s.feed.stale;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baton-faults-marathon-'));
  script = writeBackendScript(dir);
  sim = new MarathonSimulator({ faces: 2, heartbeatMs: 200, exec: true, killGraceMs: 2_000, logger: silentLogger() });
  await sim.start();
  await sim.createApp(app('/web', 'web.test', { instances: 2 }));
  await sim.createApp(app('/gone', 'gone.test'));
  await sim.waitForRunning('/web', 2);
  await sim.waitForRunning('/gone', 1);

  const parsed = parseDnsConfig({
    marathon: sim.urls,
    port: 0,
    listener: '127.0.0.1',
    httpport: 0,
    HTTPListener: '127.0.0.1',
    resolvers: ['127.0.0.1'],
    externalon: false,
    refreshSeconds: 60,
  });
  if (!parsed.config) throw new Error(parsed.error);
  dns = await startBatonDns(parsed.config, silentLogger(), { feed: FEED });
  dnsHttp = `http://${dns.addresses.find((a) => a.startsWith('http '))!.slice(5)}`;

  lb = await run(
    parseArgs([
      '--marathon', sim.urls.join(','), '--group', 'external', '--bind-address', '127.0.0.1',
      '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0',
    ]),
    silentLogger(),
    { feed: FEED },
  );
  await lb.feed.ready();
  lbHttp = `http://127.0.0.1:${lb.lb.addresses.http}`;
  lbAdmin = `http://127.0.0.1:${lb.lb.addresses.admin}`;
  await waitFor(async () => (await http(`${lbHttp}/`, { headers: { host: 'web.test' } })).status === 200, 20_000);
  await waitFor(async () => (await lookupA(resolver(), 'web.marathon.mesos')).length === 1, 20_000);
  probe = startProbe();
}, 90_000);

afterAll(async () => {
  await probe?.stop();
  await lb?.stop(1_000);
  await dns?.close();
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Marathon faults', () => {
  it('the leader dies mid-stream: a standby takes over (302 to the new leader), then the old one comes back', async () => {
    const before = probe.failures.length;
    // Face 1 is elected: every stream closes; reconnecting to face 0 gets a 302 to face 1.
    sim.setLeader(1);
    await waitFor(async () => (await lbStatus()).feed.leader === sim.faceHostPort(1) && (await bothFresh()), 20_000, 50);
    expect(dns.state!.leader).toBe(sim.faceHostPort(1));
    await sim.createApp(app('/failover', 'failover.test'));
    await waitFor(async () => (await lookupA(resolver(), 'failover.marathon.mesos')).length === 1, 20_000, 50);

    // Now the leader process dies and face 0 is elected again.
    await sim.stopFace(1);
    sim.setLeader(0);
    await waitFor(async () => (await lbStatus()).feed.leader === sim.faceHostPort(0) && (await bothFresh()), 20_000, 50);
    await sim.scaleApp('/failover', 0);
    await waitFor(async () => (await lookupA(resolver(), 'failover.marathon.mesos')).length === 0, 20_000, 50);
    await sim.startFace(1);
    expect(probe.failures.slice(before)).toEqual([]);
  }, 60_000);

  it('a stream that stalls without closing is detected, and the resync brings what it lost', async () => {
    const before = probe.failures.length;
    const reconnects = (await lbStatus()).feed.reconnects;
    sim.stallStreams();
    await sim.createApp(app('/during-stall', 'stall.test'));
    // The watchdog declares the silent stream dead; every reconnect resyncs, which brings the new app.
    await waitFor(async () => (await lbStatus()).feed.reconnects > reconnects, 20_000, 50);
    await waitFor(async () => (await lookupA(resolver(), 'during-stall.marathon.mesos')).length === 1, 20_000, 50);
    await waitFor(async () => (await http(`${lbHttp}/`, { headers: { host: 'stall.test' } })).status === 200, 20_000, 50);
    sim.resumeStreams();
    await waitFor(bothFresh, 20_000, 50);
    await sim.deleteApp('/during-stall');
    await waitFor(async () => (await lookupA(resolver(), 'during-stall.marathon.mesos')).length === 0, 20_000, 50);
    expect(probe.failures.slice(before)).toEqual([]);
  }, 60_000);

  it('Marathon answering 500s, then truncated JSON: the last good state is kept, and the fault is reported', async () => {
    const before = probe.failures.length;
    sim.setFault({ status: 500 });
    sim.dropStreams(); // reconnect → resync → 500
    await waitFor(bothStale, 20_000, 50);
    await waitFor(async () => /500/.test((await lbStatus()).feed.lastError ?? ''), 20_000, 50);
    await waitFor(async () => /500/.test((await dnsHealth()).sources.marathon.lastError ?? ''), 20_000, 50);
    expect(metric(await getText(`${lbAdmin}/metrics`), 'baton_lb_feed_stale')).toBe(1);
    expect(metric(await getText(`${dnsHttp}/metrics`), 'baton_dns_source_stale', '{source="marathon"}')).toBe(1);
    expect(await lookupA(resolver(), 'gone.marathon.mesos')).toEqual(['127.0.0.1']);

    sim.setFault({ truncate: true });
    sim.dropStreams();
    await waitFor(async () => /JSON|truncat/i.test((await lbStatus()).feed.lastError ?? ''), 20_000, 50);
    await waitFor(async () => /JSON|truncat/i.test((await dnsHealth()).sources.marathon.lastError ?? ''), 20_000, 50);
    expect(await bothStale()).toBe(true);
    expect((await http(`${lbHttp}/`, { headers: { host: 'gone.test' } })).status).toBe(200);

    sim.setFault({});
    await waitFor(bothFresh, 20_000, 50);
    expect(probe.failures.slice(before)).toEqual([]);
    expect(probe.rounds()).toBeGreaterThan(10);
  }, 60_000);

  it('every Marathon down for a minute: served from the last good state, reported stale with its age; then fresh with what changed', async () => {
    const before = probe.failures.length;
    const down = Date.now();
    await Promise.all([sim.stopFace(0), sim.stopFace(1)]);
    await waitFor(bothStale, 20_000, 50);

    // Changes Marathon makes while baton cannot see it.
    await sim.createApp(app('/added', 'added.test', { env: { BATON_SIM_HOST: '127.0.0.5' } }));
    await sim.deleteApp('/gone');
    await sim.waitForRunning('/added', 1);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 55_000 - (Date.now() - down))));
    const health = await dnsHealth();
    expect(health.ok).toBe(true);
    expect(health.stale).toBe(true);
    expect(health.sources.marathon.staleSeconds).toBeGreaterThanOrEqual(50);
    const status = await lbStatus();
    expect(status.feed.stale).toBe(true);
    expect(status.feed.connected).toBe(false);
    expect(status.feed.staleSeconds).toBeGreaterThanOrEqual(50);
    expect(status.feed.ageSeconds).toBeGreaterThanOrEqual(50);
    const lbMetrics = await getText(`${lbAdmin}/metrics`);
    expect(metric(lbMetrics, 'baton_lb_feed_stale')).toBe(1);
    expect(metric(lbMetrics, 'baton_lb_feed_staleness_seconds')).toBeGreaterThanOrEqual(50);
    const dnsMetrics = await getText(`${dnsHttp}/metrics`);
    expect(metric(dnsMetrics, 'baton_dns_source_stale', '{source="marathon"}')).toBe(1);
    expect(metric(dnsMetrics, 'baton_dns_source_stale_seconds', '{source="marathon"}')).toBeGreaterThanOrEqual(50);
    // The last good state: the deleted app is still served, the new one not yet.
    expect(await lookupA(resolver(), 'gone.marathon.mesos')).toEqual(['127.0.0.1']);
    expect(await lookupA(resolver(), 'added.marathon.mesos')).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 60_000 - (Date.now() - down))));

    await Promise.all([sim.startFace(0), sim.startFace(1)]);
    await waitFor(bothFresh, 30_000, 50);
    expect(metric(await getText(`${lbAdmin}/metrics`), 'baton_lb_feed_staleness_seconds')).toBe(0);
    expect(metric(await getText(`${dnsHttp}/metrics`), 'baton_dns_source_stale', '{source="marathon"}')).toBe(0);
    // The resync after reconnecting repaired the events lost while disconnected.
    await waitFor(async () => (await lookupA(resolver(), 'added.marathon.mesos')).join() === '127.0.0.5', 20_000, 50);
    expect(await lookupA(resolver(), 'gone.marathon.mesos')).toEqual([]);
    const added = await http(`${lbHttp}/`, { headers: { host: 'added.test' } });
    expect(added.status).toBe(200);
    expect(added.body).toMatch(/^added\./);
    expect((await http(`${lbHttp}/`, { headers: { host: 'gone.test' } })).status).toBe(503);
    expect(probe.failures.slice(before)).toEqual([]);
  }, 150_000);
});
