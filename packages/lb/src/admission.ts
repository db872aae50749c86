// Admission: whether a request (or an Upgrade request) goes to a backend, and which one, or what the
// LB answers itself. One chain of checks shared by proxy.ts (requests) and tunnel.ts (upgrades); each
// check answers or passes on to the next, in the order HAProxy runs marathon-lb's config:
//
//   head limits → route (use_backend) → every matching rule's auth on the host (frontend
//   `http-request auth`) → every matching rule's redirect to https (frontend `redirect`) → the
//   backend's network ACL (backend `http-request deny`) → the backend's root redirect.
//
// HAProxy evaluates all `http-request` and `redirect` rules of a frontend before any `use_backend`, so
// an auth or redirect rule of one app on a host covers the requests another app on the host serves
// (a root app's auth guards the host's path apps). Pure: no sockets, no clock.

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { authChallenge } from './auth.js';
import { requestHeadError } from './request-guard.js';
import type { Backend, BasicAuth, HttpRule, RouteTable } from './route-table.js';

/** `http` = :80, `https` = :443, `appid` = :9091 (X-Marathon-App-Id), `service` = one service port. */
export type FrontendKind = 'http' | 'https' | 'appid' | 'service';

// ---------------------------------------------------------------------------------------------
// Route lookup

/** `Host` lower-cased, without `:port` (IPv6 literals keep their brackets). */
export function normalizeHost(host: string | undefined): string {
  return bareHost(host).toLowerCase();
}

/** `Host` without `:port`, in the client's case. */
export function bareHost(host: string | undefined): string {
  if (!host) return '';
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close === -1 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(':');
    if (colon !== -1) end = colon;
  }
  return end === host.length ? host : host.slice(0, end);
}

function ruleMatchesPath(rule: HttpRule, path: string): boolean {
  const paths = rule.paths;
  if (paths.length === 0) return true;
  if (rule.caseInsensitivePath) {
    const lower = path.toLowerCase();
    for (let i = 0; i < paths.length; i++) if (lower.startsWith(paths[i].toLowerCase())) return true;
    return false;
  }
  for (let i = 0; i < paths.length; i++) if (path.startsWith(paths[i])) return true;
  return false;
}

function wildcardMatches(pattern: string, host: string): boolean {
  // `*.example.com` matches `a.example.com` and `a.b.example.com`, not `example.com`.
  const suffix = pattern.slice(1);
  return host.length > suffix.length && host.endsWith(suffix);
}

/** The first rule for `host` (already normalised) and `path`: exact hosts first, then wildcards. */
export function matchHttpRule(table: RouteTable, host: string, path: string): HttpRule | undefined {
  const exact = table.hostIndex.get(host);
  if (exact !== undefined) {
    for (let i = 0; i < exact.length; i++) if (ruleMatchesPath(exact[i], path)) return exact[i];
  }
  const wild = table.wildcardRules;
  for (let i = 0; i < wild.length; i++) {
    const rule = wild[i];
    if (wildcardMatches(rule.host, host) && ruleMatchesPath(rule, path)) return rule;
  }
  return undefined;
}

/**
 * The backends of every rule matching `host` and `path`, in evaluation order (the first is the
 * route), until `visit` returns true.
 */
function someMatchingBackend(table: RouteTable, host: string, path: string, visit: (backend: Backend) => boolean): boolean {
  const exact = table.hostIndex.get(host);
  if (exact !== undefined) {
    for (let i = 0; i < exact.length; i++) {
      if (!ruleMatchesPath(exact[i], path)) continue;
      const backend = table.backends.get(exact[i].backend);
      if (backend !== undefined && visit(backend)) return true;
    }
  }
  const wild = table.wildcardRules;
  for (let i = 0; i < wild.length; i++) {
    const rule = wild[i];
    if (!wildcardMatches(rule.host, host) || !ruleMatchesPath(rule, path)) continue;
    const backend = table.backends.get(rule.backend);
    if (backend !== undefined && visit(backend)) return true;
  }
  return false;
}

/** The path part of a request target (origin-form or absolute-form), without the query. */
export function requestPath(url: string): string {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.indexOf('://');
    if (scheme !== -1) {
      const slash = url.indexOf('/', scheme + 3);
      if (slash === -1) return '/';
      start = slash;
    }
  }
  const q = url.indexOf('?', start);
  return q === -1 ? (start === 0 ? url : url.slice(start)) : url.slice(start, q);
}

/** The request target as sent upstream: origin-form. */
export function originForm(url: string): string {
  if (url.charCodeAt(0) === 47) return url;
  const scheme = url.indexOf('://');
  if (scheme === -1) return url === '*' ? url : `/${url}`;
  const slash = url.indexOf('/', scheme + 3);
  if (slash !== -1) return url.slice(slash);
  const q = url.indexOf('?', scheme + 3);
  return q === -1 ? '/' : `/${url.slice(q)}`;
}

/** A routed request: the backend, and the host its vhost rule matched (undefined off :80/:443). */
export interface Route {
  backend: Backend;
  vhost: boolean;
  /** The normalised host the rules were looked up with (Host, else the TLS server name). */
  ruleHost?: string;
}

