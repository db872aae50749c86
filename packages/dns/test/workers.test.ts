// baton-dns --workers 2, the real bin against the simulator: every worker answers over UDP and TCP
// from its own copy of the records, Marathon changes reach every worker, /metrics sums the workers, a
// killed worker is restarted while the other keeps answering, and workers never outlive the primary.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { QTYPE, encodeQuery } from '../src/wire.js';
import { decode, frame, tcpExchange, udpExchange } from './helpers/map-view.js';
import { ensureBuilt, getText, metric, startBin, type Bin } from '../../../test/faults/fault-helpers.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { descendants, running } from '../../../tools/proc-tree.mjs';

const run = promisify(execFile);
const hasDig = spawnSync('dig', ['-v']).status === 0;
/** One SRV record per task (A records collapse tasks on the same agent). */
const NAME = '_web-w._tcp.marathon.mesos';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let sim: MarathonSimulator;
let configFile: string;
beforeAll(async () => {
  ensureBuilt('dns');
  const dir = mkdtempSync(join(tmpdir(), 'baton-dns-workers-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  configFile = join(dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({ HTTPListener: '127.0.0.1', externalon: false }));
  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 200, logger: silentLogger() });
  await sim.start();
  cleanups.push(() => sim.stop());
  await sim.createApp({ id: '/w/web', instances: 2, cmd: 'sleep 1000', portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http' }] });
  await sim.waitForRunning('/w/web', 2);
}, 120_000);

interface Dns {
  bin: Bin;
  port: number;
  httpPort: number;
}

async function startDns(workers: number): Promise<Dns> {
  const bin = startBin('dns', 'baton-dns', [
    '--config', configFile, '--marathon', sim.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--workers', String(workers), '--log-level', 'warn',
  ]);
  cleanups.push(() => bin.stop());
  const [, port, httpPort] = await bin.line(/udp\+tcp 127\.0\.0\.1:(\d+), http 127\.0\.0\.1:(\d+)/);
  return { bin, port: Number(port), httpPort: Number(httpPort) };
}

/** The worker processes: the primary's descendants (its children; workers start none). */
function workerPids(primary: number): number[] {
  return descendants(primary).slice(1);
}

/** Gone, or a zombie nobody has reaped yet. */
const gone = (pid: number): boolean => !running(pid);

let nextId = 1;
/** How many SRV answers NAME has, asked from a fresh socket over UDP or TCP; undefined when none came (asked twice). */
async function askSrv(port: number, transport: 'udp' | 'tcp'): Promise<number | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const query = encodeQuery(nextId++ & 0xffff, NAME, QTYPE.SRV);
    const reply = transport === 'udp' ? await udpExchange(port, query, 3000) : (await tcpExchange(port, frame(query), 1, 3000)).replies[0];
    if (reply) return decode(reply).answers.length;
  }
  return undefined;
}

/** Queries answered by each of the two workers, from /metrics text. */
const perWorker = (text: string): number[] => [1, 2].map((w) => metric(text, 'baton_dns_worker_queries_total', `{worker="${w}"}`) ?? 0);

async function workerQueries(dns: Dns): Promise<number[]> {
  return perWorker(await getText(`http://127.0.0.1:${dns.httpPort}/metrics`));
}

/**
 * Asks in bursts from fresh sockets (UDP and TCP) until each worker has answered some of them since the
 * call; every answer must have `expected` addresses. Bounded: at most 20 bursts.
 */
async function everyWorkerAnswers(dns: Dns, expected: number): Promise<void> {
  const before = await workerQueries(dns);
  for (let burst = 0; burst < 20; burst++) {
    const answers = await Promise.all([
      ...Array.from({ length: 40 }, () => askSrv(dns.port, 'udp')),
      ...Array.from({ length: 10 }, () => askSrv(dns.port, 'tcp')),
    ]);
    expect(answers).toEqual(answers.map(() => expected));
    const after = await workerQueries(dns);
    if (after.every((n, i) => n > before[i])) return;
  }
  throw new Error(`a worker answered none of 1,000 queries: ${JSON.stringify({ before, after: await workerQueries(dns) })}`);
}

