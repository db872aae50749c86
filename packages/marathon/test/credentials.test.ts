import { describe, expect, it } from 'vitest';
import { redactCredentials, redactUrl, splitUrlCredentials } from '../src/credentials.js';

describe('splitUrlCredentials', () => {
  it('takes user:pass out of http(s) URLs (percent-decoded) and leaves other URLs alone', () => {
    expect(splitUrlCredentials(['http://ops:s%40cret@m1:8080', 'https://m2:8443/service/marathon', 'zk://zk1:2181/marathon'])).toEqual({
      urls: ['http://m1:8080', 'https://m2:8443/service/marathon', 'zk://zk1:2181/marathon'],
      auth: { username: 'ops', password: 's@cret' },
    });
  });

  it('keeps a password holding an unencoded @, and the first credentials found', () => {
    expect(splitUrlCredentials(['http://a:p@ss@m1:8080', 'http://b:other@m2:8080'])).toEqual({
      urls: ['http://m1:8080', 'http://m2:8080'],
      auth: { username: 'a', password: 'p@ss' },
    });
  });

  it('gives no auth when no URL carries credentials', () => {
    expect(splitUrlCredentials(['http://m1:8080'])).toEqual({ urls: ['http://m1:8080'] });
  });
});

describe('redaction', () => {
  it('redacts the user-info part of any URL', () => {
    expect(redactUrl('http://ops:secret@m1:8080/v2')).toBe('http://<redacted>@m1:8080/v2');
    expect(redactUrl('zk://u:p@ss@zk1:2181,zk2:2181/marathon')).toBe('zk://<redacted>@zk1:2181,zk2:2181/marathon');
    expect(redactUrl('http://m1:8080/a@b')).toBe('http://m1:8080/a@b');
  });

  it('redacts every URL quoted in a message', () => {
    const text = 'Marathon unavailable: http://a:one@m1:8080: refused; "zk://b:two@zk:2181/marathon" bad; mail me@example.org';
    const redacted = redactCredentials(text);
    expect(redacted).not.toMatch(/one|two/);
    expect(redacted).toBe('Marathon unavailable: http://<redacted>@m1:8080: refused; "zk://<redacted>@zk:2181/marathon" bad; mail me@example.org');
  });
});
