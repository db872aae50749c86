// Server choice (pure): roundrobin, leastconn, source; draining and passively-down servers skipped;
// retry delays growing from 1 s to 30 s; state kept by server id across table rebuilds.

import { describe, expect, it } from 'vitest';
import { Balancer, PassiveHealth, hashString } from '../src/balancer.js';
import { makeBackend, makeServer } from './helpers.js';

const servers = () => [makeServer('a', 1), makeServer('b', 2), makeServer('c', 3)];

describe('Balancer', () => {
  it('roundrobin cycles through every server', () => {
    const balancer = new Balancer();
    const backend = makeBackend('rr', servers());
    const picks = Array.from({ length: 6 }, () => balancer.pick(backend, '1.2.3.4')!.id);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('skips draining servers, excluded servers and servers marked down', () => {
    const balancer = new Balancer();
    const backend = makeBackend('rr', [makeServer('a', 1, { draining: true }), makeServer('b', 2), makeServer('c', 3)]);
    balancer.health.markFailure('c', 'ECONNREFUSED');
    for (let i = 0; i < 4; i++) expect(balancer.pick(backend, 'x')!.id).toBe('b');
    expect(balancer.pick(backend, 'x', new Set(['b']))).toBeUndefined();
  });

  it('roundrobin splits evenly over the new servers while old ones drain (blue/green), as HAProxy', () => {
    const balancer = new Balancer();
    const old = [1, 2, 3].map((i) => makeServer(`old${i}`, i, { draining: true }));
    const backend = makeBackend('bg', [old[0], makeServer('new1', 10), old[1], old[2], makeServer('new2', 11)]);
    const counts = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const id = balancer.pick(backend, 'x')!.id;
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect(Object.fromEntries(counts)).toEqual({ new1: 15, new2: 15 });
  });

  it('a retry goes only to servers that are up: one request probes at most one down server', () => {
    const balancer = new Balancer();
    const t0 = 1_000_000;
    const backend = makeBackend('scale', [makeServer('n1', 1), makeServer('n2', 2), makeServer('n3', 3), makeServer('up', 4)]);
    for (const id of ['n1', 'n2', 'n3']) balancer.health.markFailure(id, 'ECONNREFUSED', t0);
    // Their retry time has come: a first attempt may probe one of them…
    expect(['n1', 'n2', 'n3', 'up']).toContain(balancer.pick(backend, 'x', undefined, t0 + 30)!.id);
    // …and after it was refused, the retry goes to the server that is up.
    for (let i = 0; i < 4; i++) expect(balancer.pick(backend, 'x', new Set(['n1']), t0 + 30)!.id).toBe('up');
  });

  it('a retry prefers a server known to listen over new ones never reached (a scale-up)', () => {
    const balancer = new Balancer();
    const backend = makeBackend('scale', [makeServer('new1', 1), makeServer('new2', 2), makeServer('new3', 3), makeServer('old', 4)]);
    balancer.health.markSuccess('old');
    balancer.health.markFailure('new1', 'ECONNREFUSED');
    for (let i = 0; i < 4; i++) expect(balancer.pick(backend, 'x', new Set(['new1']))!.id).toBe('old');
    // Without a proven server, any server that is up is tried.
    const fresh = makeBackend('fresh', [makeServer('f1', 1), makeServer('f2', 2)]);
    expect(balancer.pick(fresh, 'x', new Set(['f1']))!.id).toBe('f2');
  });

  it('leastconn picks the server with the fewest open requests', () => {
    const balancer = new Balancer();
    const backend = makeBackend('lc', servers(), { balance: 'leastconn' });
    balancer.acquire('a');
    balancer.acquire('a');
    balancer.acquire('b');
    expect(balancer.pick(backend, 'x')!.id).toBe('c');
    balancer.acquire('c');
    balancer.acquire('c');
    expect(balancer.pick(backend, 'x')!.id).toBe('b');
    balancer.release('a');
    balancer.release('a');
    expect(balancer.pick(backend, 'x')!.id).toBe('a');
  });

  it('source hashes the client address to one server, and moves on when that server is down', () => {
    const balancer = new Balancer();
    const backend = makeBackend('src', servers(), { balance: 'source' });
    const first = balancer.pick(backend, '10.0.0.7')!.id;
    for (let i = 0; i < 5; i++) expect(balancer.pick(backend, '10.0.0.7')!.id).toBe(first);
    const chosen = new Set(Array.from({ length: 50 }, (_, i) => balancer.pick(backend, `10.0.1.${i}`)!.id));
    expect(chosen.size).toBe(3);
    balancer.health.markFailure(first, 'ECONNREFUSED');
    expect(balancer.pick(backend, '10.0.0.7')!.id).not.toBe(first);
    expect(hashString('10.0.0.7')).toBe(hashString('10.0.0.7'));
  });

  it('finds the sticky server by cookie unless it can no longer take requests', () => {
    const balancer = new Balancer();
    const list = servers();
    const backend = makeBackend('st', list, { sticky: true });
    expect(balancer.pickByCookie(backend, list[1].cookie)!.id).toBe('b');
    expect(balancer.pickByCookie(backend, 'nope')).toBeUndefined();
    balancer.health.markFailure('b', 'ECONNREFUSED');
    expect(balancer.pickByCookie(backend, list[1].cookie)).toBeUndefined();
  });

  it('keeps passive state by server id when the table is rebuilt', () => {
    const balancer = new Balancer();
    balancer.health.markFailure('b', 'ECONNREFUSED');
    const rebuilt = makeBackend('rr', servers().map((s) => ({ ...s })));
    const picks = new Set(Array.from({ length: 6 }, () => balancer.pick(rebuilt, 'x')!.id));
    expect(picks).toEqual(new Set(['a', 'c']));
    balancer.health.retainOnly(new Set(['a', 'c']));
    expect(balancer.health.state('b')).toBe('up');
  });
});

describe('PassiveHealth', () => {
  it('retries a down server after 1 s, doubling per failure up to 30 s; a success clears it', () => {
    const health = new PassiveHealth();
    const t0 = 1_000_000;
    const delays = Array.from({ length: 7 }, () => health.markFailure('s', 'ETIMEDOUT', t0));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(health.isAvailable('s', t0 + 29_999)).toBe(false);
    expect(health.isAvailable('s', t0 + 30_000)).toBe(true);
    expect(health.state('s')).toBe('down');
    health.markSuccess('s');
    expect(health.state('s')).toBe('up');
    expect(health.markFailure('s', 'x', t0)).toBe(1_000);
  });

  it('re-probes a server that refuses connections quickly (25 ms doubling to 100 ms) for 3 s, then backs off from 1 s', () => {
    const health = new PassiveHealth();
    const t0 = 1_000_000;
    const early = [0, 25, 75, 175, 275].map((at) => health.markFailure('new', 'ECONNREFUSED', t0 + at));
    expect(early).toEqual([25, 50, 100, 100, 100]);
    expect(health.isAvailable('new', t0 + 374)).toBe(false);
    expect(health.isAvailable('new', t0 + 375)).toBe(true);
    // Still refusing after the 3 s window: the slow schedule.
    expect(health.markFailure('new', 'ECONNREFUSED', t0 + 3_000)).toBe(1_000);
    expect(health.markFailure('new', 'ECONNREFUSED', t0 + 4_000)).toBe(2_000);
    // A timeout is not a refusal: the slow schedule from the start.
    expect(health.markFailure('slow', 'UND_ERR_CONNECT_TIMEOUT', t0)).toBe(1_000);
    health.markSuccess('new');
    expect(health.markFailure('new', 'ECONNREFUSED', t0 + 10_000)).toBe(25);
  });
});
