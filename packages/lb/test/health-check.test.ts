import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterState, silentLogger } from '@baton/marathon';
import { CheckCounter, checkSpecOf, spreadDelay, type CheckSpec, type ProbeResult } from '../src/health-check.js';
import { HealthChecker } from '../src/health-checker.js';
import { probe } from '../src/health-probe.js';
import type { Backend, RouteTable } from '../src/route-table.js';
import { RouteBuilder } from '../src/routes.js';
import { makeBackend, makeServer, makeTable, startLocalLb } from './helpers.js';

const HTTP_CHECK = { protocol: 'HTTP', path: '/health', intervalSeconds: 2, timeoutSeconds: 1, maxConsecutiveFailures: 3 };

describe('checkSpecOf (marathon-lb templates)', () => {
  it('http mode + HTTP check: GET path, inter, timeout check, fall = maxConsecutiveFailures + 1, rise 2', () => {
    const backend = makeBackend('web', [], { healthCheck: HTTP_CHECK });
    expect(checkSpecOf(backend, makeServer('a', 31000), 3000)).toEqual({
      kind: 'http', path: '/health', port: 31000, intervalMs: 2000, connectTimeoutMs: 2000, readTimeoutMs: 1000, rise: 2, fall: 4,
    });
  });

  it('tcp mode, or a TCP/MESOS_TCP check, gives a TCP connect check timed by inter; the check port wins', () => {
    const tcpMode = makeBackend('t', [], { mode: 'tcp', healthCheck: { ...HTTP_CHECK, port: 9000 } });
    expect(checkSpecOf(tcpMode, makeServer('a', 31000), 3000)).toMatchObject({ kind: 'tcp', port: 9000, connectTimeoutMs: 2000 });
    const tcpCheck = makeBackend('h', [], { healthCheck: { ...HTTP_CHECK, protocol: 'MESOS_TCP' } });
    expect(checkSpecOf(tcpCheck, makeServer('a', 31000, { checkPort: 31001 }), 3000)).toMatchObject({ kind: 'tcp', port: 31001 });
    expect(checkSpecOf(makeBackend('n', []), makeServer('a', 1), 3000)).toBeUndefined();
  });
});

describe('CheckCounter (HAProxy rise/fall)', () => {
  it('starts UP and falls at the first failure; a DOWN server needs rise passes; going up resets on a failure', () => {
    const c = new CheckCounter(2, 3);
    expect(c.label()).toBe('UP 1/3');
    expect(c.record(false)).toBe('DOWN');
    expect(c.label()).toBe('DOWN');
    expect(c.record(true)).toBeUndefined();
    expect(c.label()).toBe('DOWN 1/2');
    expect(c.record(false)).toBeUndefined();
    expect(c.label()).toBe('DOWN');
    expect(c.record(true)).toBeUndefined();
    expect(c.record(true)).toBe('UP');
    expect(c.label()).toBe('UP');
  });

  it('a fully UP server goes DOWN after exactly `fall` consecutive failures, showing UP n/fall on the way', () => {
    const c = new CheckCounter(2, 3);
    c.record(true);
    expect(c.label()).toBe('UP');
    expect(c.record(false)).toBeUndefined();
    expect(c.label()).toBe('UP 2/3');
    expect(c.record(false)).toBeUndefined();
    expect(c.label()).toBe('UP 1/3');
    expect(c.record(true)).toBeUndefined(); // a pass goes back to the top
    expect(c.label()).toBe('UP');
    c.record(false);
    c.record(false);
    expect(c.record(false)).toBe('DOWN');
  });
});

describe('spreadDelay', () => {
  it('stays within ±spread% of the interval', () => {
    expect(spreadDelay(1000, 5, 0)).toBe(950);
    expect(spreadDelay(1000, 5, 1)).toBe(1050);
    expect(spreadDelay(1000, 5, 0.5)).toBe(1000);
  });
});