describe('baton-dns --workers 2', () => {
  let dns: Dns;
  beforeAll(async () => {
    dns = await startDns(2);
  }, 60_000);

  it('answers over UDP and TCP (node:dns, dig) from every worker, and Marathon changes reach every worker', async () => {
    expect(workerPids(dns.bin.child.pid!)).toHaveLength(2);
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
    expect(await resolver.resolveSrv(NAME)).toHaveLength(2);
    if (hasDig) {
      for (const transport of ['+notcp', '+tcp']) {
        const { stdout } = await run('dig', [`@127.0.0.1`, '-p', String(dns.port), NAME, 'SRV', '+short', transport, '+time=3', '+tries=2']);
        expect(stdout.trim().split('\n')).toHaveLength(2);
      }
    }
    await everyWorkerAnswers(dns, 2);

    await sim.scaleApp('/w/web', 3);
    await waitFor(async () => (await askSrv(dns.port, 'udp')) === 3, 15_000);
    await everyWorkerAnswers(dns, 3);

    const tasks = (await (await fetch(`${sim.url}/v2/apps/w/web/tasks`)).json()) as { tasks: { id: string; state: string }[] };
    sim.killTask(tasks.tasks.find((t) => t.state === 'TASK_RUNNING')!.id, { scale: true }); // instances 3 → 2
    await waitFor(async () => (await askSrv(dns.port, 'udp')) === 2, 15_000);
    await everyWorkerAnswers(dns, 2);
  }, 120_000);

  it('sums the workers in /metrics', async () => {
    const url = `http://127.0.0.1:${dns.httpPort}/metrics`;
    const count = async () => metric(await getText(url), 'baton_dns_queries_total', '{qtype="SRV",rcode="NOERROR"}') ?? 0;
    const before = await count();
    const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => askSrv(dns.port, i % 3 === 0 ? 'tcp' : 'udp')));
    expect(answers.every((n) => n === 2)).toBe(true);
    // A worker slower than the 1 s deadline counts with its previous figures: the sum catches up on a later scrape.
    await waitFor(async () => (await count()) >= before + 60, 20_000, 200);
    expect(await count()).toBe(before + 60);
    const text = await getText(url);
    expect(metric(text, 'baton_dns_workers')).toBe(2);
    expect(metric(text, 'baton_dns_workers_listening')).toBe(2);
    const [first, second] = perWorker(text);
    expect(first + second).toBe(metric(text, 'baton_dns_query_duration_seconds_count'));
    expect(metric(text, 'baton_dns_tcp_connections_total')).toBeGreaterThanOrEqual(20);
    expect(metric(text, 'baton_dns_records', '{type="A"}')).toBeGreaterThan(0); // the primary's store
  }, 60_000);

  it('restarts a killed worker while the other keeps answering; the new one follows Marathon', async () => {
    const url = `http://127.0.0.1:${dns.httpPort}/metrics`;
    const answered = async () => metric(await getText(url), 'baton_dns_query_duration_seconds_count') ?? -1;
    const answeredBefore = await answered();
    const [victim, survivor] = workerPids(dns.bin.child.pid!);
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 20; i++) expect(await askSrv(dns.port, i % 2 ? 'tcp' : 'udp')).toBe(2);
    await waitFor(async () => {
      const text = await getText(url);
      return metric(text, 'baton_dns_worker_restarts_total') === 1 && metric(text, 'baton_dns_workers_listening') === 2;
    }, 30_000, 100);
    const pids = workerPids(dns.bin.child.pid!);
    expect(pids).toHaveLength(2);
    expect(pids).toContain(survivor);
    expect(pids).not.toContain(victim);
    // The dead worker's counters stay in the sums (as of its last report): they never go down.
    expect(await answered()).toBeGreaterThanOrEqual(answeredBefore + 20);

    await sim.scaleApp('/w/web', 4);
    await waitFor(async () => (await askSrv(dns.port, 'udp')) === 4, 15_000);
    await everyWorkerAnswers(dns, 4);
  }, 120_000);

  it('restarts a worker that stops answering (SIGSTOP) while the other keeps answering', async () => {
    const url = `http://127.0.0.1:${dns.httpPort}/metrics`;
    const restarts = async () => metric(await getText(url), 'baton_dns_worker_restarts_total') ?? -1;
    const before = await restarts();
    const [stuck, survivor] = workerPids(dns.bin.child.pid!);
    process.kill(stuck, 'SIGSTOP');
    cleanups.push(() => {
      if (!gone(stuck)) process.kill(stuck, 'SIGKILL');
    });
    for (let i = 0; i < 20; i++) expect(await askSrv(dns.port, i % 2 ? 'tcp' : 'udp')).toBe(4);
    // Pinged every 5 s, killed after 15 s of silence, restarted 100 ms later.
    await waitFor(async () => (await restarts()) === before + 1 && gone(stuck), 45_000, 250);
    await waitFor(() => workerPids(dns.bin.child.pid!).length === 2, 30_000, 100);
    expect(workerPids(dns.bin.child.pid!)).toContain(survivor);
    await waitFor(async () => metric(await getText(url), 'baton_dns_workers_listening') === 2, 30_000, 100);
    await everyWorkerAnswers(dns, 4);
  }, 120_000);
});

describe('baton-dns --workers 2, stopping', () => {
  it('stops every worker on SIGTERM (exit 0)', async () => {
    const dns = await startDns(2);
    const pids = workerPids(dns.bin.child.pid!);
    expect(pids).toHaveLength(2);
    expect(await dns.bin.stop()).toBe(0);
    await waitFor(() => pids.every(gone), 10_000, 50);
  }, 60_000);

  it('workers exit when the primary dies', async () => {
    const dns = await startDns(2);
    const pids = workerPids(dns.bin.child.pid!);
    expect(pids).toHaveLength(2);
    dns.bin.kill('SIGKILL');
    await dns.bin.exited;
    await waitFor(() => pids.every(gone), 15_000, 50);
    expect(await askSrv(dns.port, 'udp')).toBeUndefined();
  }, 60_000);
});
