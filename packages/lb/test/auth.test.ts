import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseBasicAuthorization } from '@baton/marathon';
import { authChallenge, checkBasicAuth, cryptScheme, verifyPassword } from '../src/auth.js';
import { parseAppLabels } from '../src/labels.js';

const openssl = (...args: string[]): string => execFileSync('openssl', ['passwd', ...args], { encoding: 'utf8' }).trim();
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('verifyPassword with hashes made by openssl passwd now', () => {
  it.each([
    ['-1', 'md5'],
    ['-apr1', 'apr1'],
    ['-5', 'sha256'],
    ['-6', 'sha512'],
  ])('openssl passwd %s', (flag, scheme) => {
    const password = `pw-${flag}-${Math.random().toString(36).slice(2)}`;
    const hash = openssl(flag, password);
    expect(cryptScheme(hash)).toBe(scheme);
    expect(verifyPassword(password, hash)).toBe(true);
    expect(verifyPassword(password + 'x', hash)).toBe(false);
    expect(verifyPassword('', hash)).toBe(false);
    // Cached answers stay right.
    expect(verifyPassword(password, hash)).toBe(true);
    expect(verifyPassword(password + 'x', hash)).toBe(false);
  });
});

describe('known vectors', () => {
  it('bcrypt $2a$ (OpenBSD test vector) and its $2b$/$2y$ spellings', () => {
    const hash = '$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW';
    expect(verifyPassword('U*U', hash)).toBe(true);
    expect(verifyPassword('U*U', hash.replace('$2a$', '$2b$'))).toBe(true);
    expect(verifyPassword('U*U', hash.replace('$2a$', '$2y$'))).toBe(true);
    expect(verifyPassword('U*V', hash)).toBe(false);
  });

  it('classic DES crypt (glibc crypt("pw", "ab"))', () => {
    expect(cryptScheme('abzlUXK5ed5rs')).toBe('des');
    expect(verifyPassword('pw', 'abzlUXK5ed5rs')).toBe(true);
    expect(verifyPassword('px', 'abzlUXK5ed5rs')).toBe(false);
  });

  it('an unknown or malformed hash matches nothing', () => {
    expect(verifyPassword('pw', 'plaintext-password')).toBe(false);
    expect(verifyPassword('pw', '$6$')).toBe(false);
    expect(verifyPassword('pw', '$2y$xx$broken')).toBe(false);
    expect(verifyPassword('', '')).toBe(false);
  });
});

describe('checkBasicAuth against an HAPROXY_0_AUTH label', () => {
  const hash = openssl('-1', 's3cret');
  const { ports } = parseAppLabels('/app', { HAPROXY_0_AUTH: `Private area:alice:${hash}` }, 1, { strictMode: false });
  const auth = ports[0].auth!;

  it('accepts the right user and password, in either argument order', () => {
    expect(checkBasicAuth(basic('alice', 's3cret'), auth)).toBe(true);
    expect(checkBasicAuth(auth, basic('alice', 's3cret'))).toBe(true);
    expect(checkBasicAuth('basic ' + Buffer.from('alice:s3cret').toString('base64'), auth)).toBe(true);
  });

  it.each([
    ['wrong password', basic('alice', 'nope')],
    ['wrong user', basic('bob', 's3cret')],
    ['no header', undefined],
    ['not basic', 'Bearer abc'],
    ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`],
    ['garbage', 'Basic !!!'],
  ])('rejects %s', (_name, header) => {
    expect(checkBasicAuth(header, auth)).toBe(false);
  });

  it('passwords may contain colons', () => {
    const colonHash = openssl('-1', 'a:b:c');
    expect(parseBasicAuthorization(basic('u', 'a:b:c'))).toEqual({ user: 'u', password: 'a:b:c' });
    expect(checkBasicAuth(basic('u', 'a:b:c'), { realm: 'r', user: 'u', passwordHash: colonHash })).toBe(true);
  });

  it('challenge names the realm', () => {
    expect(authChallenge(auth)).toBe('Basic realm="Private area"');
  });
});
