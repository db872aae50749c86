// baton-lb --workers 2 where Node offers `reusePort` (22.12+, Linux): each worker listens on a socket
// of its own and the kernel spreads new connections, with no hand-off through the primary. Which
// process owns a listening or connected socket is read from Linux's /proc (helpers/proc-sockets.ts). The real bin, real
// backends run by the simulator; a killed worker under load costs the other worker nothing.
import { readdirSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarathonSimulator } from '@baton/marathon-sim';
import { listenMode } from '../packages/lb/src/listening.js';
import { socketOwner as owner, tcpRows } from './helpers/proc-sockets.js';
import { waitFor } from './helpers/wait.js';
import { ensureBuilt, getJson, spawnBin, repoDir, startWebBackends, type Bin } from './faults/fault-helpers.js';

const offered = listenMode({}) === 'reuseport';
const lbBin = `${repoDir}/packages/lb/bin/baton-lb.js`;

let dir: string;
let sim: MarathonSimulator;
let lb: Bin;
let port: number;
let appIdPort: number;
let admin: string;

/** A port free now: the :80 of the test (reusePort is not used for port 0, so the test picks one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port: free } = server.address() as AddressInfo;
      server.close(() => resolve(free));
    });
  });
}

/** The processes (of `pids`) that hold a listening socket on `local`, one entry per socket. */
function listenersOf(local: number, pids: number[]): (number | undefined)[] {
  return tcpRows(local).filter((r) => r.state === '0A').map((r) => owner(r.inode, pids)).sort();
}

async function workerPids(): Promise<number[]> {
  const { body } = await getJson<{ workers: { pid: number | null; state: string }[] }>(`${admin}/_baton/status`);
  return body.workers.filter((w) => w.state === 'serving').map((w) => w.pid).filter((pid): pid is number => pid !== null);
}

/** One request; `agent` keeps its connection, without one each request has a new connection. */
function get(agent?: Agent): Promise<{ status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: agent ?? false, headers: { host: 'web.test' } }, (res) => {
      const socket = res.socket;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socket }));
      res.on('error', reject);
    });
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** The worker holding the server side of a client socket. */
function workerOf(socket: Socket, pids: number[]): number | undefined {
  const row = tcpRows(port).find((r) => r.state === '01' && r.remotePort === socket.localPort);
  return row === undefined ? undefined : owner(row.inode, pids);
}

function startLb(marathon: MarathonSimulator, env: NodeJS.ProcessEnv, httpPort: number): Bin {
  return spawnBin(lbBin, [
    '--marathon', marathon.url, '--group', 'external', '--bind-address', '127.0.0.1', '--workers', '2',
    '--http-port', String(httpPort), '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--access-log', 'off',
  ], env);
}