/** Finds the backend for a request on a frontend, or undefined (→ 503). */
export function resolveRoute(
  table: RouteTable,
  frontend: { kind: FrontendKind; backendName?: string },
  host: string | undefined,
  path: string,
  appId: string | undefined,
  sni?: string,
): Route | undefined {
  switch (frontend.kind) {
    case 'service': {
      const backend = frontend.backendName === undefined ? undefined : table.backends.get(frontend.backendName);
      return backend === undefined ? undefined : { backend, vhost: false };
    }
    case 'appid': {
      if (appId === undefined) return undefined;
      const name = table.appIdIndex.get(appId.toLowerCase());
      const backend = name === undefined ? undefined : table.backends.get(name);
      return backend === undefined ? undefined : { backend, vhost: false };
    }
    default: {
      let ruleHost = normalizeHost(host);
      let rule = matchHttpRule(table, ruleHost, path);
      if (rule === undefined && sni) {
        ruleHost = sni.toLowerCase();
        rule = matchHttpRule(table, ruleHost, path);
      }
      const backend = rule === undefined ? undefined : table.backends.get(rule.backend);
      return backend === undefined ? undefined : { backend, vhost: true, ruleHost };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Network ACL

const aclCache = new WeakMap<Backend, BlockList>();

/** The client address without the IPv4-mapped IPv6 prefix. */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return '';
  return remote.startsWith('::ffff:') && isIPv4(remote.slice(7)) ? remote.slice(7) : remote;
}

/** True when `_BACKEND_NETWORK_ALLOWED_ACL` is empty or names a network holding `ip`. */
export function networkAllowed(backend: Backend, ip: string): boolean {
  if (backend.allowedNetworks.length === 0) return true;
  let list = aclCache.get(backend);
  if (list === undefined) {
    list = new BlockList();
    for (const cidr of backend.allowedNetworks) {
      const [addr, bitsText] = cidr.split('/');
      const family = isIPv6(addr) ? 'ipv6' : isIPv4(addr) ? 'ipv4' : undefined;
      if (family === undefined) continue;
      const bits = bitsText === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bitsText);
      if (!Number.isInteger(bits)) continue;
      try {
        list.addSubnet(addr, bits, family);
      } catch {
        // a malformed CIDR allows nobody; the route builder reports it
      }
    }
    aclCache.set(backend, list);
  }
  if (isIPv4(ip)) return list.check(ip, 'ipv4');
  if (isIPv6(ip)) return list.check(ip, 'ipv6');
  return false;
}

// ---------------------------------------------------------------------------------------------
// The chain

/** What admission needs to know about a request head. */
export interface AdmissionRequest {
  frontend: { kind: FrontendKind; tls: boolean; backendName?: string };
  url: string;
  http10: boolean;
  /** Header lines in the request head. */
  headerCount: number;
  host: string | undefined;
  duplicateHost: boolean;
  /** The `Expect` header (ignored on upgrades). */
  expect?: string;
  authorization: string | undefined;
  appId: string | undefined;
  /** TLS server name, on TLS listeners. */
  sni?: string;
  clientIp: string;
  /** An Upgrade request (tunnel.ts). */
  upgrade: boolean;
}

/** The LB's side of admission: the table and the settings the checks read. */
export interface AdmissionPolicy {
  table: RouteTable;
  /** Most request headers accepted; more → 400. */
  maxHeaders: number;
  /** Port of the HTTPS listener, for redirects (443 → no port in the URL). */
  httpsPort: number;
  checkAuth(auth: BasicAuth, authorization: string | undefined): boolean;
}

/** A response the LB gives itself. */
export interface Answer {
  status: number;
  /** Flat name/value list, without framing (content-length, connection). */
  headers: string[];
  body: string;
  /** Close the connection after answering (the head could not be trusted). */
  close: boolean;
  /** Counted as a bad request (HAProxy `ereq`). */
  requestError: boolean;
}

/** Admitted: the route. Refused: the answer (with the route, when one was found). */
export type Admission = { answer: Answer; route?: Route } | { answer?: undefined; route: Route };

/** What the checks found so far. */
export interface AdmissionState {
  route?: Route;
}

/** One link of the chain: an answer, or undefined to pass the request on. */
export type Check = (req: AdmissionRequest, policy: AdmissionPolicy, state: AdmissionState) => Answer | undefined;

const TEXT = ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'no-cache'];

export const MESSAGES: Record<number, string> = {
  400: 'Bad request: too many headers\n',
  401: 'Unauthorized\n',
  403: 'Forbidden\n',
  417: 'Expectation failed: only 100-continue is supported\n',
  502: 'Bad gateway: the server could not be reached\n',
  503: 'Service unavailable: no server is available to handle this request\n',
  504: 'Gateway timeout: the server did not answer in time\n',
};

function textAnswer(status: number, body: string, options: { close?: boolean; requestError?: boolean; headers?: string[] } = {}): Answer {
  return {
    status,
    headers: options.headers === undefined ? TEXT : [...TEXT, ...options.headers],
    body,
    close: options.close ?? false,
    requestError: options.requestError ?? false,
  };
}

