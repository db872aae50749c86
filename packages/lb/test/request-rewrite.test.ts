import { describe, expect, it } from 'vitest';
import { forwardedProto, removeStickyCookie, rewriteLocation, stickyCookieValue, stripProxyPath } from '../src/request-rewrite.js';

describe('request rewriting', () => {
  it('strips the proxy path prefix in any case, keeping one leading slash', () => {
    expect(stripProxyPath('/API/users?id=1', '/api')).toBe('/users?id=1');
    expect(stripProxyPath('/api', '/api')).toBe('/');
    expect(stripProxyPath('/other/x', '/api')).toBe('/other/x');
  });

  it('prefixes a Location on the backend host (or relative) with the root path', () => {
    expect(rewriteLocation('/login', 'app.example', '/app')).toBe('/app/login');
    expect(rewriteLocation('http://APP.example:8080/x', 'app.example', '/app')).toBe('http://APP.example:8080/app/x');
    expect(rewriteLocation('https://other.example/x', 'app.example', '/app')).toBe('https://other.example/x');
    expect(rewriteLocation('https://app.example/x', undefined, '/app')).toBe('https://app.example/x');
  });

  it('adds X-Forwarded-Proto https on TLS, http only when overwriting', () => {
    expect(forwardedProto(true, false)).toBe('https');
    expect(forwardedProto(false, false)).toBeUndefined();
    expect(forwardedProto(false, true)).toBe('http');
  });

  it('reads and removes the sticky cookie', () => {
    expect(stickyCookieValue('a=1; mesosphere_server_id=s2; b=2')).toBe('s2');
    expect(stickyCookieValue('xmesosphere_server_id=s2')).toBeUndefined();
    const headers = ['Cookie', 'a=1; mesosphere_server_id=s2; b=2', 'cookie', 'mesosphere_server_id=s1', 'host', 'h'];
    removeStickyCookie(headers);
    expect(headers).toEqual(['Cookie', 'a=1; b=2', 'host', 'h']);
  });
});
