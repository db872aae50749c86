import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  agentSuffix,
  canonicalTaskLabel,
  domainFrag,
  mapLabelChars,
  rfc1123Label,
  rfc952Label,
  taskHash,
  toHostname,
  trimCut,
  zbase32,
} from '../src/naming.js';

describe('label sanitising (Mesos-DNS labels.go)', () => {
  it.each([
    ['ABC', 'abc'],
    ['web.api', 'web-api'],
    ['my_app', 'my-app'],
    ['a b$c', 'abc'],
    ['héllo-wörld', 'hllo-wrld'],
    ['日本', ''],
    ['0-9', '0-9'],
  ])('maps characters of %j to %j', (input, expected) => {
    expect(mapLabelChars(input)).toBe(expected);
  });

  it.each([
    // RFC 1123 (default): 63 chars, only leading/trailing hyphens trimmed
    ['mysql.db.prod', 'mysql-db-prod'],
    ['--web--', 'web'],
    ['123app', '123app'],
    ['My Framework', 'myframework'],
    ['a..b', 'a--b'],
    ['', ''],
    ['---', ''],
    ['a'.repeat(70), 'a'.repeat(63)],
    // the cut lands in a hyphen run: the run is dropped and the label refilled from after it
    ['a'.repeat(60) + '-----' + 'bcdefg', 'a'.repeat(60) + 'bcd'],
    // the refilled part is not trimmed again, so the label can end in a hyphen
    ['a'.repeat(62) + '--b-c', 'a'.repeat(62) + 'b'],
    ['a'.repeat(61) + '--' + 'b-cd', 'a'.repeat(61) + 'b-'],
    // a short rest is taken whole
    ['a'.repeat(62) + '--b', 'a'.repeat(62) + 'b'],
  ])('RFC 1123 label of %j is %j', (input, expected) => {
    expect(rfc1123Label(input)).toBe(expected);
  });

  it.each([
    ['123app', 'app'],
    ['-9-lives', 'lives'],
    ['mysql.db.prod', 'mysql-db-prod'],
    ['a'.repeat(30), 'a'.repeat(24)],
    ['abcdefghijklmnopqrstuvw-xyz', 'abcdefghijklmnopqrstuvwx'],
    ['abcdefghijklmnopqrstuvw--xyz', 'abcdefghijklmnopqrstuvwx'],
    ['42', ''],
  ])('RFC 952 label of %j is %j', (input, expected) => {
    expect(rfc952Label(input)).toBe(expected);
    expect(rfc952Label(input).length).toBeLessThanOrEqual(24);
  });

  it('trimCut with a custom cutset trims only what it is told', () => {
    expect(trimCut('xxabcxx', 4, 'x', 'x')).toBe('abc');
    expect(trimCut('abcdef', 10, '', '')).toBe('abcdef');
  });

  it.each([
    ['My Framework.v2', 'myframework.v2'],
    ['kafka', 'kafka'],
    ['a..b', 'a.b'],
    ['.x.', 'x'],
    ['123.abc', '123.abc'],
  ])('DomainFrag(%j) = %j (RFC 1123)', (input, expected) => {
    expect(domainFrag(input, '.', rfc1123Label)).toBe(expected);
  });

  it('DomainFrag drops pieces that RFC 952 empties', () => {
    expect(domainFrag('123.abc', '.', rfc952Label)).toBe('abc');
  });
});

/** zbase32 computed a second way: the bits as a binary string, cut in fives. */
function zbase32ByBits(bytes: Uint8Array): string {
  const alphabet = 'ybndrfg8ejkmcpqxot1uwisza345h769';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  while (bits.length % 5 !== 0) bits += '0';
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

describe('task hash and agent suffix', () => {
  it('encodes the zbase32 spec vectors', () => {
    expect(zbase32(Uint8Array.from([0xf0, 0xbf, 0xc7]))).toBe('6n9hq');
    expect(zbase32(Uint8Array.from([0xd4, 0x7a, 0x04]))).toBe('4t7ye');
    expect(zbase32(new Uint8Array())).toBe('');
  });

  it.each(['prod_db_mysql.instance-3f2a1b7c-1111-2222-3333-444455556666._app.1', 'web.1234', 'x', ''])(
    'hashes task id %j as the first 5 zbase32 characters of its sha1',
    (taskId) => {
      const digest = createHash('sha1').update(taskId).digest();
      expect(zbase32(digest)).toBe(zbase32ByBits(digest));
      expect(zbase32(digest)).toHaveLength(32);
      expect(taskHash(taskId)).toBe(zbase32ByBits(digest).slice(0, 5));
    },
  );

  it.each([
    ['20150101-0000-0000-0000-000000000000-S3', 's3'],
    ['c28a2184-c702-482c-91c8-5af9318434d4-S0', 's0'],
    ['noHyphen', 'nohyphen'],
  ])('agent id %j ends in %j', (agentId, suffix) => {
    expect(agentSuffix(agentId)).toBe(suffix);
  });

  it('builds the canonical label T-H-S', () => {
    const label = canonicalTaskLabel('mysql-db-prod', 'task-1', 'agent-S12');
    expect(label).toBe(`mysql-db-prod-${taskHash('task-1')}-s12`);
  });
});

describe("Marathon's toHostname", () => {
  it.each([
    ['/prod/db/mysql', 'mysql.db.prod'],
    ['/web', 'web'],
    ['prod/web/', 'web.prod'],
  ])('%j → %j', (appId, hostname) => {
    expect(toHostname(appId)).toBe(hostname);
  });
});
