import { describe, expect, it } from 'vitest';
import { ResponseRateLimiter, networkKey } from '../src/rate-limit.js';

describe('response-rate limiting per client network', () => {
  it('groups clients into IPv4 /24 and IPv6 /56 networks (or the configured lengths)', () => {
    expect(networkKey('10.1.2.3', 24, 56)).toBe(networkKey('10.1.2.200', 24, 56));
    expect(networkKey('10.1.2.3', 24, 56)).not.toBe(networkKey('10.1.3.3', 24, 56));
    expect(networkKey('::ffff:10.1.2.3', 24, 56)).toBe(networkKey('10.1.2.9', 24, 56));
    expect(networkKey('2001:db8:0:ff00::1', 24, 56)).toBe(networkKey('2001:db8:0:ff12::2', 24, 56));
    expect(networkKey('2001:db8:0:100::1', 24, 56)).not.toBe(networkKey('2001:db8:0:ff00::1', 24, 56));
    expect(networkKey('10.1.2.3', 32, 128)).not.toBe(networkKey('10.1.2.4', 32, 128));
    expect(networkKey('not an ip', 24, 56)).toBeUndefined();
  });

  it('lets a second’s worth through, then slips every Nth and drops the rest, refilling with time', () => {
    const rrl = new ResponseRateLimiter({ responsesPerSecond: 5, slip: 2, ipv4PrefixLength: 24, ipv6PrefixLength: 56 });
    const verdicts = Array.from({ length: 11 }, () => rrl.check('192.0.2.1', 1000));
    expect(verdicts).toEqual(['pass', 'pass', 'pass', 'pass', 'pass', 'drop', 'slip', 'drop', 'slip', 'drop', 'slip']);
    // another network is not affected; the same network is again after 0.4 s (2 replies' worth)
    expect(rrl.check('192.0.3.1', 1000)).toBe('pass');
    expect([rrl.check('192.0.2.77', 1400), rrl.check('192.0.2.77', 1400), rrl.check('192.0.2.77', 1400)]).toEqual(['pass', 'pass', 'drop']);
  });

  it('slip 0 drops everything over the rate, slip 1 truncates everything over it', () => {
    const drop = new ResponseRateLimiter({ responsesPerSecond: 1, slip: 0, ipv4PrefixLength: 24, ipv6PrefixLength: 56 });
    expect([drop.check('192.0.2.1', 0), drop.check('192.0.2.1', 0), drop.check('192.0.2.1', 0)]).toEqual(['pass', 'drop', 'drop']);
    const tc = new ResponseRateLimiter({ responsesPerSecond: 1, slip: 1, ipv4PrefixLength: 24, ipv6PrefixLength: 56 });
    expect([tc.check('192.0.2.1', 0), tc.check('192.0.2.1', 0), tc.check('192.0.2.1', 0)]).toEqual(['pass', 'slip', 'slip']);
  });

  it('tracks at most maxNetworks networks, forgetting the least recently seen', () => {
    const rrl = new ResponseRateLimiter({ responsesPerSecond: 1, slip: 0, ipv4PrefixLength: 32, ipv6PrefixLength: 128, maxNetworks: 100 });
    for (let i = 0; i < 1000; i++) rrl.check(`10.0.${i >> 8}.${i & 255}`, 0);
    expect(rrl.size).toBe(100);
  });
});
