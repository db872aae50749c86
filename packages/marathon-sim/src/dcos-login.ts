// DC/OS's service-account login (`POST /acs/api/v1/auth/login`), emulated: the login JWT must be
// signed RS256 with the account's private key (checked against its public key), name the account and
// not be expired; the answer is a token (JWT-shaped, with its own `exp`) that Marathon paths accept as
// `Authorization: token=…` until it expires.
import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';

export interface DcosLoginOptions {
  /** Service accounts: uid → public key (PEM text or KeyObject). */
  accounts: Record<string, string | KeyObject>;
  /** Longest lifetime of an issued token, in ms (default 5 days, DC/OS's). */
  tokenTtlMs?: number;
  now?: () => number;
}

export interface LoginAnswer {
  status: number;
  body: Record<string, unknown>;
  token?: string;
}

/** Issued tokens kept at most; the oldest is forgotten first. */
const MAX_TOKENS = 10_000;

function refused(status: number, code: string, description: string): LoginAnswer {
  return { status, body: { title: status === 400 ? 'Bad Request' : 'Unauthorized', description, code } };
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export class DcosLoginEmulator {
  private readonly keys = new Map<string, KeyObject>();
  private readonly tokens = new Map<string, { uid: string; expiresAt: number }>();
  private readonly now: () => number;
  readonly tokenTtlMs: number;
  /** Logins answered with a token, per uid (tests watch renewals). */
  readonly logins = new Map<string, number>();

  constructor(options: DcosLoginOptions) {
    for (const [uid, key] of Object.entries(options.accounts)) this.keys.set(uid, typeof key === 'string' ? createPublicKey(key) : key);
    this.tokenTtlMs = options.tokenTtlMs ?? 5 * 24 * 3600 * 1000;
    this.now = options.now ?? Date.now;
  }

  /** Answers a login request body (`{uid, token, exp?}`) as DC/OS's IAM does. */
  login(body: unknown): LoginAnswer {
    if (body === null || typeof body !== 'object') return refused(400, 'ERR_MALFORMED_REQUEST', 'request body must be a JSON object');
    const { uid, token, exp } = body as Record<string, unknown>;
    if (typeof uid !== 'string' || typeof token !== 'string') return refused(400, 'ERR_MALFORMED_REQUEST', 'uid and token (a service login JWT) are required');
    const key = this.keys.get(uid);
    if (key === undefined) return refused(401, 'ERR_INVALID_CREDENTIALS', `unknown service account ${uid}`);
    const parts = token.split('.');
    const header = parts.length === 3 ? decodeJson(parts[0]) : undefined;
    const claims = parts.length === 3 ? decodeJson(parts[1]) : undefined;
    if (!header || !claims) return refused(401, 'ERR_INVALID_SERVICE_LOGIN_TOKEN', 'the service login token is not a JWT');
    if (header.alg !== 'RS256') return refused(401, 'ERR_INVALID_SERVICE_LOGIN_TOKEN', `the service login token must be signed RS256, not ${String(header.alg)}`);
    if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), key, Buffer.from(parts[2], 'base64url'))) {
      return refused(401, 'ERR_INVALID_SIGNATURE', 'the service login token signature cannot be verified with the public key of ' + uid);
    }
    if (claims.uid !== uid) return refused(401, 'ERR_INVALID_SERVICE_LOGIN_TOKEN', 'the service login token names another uid');
    const nowMs = this.now();
    if (typeof claims.exp !== 'number' || claims.exp * 1000 <= nowMs) return refused(401, 'ERR_INVALID_SERVICE_LOGIN_TOKEN', 'the service login token has expired');
    let expiresAt = nowMs + this.tokenTtlMs;
    if (typeof exp === 'number' && exp > 0) expiresAt = Math.min(expiresAt, exp * 1000);
    const issued = [
      Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url'),
      Buffer.from(JSON.stringify({ uid, exp: Math.floor(expiresAt / 1000) })).toString('base64url'),
      randomBytes(18).toString('base64url'),
    ].join('.');
    this.tokens.set(issued, { uid, expiresAt });
    if (this.tokens.size > MAX_TOKENS) this.tokens.delete(this.tokens.keys().next().value as string);
    this.logins.set(uid, (this.logins.get(uid) ?? 0) + 1);
    return { status: 200, body: { token: issued }, token: issued };
  }

  /** Forgets every issued token (as revoking the account's sessions does): the next call answers 401. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** True for `token=<t>` when `t` was issued here and has not expired. */
  accepts(authorization: string | undefined): boolean {
    if (authorization === undefined || !authorization.startsWith('token=')) return false;
    const entry = this.tokens.get(authorization.slice(6));
    if (entry === undefined) return false;
    if (entry.expiresAt <= this.now()) {
      this.tokens.delete(authorization.slice(6));
      return false;
    }
    return true;
  }
}