/** A redirect as HAProxy sends one: `Location` and an empty body, nothing else (no Cache-Control). */
function redirectAnswer(location: string): Answer {
  return { status: 301, headers: ['location', location], body: '', close: false, requestError: false };
}

/** Why a request head is refused with 400 (see request-guard.ts), or undefined. */
export function headRefusal(head: { host: string | undefined; duplicateHost: boolean }, url: string, http10: boolean): string | undefined {
  if (head.duplicateHost) return 'more than one Host header';
  if (head.host === undefined && !http10) return 'missing Host header';
  return requestHeadError(url, head.host === undefined ? NO_HOSTS : [head.host]);
}
const NO_HOSTS: readonly string[] = [];

export const headerLimit: Check = (req, policy) =>
  req.headerCount > policy.maxHeaders ? textAnswer(400, MESSAGES[400], { close: true, requestError: true }) : undefined;

export const headSyntax: Check = (req) => {
  const refusal = headRefusal(req, req.url, req.http10);
  return refusal === undefined ? undefined : textAnswer(400, `Bad request: ${refusal}\n`, { close: true, requestError: true });
};

/** As Node's http server: 100-continue is accepted (and answered once admitted), any other expectation refused. */
export const expectation: Check = (req) => {
  if (req.upgrade || req.expect === undefined || req.http10 || req.expect.toLowerCase() === '100-continue') return undefined;
  return textAnswer(417, MESSAGES[417], { close: true, requestError: true });
};

export const route: Check = (req, policy, state) => {
  const sni = req.frontend.tls ? req.sni : undefined;
  state.route = resolveRoute(policy.table, req.frontend, req.host, requestPath(req.url), req.appId, sni);
  return state.route === undefined ? textAnswer(503, MESSAGES[503], { requestError: true }) : undefined;
};

/**
 * marathon-lb's frontend `http-request auth` rules: every rule matching the host and path whose app has
 * HAPROXY_{n}_AUTH asks for that app's credentials, whichever app serves the request. On :80 an app
 * that redirects to https has a redirect instead of an auth rule.
 */
export const hostAuth: Check = (req, policy, state) => {
  const found = state.route!;
  if (!found.vhost) return undefined;
  let challenge: BasicAuth | undefined;
  someMatchingBackend(policy.table, found.ruleHost!, requestPath(req.url), (backend) => {
    if (backend.auth === undefined || (!req.frontend.tls && backend.redirectToHttps)) return false;
    if (policy.checkAuth(backend.auth, req.authorization)) return false;
    challenge = backend.auth;
    return true;
  });
  return challenge === undefined ? undefined : textAnswer(401, MESSAGES[401], { headers: ['www-authenticate', authChallenge(challenge)] });
};

/**
 * marathon-lb's frontend `redirect scheme https code 301 if !{ ssl_fc } host [path]`: any matching rule
 * of an app with HAPROXY_{n}_REDIRECT_TO_HTTPS redirects, whichever app serves the request. The host
 * keeps the client's case; its port becomes the HTTPS listener's.
 */
export const hostRedirect: Check = (req, policy, state) => {
  const found = state.route!;
  if (!found.vhost || req.frontend.tls) return undefined;
  const redirects = someMatchingBackend(policy.table, found.ruleHost!, requestPath(req.url), (backend) => backend.redirectToHttps);
  if (!redirects) return undefined;
  const host = bareHost(req.host) || found.ruleHost || found.backend.vhosts[0] || 'localhost';
  const port = policy.httpsPort === 443 ? '' : `:${policy.httpsPort}`;
  return redirectAnswer(`https://${host}${port}${originForm(req.url)}`);
};

/** The backend's HAPROXY_{n}_BACKEND_NETWORK_ALLOWED_ACL (HAProxy backend `http-request deny`). */
export const networkAcl: Check = (req, _policy, state) =>
  networkAllowed(state.route!.backend, req.clientIp) ? undefined : textAnswer(403, MESSAGES[403], { requestError: true });

/** The backend's HAPROXY_{n}_HTTP_BACKEND_REDIR: `/` → the label's path. */
export const rootRedirect: Check = (req, _policy, state) => {
  const found = state.route!;
  const target = found.backend.redirectRootTo;
  if (!found.vhost || target === undefined || requestPath(req.url) !== '/') return undefined;
  return redirectAnswer(target);
};

/** The chain, in order. */
export const CHECKS: readonly Check[] = [headerLimit, headSyntax, expectation, route, hostAuth, hostRedirect, networkAcl, rootRedirect];

/** Runs the chain: the first answer wins; a request no check answers is admitted to its route. */
export function admit(req: AdmissionRequest, policy: AdmissionPolicy, checks: readonly Check[] = CHECKS): Admission {
  const state: AdmissionState = {};
  for (let i = 0; i < checks.length; i++) {
    const answer = checks[i](req, policy, state);
    if (answer !== undefined) return state.route === undefined ? { answer } : { answer, route: state.route };
  }
  return { route: state.route! };
}
