// The request-head checks of src/request-guard.ts (pure), table-driven.
import { describe, expect, it } from 'vitest';
import { absoluteFormAuthority, hostHeaderError, requestHeadError } from '../src/request-guard.js';

describe('hostHeaderError', () => {
  it.each(['app.test', 'APP.Test:8080', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:443', 'my_host', 'a-b.c-d.example'])('accepts %s', (host) => {
    expect(hostHeaderError(host)).toBeUndefined();
  });
  it.each(['', 'a b', 'app.test/x', 'user@app.test', 'app.test:80x', 'app.test:', 'app.test, other', '[::1', 'x\u0001', 'app.test:123456', 'h'.repeat(300)])('refuses %j', (host) => {
    expect(hostHeaderError(host)).toBeDefined();
  });
});

describe('absoluteFormAuthority', () => {
  it.each([
    ['/path?q', undefined],
    ['*', undefined],
    ['http://169.254.169.254/latest', '169.254.169.254'],
    ['http://app.test', 'app.test'],
    ['https://app.test:8443?x=1', 'app.test:8443'],
    ['http://u@h/', 'u@h'],
  ])('%s → %s', (url, authority) => {
    expect(absoluteFormAuthority(url)).toBe(authority);
  });
});

describe('requestHeadError', () => {
  it.each<[string, string[], boolean]>([
    ['/', ['app.test'], true],
    ['/', [], true],
    ['http://app.test/x', ['APP.test'], true],
    ['/', ['app.test', 'other.test'], false],
    ['/', ['bad host'], false],
    ['http://169.254.169.254/', ['app.test'], false],
    ['http://app.test/', [], false],
    ['http://u@app.test/', ['u@app.test'], false],
    ['http:///x', ['app.test'], false],
  ])('%s with Host %j → ok %s', (url, hosts, ok) => {
    expect(requestHeadError(url, hosts) === undefined).toBe(ok);
  });
});
