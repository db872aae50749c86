import { describe, expect, it } from 'vitest';
import { bindAlpn, offersH2, toHttp1Headers } from '../src/http2-server.js';

describe('bindAlpn (HAPROXY_{n}_BIND_OPTIONS)', () => {
  it('reads the alpn list among other bind options', () => {
    expect(bindAlpn('ssl crt /x.pem alpn h2,http/1.1 ciphers HIGH')).toEqual(['h2', 'http/1.1']);
    expect(offersH2(bindAlpn('alpn h2,http/1.1'))).toBe(true);
    expect(offersH2(bindAlpn('alpn http/1.1'))).toBe(false);
    expect(bindAlpn('accept-proxy')).toBeUndefined();
    expect(bindAlpn('alpn')).toBeUndefined();
    expect(bindAlpn(undefined)).toBeUndefined();
  });
});

describe('toHttp1Headers', () => {
  it(':authority becomes host; a host field beside it is dropped; cookies are joined', () => {
    const raw = [':method', 'GET', ':path', '/', ':authority', 'web.test', ':scheme', 'https', 'host', 'other.test', 'cookie', 'a=1', 'accept', '*/*', 'cookie', 'b=2'];
    expect(toHttp1Headers(raw, false)).toEqual(['host', 'web.test', 'accept', '*/*', 'cookie', 'a=1; b=2']);
  });

  it('a host field alone is kept; a body without a length is marked chunked', () => {
    expect(toHttp1Headers([':method', 'POST', 'host', 'web.test'], true)).toEqual(['host', 'web.test', 'transfer-encoding', 'chunked']);
    expect(toHttp1Headers([':method', 'POST', 'content-length', '3'], true)).toEqual(['content-length', '3']);
  });
});
