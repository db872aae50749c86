// HTTP basic auth for HAPROXY_{n}_AUTH (`realm:user:cryptpasswd`), with the crypt(3) hashes marathon-lb
// users put there: MD5 `$1$` (`openssl passwd -1`), Apache `$apr1$`, SHA-256/512 `$5$`/`$6$`, bcrypt
// `$2a$`/`$2b$`/`$2y$`, and classic 13-character DES. Hashing is slow on purpose, so results are cached
// per (hash, password): after the first request a check is a Map lookup.

import { createRequire } from 'node:module';
import bcrypt from 'bcryptjs';
import { verify as verifyShaCrypt } from 'unixcrypt';
import { parseBasicAuthorization, sameText } from '@baton/marathon';
import type { BasicAuth } from './route-table.js';

const require = createRequire(import.meta.url);
const apacheMd5 = require('apache-md5') as (password: string, salt: string) => string;
const desCrypt = require('apache-crypt') as (password: string, salt: string) => string;

const DES_HASH = /^[./0-9A-Za-z]{13}$/;


/** The hash scheme of a crypt(3) string, or undefined when baton cannot check it. */
export function cryptScheme(hash: string): 'md5' | 'apr1' | 'sha256' | 'sha512' | 'bcrypt' | 'des' | undefined {
  if (hash.startsWith('$1$')) return 'md5';
  if (hash.startsWith('$apr1$')) return 'apr1';
  if (hash.startsWith('$5$')) return 'sha256';
  if (hash.startsWith('$6$')) return 'sha512';
  if (/^\$2[aby]\$\d\d\$/.test(hash)) return 'bcrypt';
  if (DES_HASH.test(hash)) return 'des';
  return undefined;
}

function computeVerify(password: string, hash: string): boolean {
  try {
    switch (cryptScheme(hash)) {
      case 'md5':
      case 'apr1':
        return sameText(apacheMd5(password, hash), hash);
      case 'sha256':
      case 'sha512':
        return verifyShaCrypt(password, hash);
      case 'bcrypt':
        return bcrypt.compareSync(password, hash);
      case 'des':
        return sameText(desCrypt(password, hash.slice(0, 2)), hash);
      default:
        return false;
    }
  } catch {
    return false; // a malformed hash matches nothing
  }
}

const CACHE_LIMIT = 1024;
const cache = new Map<string, boolean>();

/** True when `password` matches the crypt(3) `hash`. Results are cached (bounded). */
export function verifyPassword(password: string, hash: string): boolean {
  const key = `${hash}\u0000${password}`;
  const known = cache.get(key);
  if (known !== undefined) return known;
  const result = computeVerify(password, hash);
  if (cache.size >= CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(key, result);
  return result;
}


/**
 * True when the `Authorization` header carries the label's user and a password matching its hash.
 * Takes its two arguments in either order.
 */
export function checkBasicAuth(header: string | undefined, auth: BasicAuth): boolean;
export function checkBasicAuth(auth: BasicAuth, header: string | undefined): boolean;
export function checkBasicAuth(a: string | undefined | BasicAuth, b: string | undefined | BasicAuth): boolean {
  const header = typeof a === 'object' ? (b as string | undefined) : a;
  const auth = typeof a === 'object' ? a : (b as BasicAuth);
  const credentials = parseBasicAuthorization(header);
  if (!credentials) return false;
  const userMatches = sameText(credentials.user, auth.user);
  const passwordMatches = verifyPassword(credentials.password, auth.passwordHash);
  return userMatches && passwordMatches;
}

/** `WWW-Authenticate` value for a 401 on a route guarded by `auth`. */
export function authChallenge(auth: BasicAuth): string {
  // A quoted-string without quotes, backslashes or control characters: the label cannot end the
  // value or the header.
  return `Basic realm="${auth.realm.replace(/["\\\x00-\x1f\x7f]/g, '')}"`;
}
