import { describe, expect, it } from 'vitest';
import { compareByStart, formatSeed, planSeeds, type Candidate, type SelfIdentity } from '../src/seeds.js';

function task(id: string, startedAt: string | undefined, extra: Partial<Candidate> = {}): Candidate {
  const c: Candidate = { taskId: id, host: `host-${id}`, port: 31000, running: true, healthy: true, ...extra };
  if (startedAt !== undefined) c.startedAt = startedAt;
  return c;
}

const T = (s: number) => new Date(Date.UTC(2024, 0, 1, 12, 0, s)).toISOString();

describe('compareByStart', () => {
  const cases: { name: string; a: Candidate; b: Candidate; expected: number }[] = [
    { name: 'earlier startedAt first', a: task('b', T(1)), b: task('a', T(2)), expected: -1 },
    { name: 'later startedAt second', a: task('a', T(3)), b: task('b', T(2)), expected: 1 },
    { name: 'same startedAt: earlier stagedAt first', a: task('z', T(1), { stagedAt: T(0) }), b: task('a', T(1), { stagedAt: T(1) }), expected: -1 },
    { name: 'same times: task id decides', a: task('a', T(1), { stagedAt: T(0) }), b: task('b', T(1), { stagedAt: T(0) }), expected: -1 },
    { name: 'missing startedAt sorts after any time', a: task('a', undefined), b: task('b', T(59)), expected: 1 },
    { name: 'unparsable startedAt sorts after any time', a: task('a', 'yesterday'), b: task('b', T(59)), expected: 1 },
    {
      name: 'different precision and zone compare as instants',
      a: task('b', '2024-01-01T13:00:00.5+01:00'),
      b: task('a', '2024-01-01T12:00:00.600Z'),
      expected: -1,
    },
  ];
  it.each(cases)('$name', ({ a, b, expected }) => {
    expect(Math.sign(compareByStart(a, b))).toBe(expected);
    expect(Math.sign(compareByStart(b, a))).toBe(-expected);
  });
});

