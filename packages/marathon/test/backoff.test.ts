import { describe, expect, it } from 'vitest';
import { createBackoff } from '../src/backoff.js';

const sequence = (values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length];
};

describe('createBackoff', () => {
  it.each([
    // random, expected delays of the first 8 attempts with the defaults (500 ms, x2, cap 30 s)
    [0, [250, 500, 1000, 2000, 4000, 8000, 15000, 15000]],
    [0.5, [375, 750, 1500, 3000, 6000, 12000, 22500, 22500]],
    [0.999999, [499, 999, 1999, 3999, 7999, 15999, 29999, 29999]],
  ])('with random() = %s grows exponentially to the cap', (r, delays) => {
    const backoff = createBackoff({ random: () => r });
    expect(delays.map(() => backoff.next())).toEqual(delays);
  });

  it('keeps the first retry under a second whatever the jitter', () => {
    for (const r of [0, 0.1, 0.5, 0.9, 0.9999999]) {
      expect(createBackoff({ random: () => r }).next()).toBeLessThan(1000);
    }
  });

  it('never exceeds maxMs, even with random() misbehaving', () => {
    const backoff = createBackoff({ initialMs: 100, maxMs: 1000, factor: 3, random: sequence([1, 2, -1, 0.7]) });
    const delays = Array.from({ length: 50 }, () => backoff.next());
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    expect(Math.min(...delays)).toBeGreaterThan(0);
    expect(delays.slice(10)).toContain(1000);
  });

  it('caps at maxMs when initialMs is larger', () => {
    expect(createBackoff({ initialMs: 5000, maxMs: 2000, random: () => 0.9999 }).next()).toBeLessThanOrEqual(2000);
  });

  it('starts over after reset()', () => {
    const backoff = createBackoff({ random: () => 0 });
    backoff.next();
    backoff.next();
    backoff.next();
    expect(backoff.attempts).toBe(3);
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(250);
  });

  it('spreads clients that failed together', () => {
    const delays = new Set(Array.from({ length: 20 }, () => createBackoff().next()));
    expect(delays.size).toBeGreaterThan(1);
  });

  it.each([{ initialMs: 0 }, { maxMs: -1 }, { factor: 0.5 }, { initialMs: Number.NaN }])('rejects %o', (opts) => {
    expect(() => createBackoff(opts)).toThrow(RangeError);
  });
});
