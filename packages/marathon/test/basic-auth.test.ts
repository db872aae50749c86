import { describe, expect, it } from 'vitest';
import { basicAuthMatches, basicAuthorization, parseBasicAuthorization } from '../src/basic-auth.js';

describe('HTTP Basic auth', () => {
  it('builds the header a server parses back, passwords with colons and non-ASCII included', () => {
    expect(basicAuthorization('alice', 's3cret')).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(parseBasicAuthorization(basicAuthorization('u', 'a:b:ç'))).toEqual({ user: 'u', password: 'a:b:ç' });
    expect(parseBasicAuthorization('  basic ' + Buffer.from('u:p').toString('base64') + ' ')).toEqual({ user: 'u', password: 'p' });
  });

  it('refuses what is not Basic credentials', () => {
    for (const header of [undefined, '', 'Bearer abc', 'Basic', `Basic ${Buffer.from('nocolon').toString('base64')}`, 'Basic a b']) {
      expect(parseBasicAuthorization(header)).toBeUndefined();
      expect(basicAuthMatches(header, 'nocolon')).toBe(false);
    }
  });

  it('matches exactly the expected user:password', () => {
    expect(basicAuthMatches(basicAuthorization('admin', 'pw'), 'admin:pw')).toBe(true);
    expect(basicAuthMatches(basicAuthorization('admin', 'pw2'), 'admin:pw')).toBe(false);
    expect(basicAuthMatches(basicAuthorization('admin', 'p'), 'admin:pw')).toBe(false);
    expect(basicAuthMatches(basicAuthorization('Admin', 'pw'), 'admin:pw')).toBe(false);
  });
});