describe('probe (real sockets)', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  const spec = (port: number, kind: 'tcp' | 'http'): CheckSpec => ({ kind, path: '/h', port, intervalMs: 1000, connectTimeoutMs: 500, readTimeoutMs: 300, rise: 2, fall: 1 });
  const listen = (onData: (socket: import('node:net').Socket, data: string) => void): Promise<number> =>
    new Promise((resolve) => {
      server = createServer((s) => s.on('data', (d) => onData(s, d.toString('latin1')))).listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port));
    });

  it('http: sends GET path HTTP/1.0; 2xx/3xx pass, others fail with the code; silence is L7TOUT; refused is L4CON', async () => {
    let seen = '';
    const port = await listen((s, d) => {
      seen = d;
      s.end(d.includes('/h ') ? 'HTTP/1.1 503 Busy\r\n\r\n' : '');
    });
    expect(await probe('127.0.0.1', spec(port, 'http'))).toMatchObject({ passed: false, status: 'L7STS', code: 503 });
    expect(seen).toBe('GET /h HTTP/1.0\r\n\r\n');
    server!.close();
    const silent = await listen(() => undefined);
    expect(await probe('127.0.0.1', spec(silent, 'http'))).toMatchObject({ passed: false, status: 'L7TOUT' });
    server!.close();
    expect(await probe('127.0.0.1', spec(silent, 'tcp'))).toMatchObject({ passed: false, status: 'L4CON', info: 'ECONNREFUSED' });
  });
});

