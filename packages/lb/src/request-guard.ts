// Checks on a request head that Node's HTTP parser leaves to the application (pure). Node already
// refuses Content-Length with Transfer-Encoding, duplicate Content-Length, obs-fold, bad chunk sizes,
// oversized heads and a missing Host on HTTP/1.1; what is left here is the Host header itself and an
// absolute-form target naming another authority. A refused request is answered locally (400) and
// never forwarded: the route table's servers are the only place a request can go.

/** A host name (letters, digits, `-`, `_`, `.`), an IPv4 literal or a bracketed IPv6 literal, then an optional `:port`. */
const VALID_HOST = /^(?:[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Why a `Host` header value is unusable, or undefined when it is valid. */
export function hostHeaderError(value: string): string | undefined {
  if (value === '') return 'empty Host header';
  if (value.length > 262 || !VALID_HOST.test(value)) return 'invalid Host header';
  return undefined;
}

/**
 * The authority of an absolute-form request target (`http://host:port/path`), or undefined for any
 * other form (origin-form `/path`, asterisk-form `*`).
 */
export function absoluteFormAuthority(url: string): string | undefined {
  if (url.charCodeAt(0) === 47 /* / */ || url === '*') return undefined;
  const scheme = url.indexOf('://');
  if (scheme === -1) return undefined;
  let end = url.length;
  for (let i = scheme + 3; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
  }
  return url.slice(scheme + 3, end);
}

/**
 * Why the request must be refused with 400, or undefined. `hosts` are the values of every `Host`
 * header, in order. RFC 9112 §3.2: more than one Host, or an invalid one, is a 400; with an
 * absolute-form target the target's authority must agree with Host (HAProxy's rule), so that the
 * name a request is routed by is the name the server sees.
 */
export function requestHeadError(url: string, hosts: readonly string[]): string | undefined {
  if (hosts.length > 1) return 'more than one Host header';
  const host = hosts[0];
  if (host !== undefined) {
    const why = hostHeaderError(host);
    if (why !== undefined) return why;
  }
  const authority = absoluteFormAuthority(url);
  if (authority !== undefined) {
    if (authority === '' || authority.includes('@')) return 'invalid authority in the request target';
    if (host === undefined || authority.toLowerCase() !== host.toLowerCase()) return 'request target and Host header name different hosts';
  }
  return undefined;
}

/**
 * `connect` events: baton-lb is a reverse proxy, never a forward one, so CONNECT is answered 405
 * and the connection closed (without a listener Node would just drop it).
 */
export function refuseConnect(_req: unknown, socket: { end(data: string): void; on(event: 'error', listener: () => void): unknown }): void {
  socket.on('error', () => {});
  const body = 'Method not allowed: baton-lb is not a forward proxy\n';
  socket.end(`HTTP/1.1 405 Method Not Allowed\r\nallow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
}
