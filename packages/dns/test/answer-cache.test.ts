// The answer cache: wildcard answers cached and invalidated with their cleaned name, a size bound
// with least-recently-used eviction, and the counts /metrics reports.
import { afterEach, describe, expect, it } from 'vitest';
import { Answers, udpReplyLimit } from '../src/answers.js';
import { QTYPE, encodeQuery, parseQuery } from '../src/wire.js';
import { MapView, decode, testConfig } from './helpers/map-view.js';

const open: Answers[] = [];
afterEach(() => {
  while (open.length) open.pop()!.close();
});

function setup(cacheSize?: number) {
  const view = new MapView('mesos');
  const config = testConfig(cacheSize === undefined ? {} : { cacheSize });
  const answers = new Answers(view, config);
  open.push(answers);
  const ask = (name: string, qtype: number) => {
    const msg = encodeQuery(1, name, qtype);
    const q = parseQuery(msg);
    return decode(answers.reply(msg, q, udpReplyLimit(q, config.maxUdpPayload)));
  };
  return { view, answers, ask };
}

describe('answer cache', () => {
  it('caches wildcard answers and rebuilds them when the cleaned name or an SRV target changes', () => {
    const { view, answers, ask } = setup();
    view.set('_web._tcp.marathon.mesos', { srv: [{ target: 'web-a-s1.marathon.mesos', port: 31000 }] });
    view.set('web-a-s1.marathon.mesos', { a: ['10.0.0.1'] });
    for (let i = 0; i < 100; i++) expect(ask('_web._tcp.*.marathon.mesos', QTYPE.SRV).answers).toHaveLength(1);
    expect(answers.stats()).toMatchObject({ size: 1, hits: 99, misses: 1 });

    view.set('_web._tcp.marathon.mesos', {
      srv: [
        { target: 'web-a-s1.marathon.mesos', port: 31000 },
        { target: 'web-b-s2.marathon.mesos', port: 31001 },
      ],
    });
    expect(ask('_web._tcp.*.marathon.mesos', QTYPE.SRV).answers).toHaveLength(2);
    view.set('web-a-s1.marathon.mesos', { a: ['10.0.0.9'] });
    expect(ask('_web._tcp.*.marathon.mesos', QTYPE.SRV).additionals.map((r) => r.address)).toEqual(['10.0.0.9']);
    expect(answers.stats().misses).toBe(3);
  });

  it('keeps at most cacheSize answers, evicting the least recently used', () => {
    const { view, answers, ask } = setup(100);
    view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
    ask('web.marathon.mesos', QTYPE.A);
    for (let qtype = 1000; qtype < 1500; qtype++) {
      ask(`n${qtype}.*.marathon.mesos`, QTYPE.A);
      ask('web.marathon.mesos', qtype);
      if (qtype % 10 === 0) ask('web.marathon.mesos', QTYPE.A); // kept in use: never evicted
    }
    const stats = answers.stats();
    expect(stats.size).toBeLessThanOrEqual(100);
    expect(stats.maxSize).toBe(100);
    expect(stats.evictions).toBe(1001 - stats.size);
    const misses = stats.misses;
    expect(ask('web.marathon.mesos', QTYPE.A).answers.map((r) => r.address)).toEqual(['10.0.0.1']);
    expect(answers.stats().misses).toBe(misses);
    // An evicted answer is built again, and is still right.
    expect(ask('n1000.*.marathon.mesos', QTYPE.A).header.rcode).toBe(3);
    expect(answers.stats().misses).toBe(misses + 1);
  });

  it('keeps at most 16 replies per name, so one name asked every qtype cannot flush the others', () => {
    const { view, answers, ask } = setup(100);
    for (let i = 0; i < 50; i++) {
      view.set(`app${i}.marathon.mesos`, { a: [`10.0.1.${i}`] });
      ask(`app${i}.marathon.mesos`, QTYPE.A);
    }
    view.set('web.marathon.mesos', { a: ['10.0.0.1'] });
    for (let qtype = 1000; qtype < 2000; qtype++) ask('web.marathon.mesos', qtype);
    expect(answers.stats().size).toBe(50 + 16);
    const misses = answers.stats().misses;
    for (let i = 0; i < 50; i++) expect(ask(`app${i}.marathon.mesos`, QTYPE.A).answers.map((r) => r.address)).toEqual([`10.0.1.${i}`]);
    expect(answers.stats().misses).toBe(misses);
  });

  it('forgets the evicted answers in its invalidation index', () => {
    const { view, answers, ask } = setup(10);
    view.set('_web._tcp.marathon.mesos', { srv: [{ target: 'web-a-s1.marathon.mesos', port: 31000 }] });
    for (let i = 0; i < 1000; i++) ask(`_web._tcp${'.*'.repeat(1 + (i % 50))}.marathon.mesos`, i < 500 ? QTYPE.SRV : QTYPE.ANY);
    expect(answers.stats().size).toBe(10);
    // The index holds only what the cache holds: the cleaned name points at ≤ 10 answers.
    const dependents = (answers as unknown as { dependents: Map<string, Set<string>> }).dependents;
    expect(dependents.get('_web._tcp.marathon.mesos')?.size).toBeLessThanOrEqual(10);
    expect(dependents.get('web-a-s1.marathon.mesos')?.size ?? 0).toBeLessThanOrEqual(10);
  });
});
