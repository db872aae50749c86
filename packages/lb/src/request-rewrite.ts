// Request and response rewriting for HTTP backends (pure): marathon-lb's proxy paths, Location
// rewriting, X-Forwarded-Proto and the sticky-session cookie.

/** The cookie HAProxy inserts for sticky sessions (`cookie mesosphere_server_id insert indirect`). */
export const STICKY_COOKIE = 'mesosphere_server_id';

/**
 * `_HTTP_BACKEND_PROXYPASS_PATH`: `/prefix/rest` → `/rest`, the prefix in any case (as marathon-lb's
 * `reqirep`, a case-insensitive replace).
 */
export function stripProxyPath(url: string, prefix: string): string {
  if (url.length < prefix.length || url.slice(0, prefix.length).toLowerCase() !== prefix.toLowerCase()) return url;
  let rest = url.slice(prefix.length);
  if (rest.charCodeAt(0) === 47) rest = rest.slice(1);
  return `/${rest}`;
}

/** `_HTTP_BACKEND_REVPROXY_PATH`: prefixes the path of a Location on the backend's host (or relative). */
export function rewriteLocation(location: string, hostname: string | undefined, rootPath: string): string {
  if (location.charCodeAt(0) === 47) return rootPath + location;
  if (hostname === undefined) return location;
  const m = /^(https?:\/\/)([^/]*)(\/.*)$/i.exec(location);
  if (m === null) return location;
  const authority = m[2].toLowerCase();
  const colon = authority.indexOf(':');
  const host = colon === -1 ? authority : authority.slice(0, colon);
  if (host !== hostname || (colon !== -1 && !/^:\d+$/.test(authority.slice(colon)))) return location;
  return m[1] + m[2] + rootPath + m[3];
}

/**
 * The `X-Forwarded-Proto` to add, if any. As marathon-lb (`http-request add-header X-Forwarded-Proto
 * https if { ssl_fc }`): `https` on TLS, nothing on plain HTTP, the client's own header passed through
 * either way. With `overwrite` (--overwrite-forwarded-proto) the client's header is dropped and
 * `http`/`https` set.
 */
export function forwardedProto(tls: boolean, overwrite: boolean): string | undefined {
  if (tls) return 'https';
  return overwrite ? 'http' : undefined;
}

/**
 * Removes the sticky cookie from a request's `Cookie` headers (flat name/value list), as HAProxy's
 * `cookie ... insert indirect` does before the request reaches the server; a header left empty goes.
 */
export function removeStickyCookie(headers: string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length !== 6 || headers[i].toLowerCase() !== 'cookie' || !headers[i + 1].includes(STICKY_COOKIE)) continue;
    const kept = headers[i + 1]
      .split(';')
      .filter((pair) => {
        const eq = pair.indexOf('=');
        return (eq === -1 ? pair : pair.slice(0, eq)).trim() !== STICKY_COOKIE;
      })
      .map((pair) => pair.trim())
      .join('; ');
    if (kept === '') {
      headers.splice(i, 2);
      i -= 2;
    } else headers[i + 1] = kept;
  }
}

/** The sticky cookie's value in a `Cookie` header, if present. */
export function stickyCookieValue(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  const at = cookie.indexOf(`${STICKY_COOKIE}=`);
  if (at === -1) return undefined;
  if (at > 0) {
    const before = cookie.charCodeAt(at - 1);
    if (before !== 32 && before !== 59) return undefined;
  }
  const start = at + STICKY_COOKIE.length + 1;
  const end = cookie.indexOf(';', start);
  return (end === -1 ? cookie.slice(start) : cookie.slice(start, end)).trim();
}