describe('planSeeds', () => {
  const a = task('a', T(1));
  const b = task('b', T(2));
  const c = task('c', T(3));
  const ids = (list: Candidate[]) => list.map((x) => x.taskId);

  const cases: {
    name: string;
    tasks: Candidate[];
    self?: SelfIdentity;
    healthyOnly?: boolean;
    seeds: string[];
    position: string;
    founder: boolean;
  }[] = [
    { name: 'lone first node finds only itself and founds', tasks: [a], self: { taskId: 'a' }, seeds: ['a'], position: 'first', founder: true },
    { name: 'oldest node is first and founds', tasks: [c, a, b], self: { taskId: 'a' }, seeds: ['a', 'b', 'c'], position: 'first', founder: true },
    { name: 'middle node keeps its place', tasks: [c, a, b], self: { taskId: 'b' }, seeds: ['a', 'b', 'c'], position: 'listed', founder: false },
    { name: 'youngest node is last', tasks: [c, b, a], self: { taskId: 'c' }, seeds: ['a', 'b', 'c'], position: 'listed', founder: false },
    { name: 'no identity: same list, no founder', tasks: [b, c, a], seeds: ['a', 'b', 'c'], position: 'unknown', founder: false },
    {
      name: 'identity not yet running: not listed, never first',
      tasks: [a, task('me', undefined, { running: false, stagedAt: T(0) })],
      self: { taskId: 'me' },
      seeds: ['a'],
      position: 'absent',
      founder: false,
    },
    { name: 'no running task at all', tasks: [task('me', undefined, { running: false })], self: { taskId: 'me' }, seeds: [], position: 'absent', founder: false },
    {
      name: 'identity by host and port',
      tasks: [a, task('b', T(2), { host: '10.0.0.2', port: 31005 })],
      self: { host: '10.0.0.2', port: 31005 },
      seeds: ['a', 'b'],
      position: 'listed',
      founder: false,
    },
    {
      name: 'host matches but port does not: absent',
      tasks: [a, task('b', T(2), { host: '10.0.0.2', port: 31005 })],
      self: { host: '10.0.0.2', port: 31006 },
      seeds: ['a', 'b'],
      position: 'absent',
      founder: false,
    },
    {
      name: 'restarted node (new task, youngest) is never first',
      tasks: [b, c, task('a2', T(50))],
      self: { taskId: 'a2' },
      seeds: ['b', 'c', 'a2'],
      position: 'listed',
      founder: false,
    },
    {
      name: 'healthy-only drops unhealthy tasks',
      tasks: [a, task('b', T(2), { healthy: false }), c],
      healthyOnly: true,
      seeds: ['a', 'c'],
      position: 'unknown',
      founder: false,
    },
    {
      name: 'healthy-only keeps the unhealthy oldest task first',
      tasks: [task('a', T(1), { healthy: false }), b, c],
      self: { taskId: 'c' },
      healthyOnly: true,
      seeds: ['a', 'b', 'c'],
      position: 'listed',
      founder: false,
    },
    {
      name: 'healthy-only keeps this (starting, unhealthy) node but not first',
      tasks: [a, task('b', T(2), { healthy: false }), task('c', T(3), { healthy: false })],
      self: { taskId: 'c' },
      healthyOnly: true,
      seeds: ['a', 'c'],
      position: 'listed',
      founder: false,
    },
    {
      name: 'three unhealthy nodes starting at once: only the oldest founds',
      tasks: [task('x', T(5), { healthy: false }), task('y', T(5), { healthy: false }), task('z', T(5), { healthy: false })],
      self: { taskId: 'y' },
      healthyOnly: true,
      seeds: ['x', 'y'],
      position: 'listed',
      founder: false,
    },
    {
      name: 'tasks that are not running are left out',
      tasks: [task('k', T(0), { running: false }), b, a],
      self: { taskId: 'a' },
      seeds: ['a', 'b'],
      position: 'first',
      founder: true,
    },
  ];

  it.each(cases)('$name', ({ tasks, self, healthyOnly, seeds, position, founder }) => {
    const plan = planSeeds(tasks, { self, healthyOnly });
    expect(ids(plan.seeds)).toEqual(seeds);
    expect(plan.position).toBe(position);
    expect(plan.founder).toBe(founder);
  });

  it('gives every node the same list whatever order Marathon returns the tasks in', () => {
    const tasks = [task('n1', T(7)), task('n2', T(7)), task('n3', T(7)), task('n0', T(6))];
    const orders = [tasks, [...tasks].reverse(), [tasks[2], tasks[0], tasks[3], tasks[1]]];
    const lists = orders.flatMap((order) => tasks.map((me) => ids(planSeeds(order, { self: { taskId: me.taskId } }).seeds)));
    for (const list of lists) expect(list).toEqual(['n0', 'n1', 'n2', 'n3']);
    const founders = tasks.filter((me) => planSeeds(tasks, { self: { taskId: me.taskId } }).founder).map((t) => t.taskId);
    expect(founders).toEqual(['n0']);
  });

  it('never lists a node first unless it is the oldest running task (exhaustive over small cases)', () => {
    const base = [task('a', T(1)), task('b', T(1)), task('c', T(2)), task('d', undefined, { stagedAt: T(0) })];
    for (let mask = 0; mask < 1 << (base.length * 2); mask++) {
      const tasks = base.map((t, i) => ({ ...t, healthy: (mask >> i) % 2 === 0, running: (mask >> (i + base.length)) % 2 === 0 }));
      const oldest = [...tasks].filter((t) => t.running).sort(compareByStart)[0];
      for (const me of tasks) {
        for (const healthyOnly of [false, true]) {
          const plan = planSeeds(tasks, { self: { taskId: me.taskId }, healthyOnly });
          if (plan.seeds[0]?.taskId === me.taskId) expect(me.taskId).toBe(oldest.taskId);
          expect(plan.founder).toBe(me.running && oldest?.taskId === me.taskId);
          if (oldest) expect(plan.seeds[0].taskId).toBe(oldest.taskId);
        }
      }
    }
  });
});

describe('formatSeed', () => {
  const cases: { name: string; c: Pick<Candidate, 'host' | 'port' | 'taskId'>; form: 'hosts' | 'host:port' | 'uri'; akka?: { system?: string; protocol?: 'akka' | 'akka.tcp' }; out: string }[] = [
    { name: 'hosts', c: { taskId: 't', host: '10.0.0.1', port: 2551 }, form: 'hosts', out: '10.0.0.1' },
    { name: 'host:port', c: { taskId: 't', host: '10.0.0.1', port: 2551 }, form: 'host:port', out: '10.0.0.1:2551' },
    { name: 'IPv6 bracketed', c: { taskId: 't', host: 'fd00::1', port: 2551 }, form: 'host:port', out: '[fd00::1]:2551' },
    { name: 'classic remoting URI', c: { taskId: 't', host: 'a1', port: 2551 }, form: 'uri', akka: { system: 'meter' }, out: 'akka.tcp://meter@a1:2551' },
    { name: 'Artery URI', c: { taskId: 't', host: 'a1', port: 25520 }, form: 'uri', akka: { system: 'meter', protocol: 'akka' }, out: 'akka://meter@a1:25520' },
  ];
  it.each(cases)('$name', ({ c, form, akka, out }) => expect(formatSeed(c, form, akka)).toBe(out));

  it('names the task when it has no port', () => {
    expect(() => formatSeed({ taskId: 'meter.1', host: 'a' }, 'host:port')).toThrow(/meter\.1/);
  });
  it('asks for the system name for a URI', () => {
    expect(() => formatSeed({ taskId: 't', host: 'a', port: 1 }, 'uri')).toThrow(/--system/);
  });
});
