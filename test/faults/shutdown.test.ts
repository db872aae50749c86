// SIGTERM to the bins: stop accepting, let in-flight requests finish (bounded by the grace period), exit 0.
import { readFileSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, http, lookupA, resolverFor, startBin, startWebBackends, type Bin } from './fault-helpers.js';

let dir: string;
let sim: MarathonSimulator;
const bins: Bin[] = [];

beforeAll(async () => {
  ensureBuilt('dns', 'lb');
  ({ dir, sim } = await startWebBackends('shutdown', 1));
}, 90_000);

afterEach(async () => {
  for (const bin of bins.splice(0)) {
    bin.kill('SIGKILL');
    await bin.exited;
  }
});

afterAll(async () => {
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves to the error code of a fresh TCP connection attempt (`'connected'` when it is accepted). */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function startLb(extra: string[] = []) {
  const bin = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1',
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'info', ...extra,
  ]);
  bins.push(bin);
  const [, port, adminPort] = await bin.line(/listening on 127\.0\.0\.1: http=(\d+) .* admin=(\d+)/);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await http(`${url}/`, { headers: { host: 'web.test' } })).status === 200, 20_000, 50);
  return { bin, port: Number(port), url, admin: `http://127.0.0.1:${adminPort}` };
}

describe('SIGTERM', () => {
  it('baton-lb stops accepting, finishes the requests in flight, then exits 0', async () => {
    const lb = await startLb();
    const inFlight = [1, 2, 3].map(() => http(`${lb.url}/slow?ms=4000`, { headers: { host: 'web.test' } }));
    await new Promise((resolve) => setTimeout(resolve, 300)); // the requests have reached the backend
    const signalledAt = Date.now();
    lb.bin.kill('SIGTERM');
    // New connections are refused while the slow requests are still running.
    await waitFor(async () => (await tryConnect(lb.port)) === 'ECONNREFUSED', 3_000, 20);
    const refusedAfterMs = Date.now() - signalledAt;
    const results = await Promise.all(inFlight);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results[0].body).toMatch(/^web\./);
    expect(refusedAfterMs).toBeLessThan(3_000);
    expect(await lb.bin.exited).toEqual({ code: 0, signal: null });
    expect(lb.bin.stderr()).toContain('shutting down');
  }, 60_000);

  it('baton-lb waits no longer than --shutdown-grace for a request that does not end', async () => {
    const lb = await startLb(['--shutdown-grace', '1s']);
    const stuck = http(`${lb.url}/slow?ms=60000`, { headers: { host: 'web.test' } }).then(
      (r) => `status ${r.status}`,
      (err: NodeJS.ErrnoException) => err.code ?? err.message,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const signalledAt = Date.now();
    lb.bin.kill('SIGTERM');
    expect(await lb.bin.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    expect(await stuck).not.toBe('status 200');
  }, 60_000);

  it('baton-lb --workers 2 kills a worker stuck past --shutdown-grace, logs how it ended, and exits 0', async () => {
    const lb = await startLb(['--shutdown-grace', '1s', '--workers', '2']);
    const { body } = await getJson<{ workers: { pid: number | null }[] }>(`${lb.admin}/_baton/status`);
    const stuck = body.workers[0].pid!;
    process.kill(stuck, 'SIGSTOP'); // it can neither read the primary's stop message nor exit by itself
    try {
      const signalledAt = Date.now();
      lb.bin.kill('SIGTERM');
      expect(await lb.bin.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - signalledAt).toBeLessThan(20_000);
      expect(lb.bin.stderr()).toMatch(new RegExp(`"pid":${stuck},"code":null,"signal":"SIGKILL".*"msg":"worker died while stopping"`));
    } finally {
      try {
        process.kill(stuck, 'SIGCONT');
      } catch {
        // killed, as it should be
      }
    }
  }, 60_000);

  it('baton-dns closes its sockets, writes its state file and exits 0', async () => {
    const stateFile = join(dir, 'dns-state.json');
    const bin = startBin('dns', 'baton-dns', [
      '--marathon', sim.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--state-file', stateFile, '--log-level', 'info',
    ]);
    bins.push(bin);
    const [, dnsPort, httpPort] = await bin.line(/listening on dns udp\+tcp 127\.0\.0\.1:(\d+), http [^ ]+:(\d+)/);
    expect(await lookupA(resolverFor(Number(dnsPort)), 'web.marathon.mesos')).toEqual(['127.0.0.1']);
    expect((await getJson(`http://127.0.0.1:${httpPort}/health`)).status).toBe(200);
    const signalledAt = Date.now();
    bin.kill('SIGTERM');
    expect(await bin.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(15_000);
    expect(await tryConnect(Number(dnsPort))).toBe('ECONNREFUSED');
    expect(await tryConnect(Number(httpPort))).toBe('ECONNREFUSED');
    const { apps } = JSON.parse(readFileSync(stateFile, 'utf8')) as { apps: { id: string }[] };
    expect(apps.map((a) => a.id)).toEqual(['/web']);
  }, 60_000);
});