describe.skipIf(!offered)('baton-lb --workers 2, each worker on a SO_REUSEPORT socket of its own', () => {
  beforeAll(async () => {
    ensureBuilt('lb');
    ({ dir, sim } = await startWebBackends('lb-reuseport', 2));
    port = await freePort();
    lb = startLb(sim, {}, port);
    const [, , appId, adminPort] = await lb.line(/listening on 127\.0\.0\.1: http=(\d+) .*app-id=(\d+) .*admin=(\d+)/);
    appIdPort = Number(appId);
    admin = `http://127.0.0.1:${adminPort}`;
    await waitFor(async () => (await get()).status === 200, 20_000, 50);
  }, 90_000);

  afterAll(async () => {
    lb?.kill('SIGKILL');
    await lb?.exited;
    await sim?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('each worker listens on the port itself; new connections reach both; port 0 stays with the primary', async () => {
    const pids = await workerPids();
    expect(pids).toHaveLength(2);
    expect(listenersOf(port, [...pids, lb.child.pid!])).toEqual([...pids].sort());
    // A new connection per request: each served, by one worker or the other.
    const served = new Set<number | undefined>();
    for (let i = 0; i < 60 && served.size < 2; i++) {
      const reply = await get(new Agent({ keepAlive: true }));
      expect(reply.status).toBe(200);
      served.add(workerOf(reply.socket, pids));
      reply.socket.destroy();
    }
    expect([...served].sort()).toEqual([...pids].sort());
    // --app-id-port 0: one port for all, which only the cluster's hand-off gives.
    expect(listenersOf(appIdPort, [...pids, lb.child.pid!])).toEqual([lb.child.pid]);
  }, 60_000);

  it('killing a worker under load fails no request on the other worker nor on new connections, and the replacement listens', async () => {
    const pids = await workerPids();
    // Keep-alive clients until each worker holds some (bounded).
    const clients: { agent: Agent; pid: number }[] = [];
    for (let i = 0; i < 40 && !(clients.length >= 4 && pids.every((p) => clients.some((c) => c.pid === p))); i++) {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const reply = await get(agent);
      const pid = workerOf(reply.socket, pids);
      if (pid === undefined) agent.destroy();
      else clients.push({ agent, pid });
    }
    const victim = clients[0].pid;
    const survivor = pids.find((p) => p !== victim)!;
    expect(clients.some((c) => c.pid === survivor)).toBe(true);
    const results: { pid: number; ok: boolean; at: number; error?: string }[] = [];
    let running = true;
    const loops = clients.map(async (client) => {
      while (running) {
        try {
          const reply = await get(client.agent);
          results.push({ pid: client.pid, ok: reply.status === 200, at: Date.now(), error: String(reply.status) });
        } catch (err) {
          results.push({ pid: client.pid, ok: false, at: Date.now(), error: (err as Error).message });
          if (client.pid === victim) return; // its connection is gone with its worker
        }
      }
    });
    const victimSocket = tcpRows(port).find((r) => r.state === '0A' && owner(r.inode, [victim]) === victim)!.inode;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    // Once the victim's socket has left the port, new connections go to the survivor (and to the replacement once it listens).
    await waitFor(() => !tcpRows(port).some((r) => r.inode === victimSocket), 15_000, 20);
    const fresh: { status: number; error?: string }[] = [];
    for (let i = 0; i < 20; i++) {
      try {
        const reply = await get(new Agent({ keepAlive: true }));
        fresh.push({ status: reply.status });
        reply.socket.destroy();
      } catch (err) {
        fresh.push({ status: 0, error: (err as Error).message });
      }
    }
    running = false;
    await Promise.all(loops);
    for (const client of clients) client.agent.destroy();

    const onSurvivor = results.filter((r) => r.pid === survivor);
    expect(onSurvivor.filter((r) => r.at > killedAt).length, 'the survivor served during and after the kill').toBeGreaterThan(0);
    expect(onSurvivor.filter((r) => !r.ok), 'failed requests on the surviving worker').toEqual([]);
    expect(fresh.filter((r) => r.status !== 200), 'new connections after the kill').toEqual([]);

    // The replacement binds a socket of its own on the port and is given connections.
    let replacement: number | undefined;
    await waitFor(async () => {
      const now = await workerPids();
      replacement = now.find((p) => p !== survivor && p !== victim);
      return now.length === 2 && replacement !== undefined;
    }, 30_000, 100);
    expect(listenersOf(port, [survivor, replacement!])).toEqual([survivor, replacement].sort());
    let onReplacement = 0;
    for (let i = 0; i < 60 && onReplacement === 0; i++) {
      const reply = await get(new Agent({ keepAlive: true }));
      expect(reply.status).toBe(200);
      if (workerOf(reply.socket, [replacement!]) === replacement) onReplacement++;
      reply.socket.destroy();
    }
    expect(onReplacement).toBeGreaterThan(0);
  }, 120_000);
});

describe('BATON_LB_LISTEN', () => {
  it('handoff keeps the one listening socket in the primary; a bad value is refused by name', async () => {
    ensureBuilt('lb');
    const backends = await startWebBackends('lb-handoff', 1);
    const httpPort = await freePort();
    const bins: Bin[] = [];
    try {
      const handoff = startLb(backends.sim, { BATON_LB_LISTEN: 'handoff' }, httpPort);
      bins.push(handoff);
      await handoff.line(/listening on 127\.0\.0\.1: http=(\d+)/);
      const pids = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number);
      expect(listenersOf(httpPort, pids)).toEqual([handoff.child.pid]);

      const bad = startLb(backends.sim, { BATON_LB_LISTEN: 'hand-off' }, 0);
      bins.push(bad);
      expect((await bad.exited).code).not.toBe(0);
      expect(bad.stdout() + bad.stderr()).toContain('BATON_LB_LISTEN must be reuseport or handoff, not "hand-off"');
    } finally {
      for (const bin of bins) bin.kill('SIGKILL');
      await Promise.all(bins.map((bin) => bin.exited));
      await backends.sim.stop();
      rmSync(backends.dir, { recursive: true, force: true });
    }
  }, 90_000);
});

describe('listenMode', () => {
  it('reuseport where Node offers it (22.12+, 23.1+, Linux), else the hand-off; BATON_LB_LISTEN picks', () => {
    const mode = (version: string, platform: NodeJS.Platform = 'linux', env: NodeJS.ProcessEnv = {}): string => listenMode(env, version, platform);
    expect(['20.18.0', '22.11.0', '23.0.0'].map((v) => mode(v))).toEqual(['handoff', 'handoff', 'handoff']);
    expect(['22.12.0', '23.1.0', '24.0.0'].map((v) => mode(v))).toEqual(['reuseport', 'reuseport', 'reuseport']);
    expect(mode('24.0.0', 'darwin')).toBe('handoff');
    expect(mode('24.0.0', 'linux', { BATON_LB_LISTEN: 'handoff' })).toBe('handoff');
    expect(() => mode('20.18.0', 'linux', { BATON_LB_LISTEN: 'reuseport' })).toThrow('BATON_LB_LISTEN=reuseport needs Node >= 22.12 on Linux (this is Node 20.18.0 on linux)');
  });
});