describe('HealthChecker', () => {
  function backendOf(n: number, name = 'web'): Backend {
    const servers = Array.from({ length: n }, (_, i) => makeServer(`${name}-${i}`, 30000 + i));
    return makeBackend(name, servers, { healthCheck: { ...HTTP_CHECK, intervalSeconds: 0.2, maxConsecutiveFailures: 0 } });
  }

  it('caps checks in flight, spreads the first ones over the interval, and stops checking servers that left', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const startedAt: number[] = [];
    const calls = new Map<number, number>();
    const t0 = Date.now();
    const checker = new HealthChecker({
      connectTimeoutMs: 1000,
      maxConcurrent: 5,
      logger: silentLogger(),
      probe: async (_host, spec): Promise<ProbeResult> => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        startedAt.push(Date.now() - t0);
        calls.set(spec.port, (calls.get(spec.port) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return { passed: spec.port % 2 === 0, status: spec.port % 2 === 0 ? 'L7OK' : 'L7STS', code: spec.port % 2 === 0 ? 200 : 500, durationMs: 5 };
      },
    });
    checker.sync(makeTable([backendOf(40)]));
    await new Promise((r) => setTimeout(r, 450));
    expect(maxInFlight).toBeLessThanOrEqual(5);
    expect(checker.down.size).toBe(20); // odd ports answer 500: fall 1
    expect(checker.view('web-1')).toMatchObject({ up: false, status: 'DOWN', failures: expect.any(Number), downs: 1 });
    // The first checks are spread over the first interval, not all at t = 0.
    const firstRound = startedAt.slice(0, 40);
    expect(Math.max(...firstRound) - Math.min(...firstRound)).toBeGreaterThan(80);

    checker.sync(makeTable([backendOf(2)]));
    expect(checker.size).toBe(2);
    expect(checker.down.has('web-3')).toBe(false);
    const before = calls.get(30003) ?? 0;
    await new Promise((r) => setTimeout(r, 400));
    expect(calls.get(30003) ?? 0).toBeLessThanOrEqual(before + 1); // at most the one that was running
    expect(calls.get(30000)!).toBeGreaterThan(2);
    checker.close();
  });

  it('follows a route patch by looking only at the backends it replaced, whatever the table holds', async () => {
    const checked = new Set<string>();
    const checker = new HealthChecker({
      connectTimeoutMs: 1000,
      logger: silentLogger(),
      probe: async (host, spec) => {
        checked.add(`${host}:${spec.port}`);
        return { passed: true, status: 'L7OK', code: 200, durationMs: 0 };
      },
    });
    const slow = { ...HTTP_CHECK, intervalSeconds: 0.05 };
    const others = Array.from({ length: 500 }, (_, i) => makeBackend(`other${i}`, [makeServer(`other${i}-0`, 20000 + i)], { healthCheck: HTTP_CHECK }));
    const web = makeBackend('web', [makeServer('web-0', 30000), makeServer('web-1', 30001)], { healthCheck: slow });
    const table = makeTable([...others, web]);
    checker.sync(table);
    expect(checker.size).toBe(502);

    // A patch as RouteBuilder makes one: the map updated in place, the replaced versions listed.
    const scaled = makeBackend('web', [makeServer('web-1', 30001), makeServer('web-2', 30002)], { healthCheck: slow });
    const lookups = { get: 0, walks: 0 };
    const map = table.backends;
    const counted = new Proxy(map, {
      get(target, prop) {
        if (prop === 'get') lookups.get++;
        if (prop === Symbol.iterator || prop === 'entries' || prop === 'values' || prop === 'keys' || prop === 'forEach') lookups.walks++;
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    map.set('web', scaled);
    const patched: RouteTable = { ...table, backends: counted };
    checker.syncChanged(patched, { left: [web], entered: [scaled] });
    expect(lookups).toEqual({ get: 1, walks: 0 });
    expect(checker.size).toBe(502);
    expect(checker.view('web-0')).toBeUndefined();
    expect(checker.view('web-2')).toBeDefined();
    expect(checker.view('other7')).toBeUndefined(); // ids are the servers', not the backends'
    expect(checker.view('other7-0')).toBeDefined();

    // Two patches of one backend before a sync: what counts is the version the table holds.
    const again = makeBackend('web', [makeServer('web-3', 30003)], { healthCheck: slow });
    map.set('web', again);
    const gone = makeBackend('web', [makeServer('web-1', 30001)], { healthCheck: slow });
    checker.syncChanged(table, { left: [scaled, gone], entered: [gone, again] });
    expect(['web-1', 'web-2', 'web-3'].map((id) => checker.view(id) !== undefined)).toEqual([false, false, true]);
    checked.clear();
    await new Promise((r) => setTimeout(r, 150));
    expect([...checked].filter((address) => /:3000[0-3]$/.test(address))).toEqual(['127.0.0.1:30003']);
    checker.close();
  });

  it('checks the tasks a scale-up adds and stops checking killed ones, when the table is patched (real LB)', async () => {
    let seq = 0;
    const taskOf = (appId: string) => ({ id: `${appId.slice(1)}.t${++seq}`, appId, host: '127.0.0.1', ports: [31000 + seq], state: 'TASK_RUNNING', startedAt: '2024-01-01T00:00:00.000Z' });
    const appOf = (i: number, tasks: object[]) => ({
      id: `/app${i}`,
      instances: tasks.length,
      labels: { HAPROXY_GROUP: 'external' },
      networks: [{ mode: 'host' }],
      portDefinitions: [{ port: 10000 + i, protocol: 'tcp' }],
      healthChecks: [{ protocol: 'TCP', portIndex: 0, intervalSeconds: 60, timeoutSeconds: 5, maxConsecutiveFailures: 3 }],
      tasks,
    });
    const state = new ClusterState();
    state.replaceAll(Array.from({ length: 20 }, (_, i) => appOf(i, [taskOf(`/app${i}`)])));
    const builder = new RouteBuilder({ groups: ['external'] });
    const lb = await startLocalLb({ initialTable: builder.build(state) });
    try {
      expect(lb.checks!.size).toBe(20);
      const first = state.tasksOf('/app3')[0];
      const added = [taskOf('/app3'), taskOf('/app3')];
      const change = state.replaceApp('/app3', appOf(3, [first, ...added]))!;
      const scaled = builder.update(state, change);
      expect(scaled.patch).toBeDefined(); // the case where the backends map is shared with the last table
      await lb.apply(scaled);
      expect(lb.checks!.size).toBe(22);
      for (const task of added) expect(lb.checks!.view(`${task.id}:0`)).toMatchObject({ kind: 'tcp' });

      await lb.apply(builder.update(state, state.replaceApp('/app3', appOf(3, [added[1]]))!));
      expect(lb.checks!.size).toBe(20);
      expect(lb.checks!.view(`${first.id}:0`)).toBeUndefined();
      expect(lb.checks!.view(`${added[0].id}:0`)).toBeUndefined();
      expect(lb.checks!.view(`${added[1].id}:0`)).toBeDefined();
    } finally {
      await lb.close(0);
    }
  });
});
