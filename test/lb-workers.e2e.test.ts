// baton-lb --workers 2, the real bin against real backend processes run by the simulator. Which
// worker holds a client connection is read from Linux's /proc (the pid owning the server side of the
// socket), so each assertion names the worker it is about: both workers serve and follow route
// changes, the admin port sums them, a worker killed under keep-alive load costs only its own
// connections and comes back, and the workers do not outlive the primary.
import { rmSync } from 'node:fs';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '@baton/marathon-sim';
import { socketOwner, tcpRows } from './helpers/proc-sockets.js';
import { waitFor } from './helpers/wait.js';
import { ensureBuilt, getJson, getText, metric, startBin, startWebBackends, type Bin } from './faults/fault-helpers.js';

interface WorkerStatus {
  worker: number;
  pid: number | null;
  state: string;
  tableVersion?: number;
  restarts: number;
}

let dir: string;
let sim: MarathonSimulator;
let lb: Bin;
let port: number;
let admin: string;

/** Which of `pids` holds the load balancer's side of a client socket (undefined: none of them). */
function ownerOf(socket: Socket, pids: number[]): number | undefined {
  const row = socket.localPort === undefined ? undefined : tcpRows(port).find((r) => r.remotePort === socket.localPort);
  return row === undefined ? undefined : socketOwner(row.inode, pids);
}

async function workers(): Promise<WorkerStatus[]> {
  return (await getJson<{ workers: WorkerStatus[] }>(`${admin}/_baton/status`)).body.workers;
}

async function workerPids(): Promise<number[]> {
  return (await workers()).map((w) => w.pid).filter((pid): pid is number => pid !== null);
}

interface Reply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
  socket: Socket;
}

function get(agent: Agent, host: string, path = '/'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { host } }, (res) => {
      const socket = res.socket; // once the response ended, the agent holds it (res.socket is null)
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, socket }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Keep-alive clients (one socket each), opened until every pid in `pids` holds at least one of
 * them; each knows the worker that holds it. Bounded: at most 40 clients.
 */
async function clientsOnEveryWorker(pids: number[], host: string): Promise<{ agent: Agent; pid: number }[]> {
  const clients: { agent: Agent; pid: number }[] = [];
  for (let i = 0; i < 40; i++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const reply = await get(agent, host);
    expect(reply.status).toBe(200);
    const pid = ownerOf(reply.socket, pids);
    if (pid === undefined) {
      agent.destroy();
      continue;
    }
    clients.push({ agent, pid });
    if (pids.every((p) => clients.some((c) => c.pid === p)) && clients.length >= 4) return clients;
  }
  throw new Error(`40 connections did not reach every worker: ${JSON.stringify(clients.map((c) => c.pid))} of ${JSON.stringify(pids)}`);
}

/** `/metrics`: the 2xx responses of the web app's backend, summed over the workers. */
async function metricServed(): Promise<number> {
  const text = await getText(`${admin}/metrics`);
  const line = text.split('\n').find((l) => l.startsWith('baton_lb_requests_total{backend="web_') && l.includes('code="2xx"'));
  return Number(line?.split(' ').pop());
}

beforeAll(async () => {
  ensureBuilt('lb');
  ({ dir, sim } = await startWebBackends('lb-workers', 2));
  lb = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--workers', '2',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--access-log', 'json',
  ]);
  const [, http, adminPort] = await lb.line(/listening on 127\.0\.0\.1: http=(\d+) .* admin=(\d+)/);
  port = Number(http);
  admin = `http://127.0.0.1:${adminPort}`;
  await waitFor(async () => (await get(new Agent(), 'web.test')).status === 200, 20_000, 50);
}, 90_000);

