// `--state-file`: baton-dns and baton-lb (the bins) persist their last good state; restarted while
// Marathon is down they serve the previous names and routes at once, reported stale, until Marathon
// answers again. A corrupt state file is refused with a message naming it, and they start without it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, http, lookupA, metric, resolverFor, startBin, startWebBackends, type Bin, getText } from './fault-helpers.js';

let dir: string;
let sim: MarathonSimulator;
const bins: Bin[] = [];

beforeAll(async () => {
  ensureBuilt('dns', 'lb');
  ({ dir, sim } = await startWebBackends('state', 2));
}, 90_000);

afterEach(async () => {
  for (const bin of bins.splice(0)) {
    bin.kill('SIGKILL');
    await bin.exited;
  }
  await sim.startFace(0);
});

afterAll(async () => {
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startDns(stateFile: string) {
  const bin = startBin('dns', 'baton-dns', [
    '--marathon', sim.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--state-file', stateFile, '--log-level', 'info',
  ]);
  bins.push(bin);
  const [, dnsPort, httpPort] = await bin.line(/listening on dns udp\+tcp 127\.0\.0\.1:(\d+), http [^ ]+:(\d+)/);
  return { bin, resolver: resolverFor(Number(dnsPort)), http: `http://127.0.0.1:${httpPort}` };
}

async function startLb(stateFile: string) {
  const bin = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--state-file', stateFile, '--log-level', 'info',
  ]);
  bins.push(bin);
  const [, httpPort, adminPort] = await bin.line(/listening on 127\.0\.0\.1: http=(\d+) https=\d+ app-id=\d+ admin=(\d+)/);
  return { bin, http: `http://127.0.0.1:${httpPort}`, admin: `http://127.0.0.1:${adminPort}` };
}

/** The app ids saved in `path`; none while the file is missing or not (yet) a good state file. */
function savedApps(path: string): string[] {
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { apps: { id: string }[] }).apps.map((a) => a.id);
  } catch {
    return [];
  }
}

async function stopGracefully(bin: Bin) {
  bin.kill('SIGTERM');
  expect((await bin.exited).code).toBe(0);
  bins.splice(bins.indexOf(bin), 1);
}

describe('--state-file', () => {
  it('restarted while Marathon is down, baton-dns and baton-lb serve the saved names and routes, reported stale', async () => {
    const dnsFile = join(dir, 'dns-state.json');
    const lbFile = join(dir, 'lb-state.json');
    const dns = await startDns(dnsFile);
    const lb = await startLb(lbFile);
    await waitFor(() => savedApps(dnsFile).includes('/web') && savedApps(lbFile).includes('/web'), 20_000, 50);
    expect(await lookupA(dns.resolver, 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    await stopGracefully(dns.bin);
    await stopGracefully(lb.bin);

    await sim.stopFace(0); // Marathon is down from here on
    const dns2 = await startDns(dnsFile);
    const lb2 = await startLb(lbFile);
    expect(dns2.bin.stderr()).toContain(`serving the state saved in ${dnsFile}`);
    expect(lb2.bin.stderr()).toContain(`serving the routes saved in ${lbFile}`);

    expect(await lookupA(dns2.resolver, 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    const routed = await http(`${lb2.http}/`, { headers: { host: 'web.test' } });
    expect(routed.status).toBe(200);
    expect(routed.body).toMatch(/^web\./);

    // Stale, with the age of the saved state, growing while Marathon stays down.
    await waitFor(async () => (await getJson<{ staleSeconds: number }>(`${dns2.http}/health`)).body.staleSeconds >= 2, 20_000, 100);
    await waitFor(async () => (await getJson<{ feed: { staleSeconds: number } }>(`${lb2.admin}/_baton/status`)).body.feed.staleSeconds >= 2, 20_000, 100);
    const health = await getJson<{ ok: boolean; stale: boolean; sources: { marathon: { stale: boolean; lastError?: string } } }>(`${dns2.http}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ok: true, stale: true, sources: { marathon: { stale: true } } });
    const status = (await getJson<{ feed: { stale: boolean; staleSeconds: number; ageSeconds: number } }>(`${lb2.admin}/_baton/status`)).body;
    expect(status.feed.stale).toBe(true);
    expect(status.feed.staleSeconds).toBeGreaterThanOrEqual(2);
    expect(status.feed.ageSeconds).toBeGreaterThanOrEqual(2);
    expect(metric(await getText(`${lb2.admin}/metrics`), 'baton_lb_feed_stale')).toBe(1);
    expect(metric(await getText(`${dns2.http}/metrics`), 'baton_dns_source_stale', '{source="marathon"}')).toBe(1);

    // Marathon is back: fresh again.
    await sim.startFace(0);
    await waitFor(async () => !(await getJson<{ stale: boolean }>(`${dns2.http}/health`)).body.stale, 60_000, 200);
    await waitFor(async () => !(await getJson<{ feed: { stale: boolean } }>(`${lb2.admin}/_baton/status`)).body.feed.stale, 60_000, 200);
  }, 150_000);

  it('a corrupt state file is refused with a message naming it; they start without it and sync from Marathon', async () => {
    const dnsFile = join(dir, 'corrupt-dns.json');
    const lbFile = join(dir, 'corrupt-lb.json');
    writeFileSync(dnsFile, '{"format":"baton-state","version":1,"savedAt":"2024-01-01T00:00:00Z","apps":[{"id":"/x",');
    writeFileSync(lbFile, 'not json at all');
    const dns = await startDns(dnsFile);
    const lb = await startLb(lbFile);
    expect(dns.bin.stderr()).toContain(`state file ${dnsFile} is unusable: not valid JSON`);
    expect(dns.bin.stderr()).toContain('starting without it');
    await waitFor(() => lb.bin.stderr().includes(`state file ${lbFile} is unusable: not valid JSON`), 10_000);
    expect(lb.bin.stderr()).toContain('starting without it');

    expect(await lookupA(dns.resolver, 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    await waitFor(async () => (await http(`${lb.http}/`, { headers: { host: 'web.test' } })).status === 200, 20_000, 50);
    // The next save replaces the corrupt file with a good one.
    await waitFor(() => savedApps(dnsFile).includes('/web') && savedApps(lbFile).includes('/web'), 20_000, 50);
  }, 60_000);
});
