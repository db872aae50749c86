// HTTP Basic auth, both ways: the `Authorization` value a client sends, and the check a server makes
// of it. Only node:crypto: light enough for any bin's start-up (`@baton/marathon/basic-auth`).

import { timingSafeEqual } from 'node:crypto';

/** `Basic base64(user:password)`, the `Authorization` value for these credentials. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/** Parses `Basic <base64(user:password)>`; undefined when the header is not that. */
export function parseBasicAuthorization(header: string | undefined): { user: string; password: string } | undefined {
  if (!header) return undefined;
  const match = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Compares two strings in time that depends only on their lengths. */
export function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** True when `header` carries exactly `expected` (`user:password`), compared in constant time. */
export function basicAuthMatches(header: string | undefined, expected: string): boolean {
  const given = parseBasicAuthorization(header);
  return given !== undefined && sameText(`${given.user}:${given.password}`, expected);
}