afterAll(async () => {
  lb?.kill('SIGKILL');
  await lb?.exited;
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('baton-lb --workers 2', () => {
  it('two worker processes serve the routes, and a route change reaches each of them', async () => {
    const status = await workers();
    expect(status.map((w) => w.state)).toEqual(['serving', 'serving']);
    const pids = await workerPids();
    expect(new Set(pids).size).toBe(2);
    expect(pids).not.toContain(lb.child.pid);

    const clients = await clientsOnEveryWorker(pids, 'web.test');
    // A vhost change: each worker's connection is answered for the new name, and no longer for the old.
    await sim.updateApp('/web', { labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web2.test' } });
    for (const pid of pids) {
      const client = clients.find((c) => c.pid === pid)!;
      await waitFor(async () => (await get(client.agent, 'web2.test')).status === 200, 20_000, 50);
      const old = await get(client.agent, 'web.test');
      expect(old.status, `worker ${pid} still routes web.test`).not.toBe(200);
      expect(ownerOf(old.socket, pids), 'the client stayed on its worker').toBe(pid);
    }
    // A scale-up: each worker sends requests to the new task.
    await sim.scaleApp('/web', 3);
    const tasks = (await sim.waitForRunning('/web', 3)).map((t) => t.id).sort();
    for (const pid of pids) {
      const client = clients.find((c) => c.pid === pid)!;
      const seen = new Set<string>();
      await waitFor(async () => {
        const reply = await get(client.agent, 'web2.test');
        if (reply.status === 200 && ownerOf(reply.socket, pids) === pid) seen.add(reply.body);
        return tasks.every((t) => seen.has(t));
      }, 20_000, 20);
    }
    for (const client of clients) client.agent.destroy();
  }, 90_000);

  it('a route problem is logged once, by the primary, not once per worker', async () => {
    // The primary's log lines carry no `worker` field; a worker's name its number.
    const problemLines = (): { worker?: number; appId: string }[] =>
      lb.stderr().split('\n').filter((line) => line.includes('route problem') && line.includes('/odd-balance')).map((line) => JSON.parse(line) as { worker?: number; appId: string });
    await sim.createApp({
      id: '/odd-balance',
      instances: 0,
      cmd: 'sleep 1000',
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_BALANCE: 'fastest' },
      portDefinitions: [{ port: 0, name: 'http' }],
    });
    await waitFor(() => problemLines().length > 0, 20_000, 50);
    // Both workers have the table with the problem (the admin status sums their reports)…
    await waitFor(async () => {
      const status = await getJson<{ problems: { appId: string }[]; workers: WorkerStatus[] }>(`${admin}/_baton/status`);
      const version = status.body.workers[0]?.tableVersion;
      return status.body.problems.some((p) => p.appId === '/odd-balance') && version !== undefined && status.body.workers.every((w) => w.tableVersion === version);
    }, 20_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // …and had the time to write a line of their own
    const lines = problemLines();
    expect(lines, lb.stderr().slice(-2_000)).toHaveLength(1);
    expect(lines[0]).toMatchObject({ appId: '/odd-balance' });
    expect(lines[0].worker, 'written by the primary').toBeUndefined();
    await sim.deleteApp('/odd-balance');
  }, 60_000);

  it('the admin port counts the requests of every worker; their access-log lines come whole', async () => {
    const pids = await workerPids();
    const csvServed = async (): Promise<number> => {
      const csv = await getText(`${admin}/haproxy?stats;csv`);
      const row = csv.split('\n').find((line) => line.startsWith('web_') && line.split(',')[1] === 'BACKEND');
      return Number(row?.split(',')[40]); // hrsp_2xx
    };
    // Every stdout line but the first is an access-log line: JSON.parse fails on a line two workers mixed.
    const logged = (): number =>
      lb.stdout().split('\n').slice(1).filter((line) => line !== '').map((line) => JSON.parse(line) as { msg: string; status_code: number; backend_name: string; pid: number })
        .filter((e) => e.msg === 'http' && e.status_code === 200 && e.backend_name.startsWith('web_')).length;
    const clients = await clientsOnEveryWorker(pids, 'web2.test');
    let last = -1;
    await waitFor(() => last === (last = logged()), 10_000, 300); // the lines of earlier requests are in
    const before = { csv: await csvServed(), metric: await metricServed(), logged: logged() };
    const perWorker = new Map<number, number>();
    for (let round = 0; round < 5; round++) {
      for (const client of clients) {
        expect((await get(client.agent, 'web2.test')).status).toBe(200);
        perWorker.set(client.pid, (perWorker.get(client.pid) ?? 0) + 1);
      }
    }
    for (const client of clients) client.agent.destroy();
    const sent = [...perWorker.values()].reduce((a, b) => a + b, 0);
    expect([...perWorker.keys()].sort()).toEqual([...pids].sort());
    // Both workers served some of them; the admin port shows them all.
    await waitFor(async () => (await csvServed()) >= before.csv + sent, 10_000, 50).catch(() => undefined);
    expect(await csvServed()).toBe(before.csv + sent);
    expect(await metricServed()).toBe(before.metric + sent);
    await waitFor(() => logged() >= before.logged + sent, 10_000, 50);
    expect(logged()).toBe(before.logged + sent);
    expect(lb.stdout().split('\n').slice(1).filter((line) => line !== '').every((line) => (JSON.parse(line) as { pid: number }).pid === lb.child.pid), 'lines name the primary').toBe(true);
    const metrics = await getText(`${admin}/metrics`);
    expect(metric(metrics, 'baton_lb_workers', '{state="serving"}')).toBe(2);
  }, 60_000);

  it('a worker that does not answer is reported silent; the admin request still answers', async () => {
    const [stopped] = await workerPids();
    process.kill(stopped, 'SIGSTOP');
    try {
      const started = Date.now();
      const metrics = await getText(`${admin}/metrics`);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(metric(metrics, 'baton_lb_workers', '{state="silent"}')).toBe(1);
      const status = await workers();
      expect(status.find((w) => w.pid === stopped)?.state).toBe('silent');
    } finally {
      process.kill(stopped, 'SIGCONT');
    }
    await waitFor(async () => (await workers()).every((w) => w.state === 'serving'), 15_000, 100);
  }, 60_000);

  it('killing a worker under keep-alive load fails no request of the other worker, and it comes back', async () => {
    const pids = await workerPids();
    const clients = await clientsOnEveryWorker(pids, 'web2.test');
    const [victim, survivor] = [clients[0].pid, pids.find((p) => p !== clients[0].pid)!];
    const results: { pid: number; ok: boolean; at: number; error?: string }[] = [];
    let running = true;
    const loops = clients.map(async (client) => {
      while (running) {
        try {
          const reply = await get(client.agent, 'web2.test');
          results.push({ pid: client.pid, ok: reply.status === 200, at: Date.now(), error: reply.status === 200 ? undefined : String(reply.status) });
        } catch (err) {
          results.push({ pid: client.pid, ok: false, at: Date.now(), error: (err as Error).message });
          if (client.pid === victim) return; // its connection is gone with its worker
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    running = false;
    await Promise.all(loops);
    for (const client of clients) client.agent.destroy();

    const survivors = results.filter((r) => r.pid === survivor);
    expect(survivors.filter((r) => r.at > killedAt).length, 'the survivor served during and after the kill').toBeGreaterThan(0);
    expect(survivors.filter((r) => !r.ok), 'failed requests on the surviving worker').toEqual([]);

    // The primary restarts the worker; it serves the current routes (web2.test, given after it first started).
    await waitFor(async () => {
      const status = await workers();
      return status.every((w) => w.state === 'serving' && w.pid !== victim) && status.some((w) => w.restarts === 1);
    }, 30_000, 100);
    // The primary's log says which worker died and how.
    expect(lb.stderr()).toMatch(new RegExp(`"pid":${victim},"code":null,"signal":"SIGKILL".*"msg":"worker died; restarting it"`));
    const after = await workerPids();
    const replacement = after.find((p) => p !== survivor)!;
    expect(after).toContain(survivor);
    const fresh = await clientsOnEveryWorker(after, 'web2.test');
    let onReplacement = 0;
    for (let round = 0; round < 10; round++) {
      for (const client of fresh) {
        const reply = await get(client.agent, 'web2.test');
        expect(reply.status).toBe(200);
        if (ownerOf(reply.socket, after) === replacement) onReplacement++;
      }
    }
    for (const client of fresh) client.agent.destroy();
    expect(onReplacement).toBeGreaterThan(0);
  }, 120_000);

  it("the admin port's totals do not go back when a worker dies and is replaced", async () => {
    const pids = await workerPids();
    const clients = await clientsOnEveryWorker(pids, 'web2.test');
    for (let round = 0; round < 5; round++) for (const client of clients) expect((await get(client.agent, 'web2.test')).status).toBe(200);
    for (const client of clients) client.agent.destroy();
    const before = await metricServed(); // every worker's count, as each reported it
    const victim = clients[0].pid;
    process.kill(victim, 'SIGKILL');
    await waitFor(async () => (await workers()).every((w) => w.state === 'serving' && w.pid !== victim), 30_000, 100);
    expect(await metricServed(), 'requests served, after the restart').toBeGreaterThanOrEqual(before);
    // And they still count: new requests add to them.
    const fresh = new Agent({ keepAlive: true });
    for (let i = 0; i < 5; i++) expect((await get(fresh, 'web2.test')).status).toBe(200);
    fresh.destroy();
    await waitFor(async () => (await metricServed()) >= before + 5, 10_000, 50);
  }, 90_000);

  it('the workers exit when the primary dies', async () => {
    const pids = await workerPids();
    lb.kill('SIGKILL');
    await lb.exited;
    const alive = (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(() => pids.every((pid) => !alive(pid)), 15_000, 50);
  }, 30_000);
});
