// The admission chain, table-tested: each row is a request against one table and the answer (or the
// backend) marathon-lb's HAProxy config gives for it.

import { describe, expect, it } from 'vitest';
import { admit, CHECKS, type AdmissionRequest, type FrontendKind } from '../src/admission.js';
import type { BasicAuth } from '../src/route-table.js';
import { makeBackend, makeServer, makeTable } from './helpers.js';

const auth = (realm: string, user: string): BasicAuth => ({ realm, user, passwordHash: 'pw' });
/** Stands in for crypt(3): the password is the hash. */
const checkAuth = (a: BasicAuth, header: string | undefined): boolean =>
  header !== undefined && Buffer.from(header.replace(/^Basic /, ''), 'base64').toString() === `${a.user}:${a.passwordHash}`;
const basic = (user: string) => `Basic ${Buffer.from(`${user}:pw`).toString('base64')}`;

const server = makeServer('s', 1);
const table = makeTable([
  // Rules are in marathon-lb's order: path apps (weight 1) before root apps (weight 0).
  makeBackend('public_1', [server], { vhosts: ['shop.test'], paths: ['/public'], weight: 1 }),
  makeBackend('root_1', [server], { vhosts: ['shop.test'], auth: auth('shop', 'alice') }),
  makeBackend('plain_1', [server], { vhosts: ['mixed.test'], paths: ['/plain'], weight: 1 }),
  makeBackend('secure_1', [server], { vhosts: ['mixed.test'], redirectToHttps: true, auth: auth('mixed', 'bob') }),
  makeBackend('acl_1', [server], { vhosts: ['acl.test'], allowedNetworks: ['10.0.0.0/8'], redirectRootTo: '/home' }),
  makeBackend('home_1', [server], { vhosts: ['home.test'], redirectRootTo: '/home' }),
  makeBackend('evil_1', [server], { vhosts: ['evil.test'], auth: auth('a"b\r\nx-injected: 1', 'eve') }),
  makeBackend('svc_1', [server], { vhosts: ['svc.test'], auth: auth('svc', 'carol'), redirectToHttps: true }),
]);
const policy = { table, maxHeaders: 5, httpsPort: 8443, checkAuth };

function request(over: Partial<AdmissionRequest> & { kind?: FrontendKind; tls?: boolean; backendName?: string }): AdmissionRequest {
  const { kind, tls, backendName, ...rest } = over;
  return {
    frontend: { kind: kind ?? (tls ? 'https' : 'http'), tls: tls ?? false, backendName },
    url: '/',
    http10: false,
    headerCount: 1,
    host: 'shop.test',
    duplicateHost: false,
    authorization: undefined,
    appId: undefined,
    clientIp: '127.0.0.1',
    upgrade: false,
    ...rest,
  };
}

type Row = [string, Partial<AdmissionRequest> & { kind?: FrontendKind; tls?: boolean; backendName?: string }, number | string, Record<string, string>?];

describe('admission (one chain for requests and upgrades)', () => {
  const rows: Row[] = [
    ['too many headers', { headerCount: 6 }, 400],
    ['two Host headers', { duplicateHost: true }, 400],
    ['HTTP/1.1 without Host', { host: undefined }, 400],
    ['an expectation other than 100-continue', { expect: 'bananas' }, 417],
    ['100-continue passes', { expect: '100-continue', url: '/public/x', authorization: basic('alice') }, 'public_1'],
    ['no rule for the host', { host: 'nothing.test' }, 503],
    // Rule 1: a root app's auth covers the path app on the same host (HAProxy's frontend auth rules).
    ['a path app under a root app with auth asks for credentials', { url: '/public/x' }, 401, { 'www-authenticate': 'Basic realm="shop"' }],
    ['...and serves with them', { url: '/public/x', authorization: basic('alice') }, 'public_1'],
    ['the root app itself', { url: '/other', authorization: basic('alice') }, 'root_1'],
    ['wrong user', { url: '/other', authorization: basic('mallory') }, 401],
    ['auth on TLS too', { tls: true, url: '/public/x' }, 401],
    // Rule 1: a root app's redirect to https covers the host's path apps (plain HTTP only).
    ['a path app under a root app that redirects to https', { host: 'Mixed.Test:80', url: '/plain/a?b=1' }, 301, { location: 'https://Mixed.Test:8443/plain/a?b=1' }],
    ['an upgrade to an https-only vhost is redirected, not tunnelled in clear', { host: 'mixed.test', url: '/ws', upgrade: true }, 301, { location: 'https://mixed.test:8443/ws' }],
    ['on TLS the redirecting app asks for its credentials', { tls: true, host: 'mixed.test', url: '/plain/a' }, 401, { 'www-authenticate': 'Basic realm="mixed"' }],
    ['on TLS with credentials', { tls: true, host: 'mixed.test', url: '/plain/a', authorization: basic('bob') }, 'plain_1'],
    ['redirect and auth: on :80 the redirect (marathon-lb writes no auth rule there)', { host: 'svc.test' }, 301],
    // Backend rules come after the frontend's: network ACL, then the root redirect.
    ['network ACL', { host: 'acl.test' }, 403],
    ['network ACL allows', { host: 'acl.test', clientIp: '10.1.2.3', url: '/x' }, 'acl_1'],
    ['root redirect', { host: 'home.test' }, 301, { location: '/home' }],
    ['root redirect only for /', { host: 'home.test', url: '/x' }, 'home_1'],
    ['a service port is not a vhost: no host rules', { kind: 'service', backendName: 'root_1', host: 'whatever' }, 'root_1'],
    ['app-id port', { kind: 'appid', appId: '/PUBLIC_1', host: 'x' }, 'public_1'],
    ['app-id port, unknown app', { kind: 'appid', appId: '/nope', host: 'x' }, 503],
    ['SNI when Host has no rule', { tls: true, host: 'x.test', sni: 'home.test', url: '/x' }, 'home_1'],
  ];

  it.each(rows)('%s', (_name, over, expected, headers) => {
    const result = admit(request(over), policy);
    if (typeof expected === 'string') {
      expect(result.answer).toBeUndefined();
      expect(result.route?.backend.name).toBe(expected);
      return;
    }
    expect(result.answer?.status).toBe(expected);
    const got: Record<string, string> = {};
    const list = result.answer!.headers;
    for (let i = 0; i < list.length; i += 2) got[list[i]] = list[i + 1];
    if (headers !== undefined) expect(got).toMatchObject(headers);
    if (expected === 301) {
      // As HAProxy: a redirect carries Location and no Cache-Control (nor a body).
      expect(got['cache-control']).toBeUndefined();
      expect(result.answer!.body).toBe('');
    }
  });

  it('each check answers or passes on; the chain stops at the first answer', () => {
    const seen: string[] = [];
    const checks = CHECKS.map((check, i) => (req: AdmissionRequest, p: typeof policy, state: object) => {
      seen.push(String(i));
      return check(req, p, state);
    });
    expect(admit(request({ url: '/public/x' }), policy, checks).answer?.status).toBe(401);
    expect(seen).toEqual(['0', '1', '2', '3', '4']);
  });

  it('a realm from a label cannot end the header or inject another, on upgrades too', () => {
    const answer = admit(request({ host: 'evil.test', upgrade: true }), policy).answer!;
    expect(answer.status).toBe(401);
    const challenge = answer.headers[answer.headers.indexOf('www-authenticate') + 1];
    expect(challenge).toBe('Basic realm="abx-injected: 1"');
    expect(answer.headers.join('\n')).not.toMatch(/[\r\0]|\nx-injected/i);
  });
});
