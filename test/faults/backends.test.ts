// Backend faults through baton-lb (in-process, as its CLI wires it): a backend killed under load, a slow
// backend hitting the server timeout (504), and a scale-down under load that drains without a reset.
import { execFile, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { parseArgs, run, type RunningLb } from '../../packages/lb/src/cli.js';
import { waitFor } from '../helpers/wait.js';
import { getJson, http, requestLoop, startWebBackends } from './fault-helpers.js';

const hasWrk = spawnSync('wrk', ['--version']).error === undefined;

let dir: string;
let sim: MarathonSimulator;
let lb: RunningLb;
let url: string;
let admin: string;

interface ServerStatus {
  taskId: string;
  state: string;
}
async function servers(): Promise<ServerStatus[]> {
  const status = await getJson<{ backends: { appId: string; servers: ServerStatus[] }[] }>(`${admin}/_baton/status`);
  return status.body.backends.find((b) => b.appId === '/web')?.servers ?? [];
}
const upServers = async () => (await servers()).filter((s) => s.state === 'UP').length;

beforeAll(async () => {
  ({ dir, sim } = await startWebBackends('backends', 3, { killGraceMs: 5_000 }, { backoffSeconds: 5 }));
  lb = await run(
    parseArgs([
      '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
      '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--timeout-server', '1s',
    ]),
    silentLogger(),
    { feed: { heartbeatTimeoutMs: 2_000, backoff: { initialMs: 100, maxMs: 1_000 } } },
  );
  await lb.feed.ready();
  url = `http://127.0.0.1:${lb.lb.addresses.http}`;
  admin = `http://127.0.0.1:${lb.lb.addresses.admin}`;
  // Running in Marathon is not listening yet: wait until each backend has answered through the LB
  // (a backend tried before it listened is passively down for a second, then tried again).
  const answered = new Set<string>();
  await waitFor(async () => {
    const r = await http(`${url}/`, { headers: { host: 'web.test' } }).catch(() => undefined);
    if (r?.status === 200 && r.body) answered.add(r.body);
    return answered.size === 3 && (await upServers()) === 3;
  }, 30_000, 20);
}, 90_000);

afterAll(async () => {
  await lb?.stop(1_000);
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('backend faults', () => {
  it(`a backend killed under load${hasWrk ? ' (wrk)' : ''}: only requests in flight on it fail, none after it is marked down`, async () => {
    const wrk = hasWrk
      ? promisify(execFile)('wrk', ['-t1', '-c16', '-d5s', '-H', 'Host: web.test', `${url}/`], { encoding: 'utf8' })
      : undefined;
    const loop = requestLoop(`${url}/`, { concurrency: 4, host: 'web.test' });
    await new Promise((resolve) => setTimeout(resolve, 1_500));

    const victim = [...sim.processIds()][0];
    const killedAt = Date.now();
    process.kill(victim[1], 'SIGKILL');
    // Marked down: passively (the proxy saw it fail) or by Marathon (the task is gone from the table).
    let markedDownAt = 0;
    await waitFor(async () => {
      const state = (await servers()).find((s) => s.taskId === victim[0])?.state;
      if (state !== undefined && state === 'UP') return false;
      markedDownAt = Date.now();
      return true;
    }, 20_000, 10);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const results = await loop.stop();

    const failures = results.filter((r) => r.status !== 200);
    // The victim was in rotation before it died.
    const servedBy = (r: { body?: string }) => r.body?.split(/\s/)[0] ?? '-';
    const before = results.filter((r) => r.start < killedAt);
    const spread = JSON.stringify({ victim: victim[0], before: before.length, by: Object.fromEntries([...new Set(before.map(servedBy))].map((id) => [id, before.filter((r) => servedBy(r) === id).length])) });
    expect(results.some((r) => r.body?.startsWith(victim[0]) && r.start < killedAt), spread).toBe(true);
    expect(results.filter((r) => r.start > markedDownAt).length).toBeGreaterThan(10);
    // Every failure was a request already running when the backend died.
    for (const failure of failures) expect(failure.start).toBeLessThanOrEqual(killedAt + 50);
    expect(failures.filter((r) => r.start > markedDownAt)).toEqual([]);
    expect(failures.length, JSON.stringify(failures.slice(0, 8).map((f) => [f.status, f.error, f.start - killedAt, f.end - killedAt, f.body?.slice(0, 80)]))).toBeLessThanOrEqual(4);
    expect(results.filter((r) => r.status === 200 && r.body?.startsWith(victim[0])).every((r) => r.start <= markedDownAt)).toBe(true);

    if (wrk) {
      const { stdout } = await wrk;
      const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
      const socketErrors = (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout) ?? [])
        .slice(1)
        .reduce((sum, n) => sum + Number(n), 0);
      expect(requests).toBeGreaterThan(100);
      // At most one request in flight per wrk connection when the backend died.
      expect(non2xx + socketErrors).toBeLessThanOrEqual(16);
    }
    await sim.waitForRunning('/web', 3, 30_000);
    await waitFor(async () => (await servers()).length === 3, 30_000, 50);
  }, 90_000);

  it('a slow backend hits the server timeout and the client gets 504', async () => {
    const started = Date.now();
    const slow = await http(`${url}/slow?ms=10000`, { headers: { host: 'web.test' } });
    expect(slow.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(9_000);
    expect((await http(`${url}/`, { headers: { host: 'web.test' } })).status).toBe(200);
  }, 30_000);

  it('scaling down under load drains: no reset connection, every request answered', async () => {
    // Three servers in the table (a relaunched one may still be passively down: it was tried before it listened).
    await waitFor(async () => (await servers()).length === 3 && (await upServers()) >= 2, 30_000, 50);
    const quick = requestLoop(`${url}/`, { concurrency: 4, host: 'web.test' });
    const slowish = requestLoop(`${url}/slow?ms=300`, { concurrency: 8, host: 'web.test' });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await sim.scaleApp('/web', 1);
    await waitFor(async () => (await servers()).length === 1, 20_000, 50);
    await waitFor(() => sim.processIds().size === 1, 20_000, 50); // the old tasks have exited
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const results = [...(await quick.stop()), ...(await slowish.stop())];
    expect(results.length).toBeGreaterThan(20);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
  }, 60_000);
});
