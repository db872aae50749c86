import { describe, expect, it } from 'vitest';
import { ipv6Text } from '@baton/marathon';

describe('ipv6Text (RFC 5952)', () => {
  it.each([
    [[0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], '2001:db8::1'],
    [[0, 0, 0, 0, 0, 0, 0, 1], '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0], '::'],
    [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], '2001:db8:0:1:1:1:1:1'], // a single zero group stays
    [[0x2001, 0, 0, 1, 0, 0, 0, 1], '2001:0:0:1::1'], // the longest run is compressed
    [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], '2001:db8::1:0:0:1'], // the first of two equal runs
    [[0xfe80, 0, 0, 0, 0xabcd, 0xef, 0, 0], 'fe80::abcd:ef:0:0'],
  ])('%j → %s', (groups, text) => {
    expect(ipv6Text(groups)).toBe(text);
  });
});
