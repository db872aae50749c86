// DC/OS service-account login, as marathon-lb's DCOSAuth does it: an RS256 JWT `{uid, exp}` signed
// with the account's private key is POSTed to the credentials' `login_endpoint`
// (`…/acs/api/v1/auth/login`); the answer's token is sent as `Authorization: token=…` and renewed before
// it expires and after a 401. node:http(s) and node:crypto only, so baton-env can load it cheaply.
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';

export interface DcosServiceAccount {
  uid: string;
  privateKey: KeyObject;
  /** e.g. `https://leader.mesos/acs/api/v1/auth/login`. */
  loginEndpoint: string;
}

/** Bad credentials JSON, or a login the endpoint refused or could not answer. */
export class DcosLoginError extends Error {
  override name = 'DcosLoginError';
  constructor(
    message: string,
    /** HTTP status when the login endpoint answered. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * Parses `--dcos-auth-credentials` / `DCOS_SERVICE_ACCOUNT_CREDENTIAL`:
 * `{"scheme":"RS256","uid":…,"private_key":"-----BEGIN PRIVATE KEY-----…","login_endpoint":…}`
 * (the JSON `dcos security org service-accounts create` and the DC/OS secret store hand out). Null
 * fields are ignored, as marathon-lb's cleanup_json ignores them. Throws DcosLoginError naming the
 * field that is wrong.
 */
export function parseDcosCredentials(text: string): DcosServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new DcosLoginError(`DC/OS service account credentials are not JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new DcosLoginError('DC/OS service account credentials must be a JSON object with uid, private_key and login_endpoint');
  }
  const creds = parsed as Record<string, unknown>;
  const field = (name: string): string => {
    const value = creds[name];
    if (typeof value !== 'string' || value === '') throw new DcosLoginError(`DC/OS service account credentials: "${name}" is missing or not a string`);
    return value;
  };
  if (creds.scheme !== undefined && creds.scheme !== null && creds.scheme !== 'RS256') {
    throw new DcosLoginError(`DC/OS service account credentials: scheme ${JSON.stringify(creds.scheme)} is not supported (only RS256)`);
  }
  const uid = field('uid');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(field('private_key'));
  } catch (err) {
    if (err instanceof DcosLoginError) throw err;
    throw new DcosLoginError(`DC/OS service account credentials: "private_key" is not a PEM private key (${(err as Error).message})`);
  }
  if (privateKey.asymmetricKeyType !== 'rsa') {
    throw new DcosLoginError(`DC/OS service account credentials: "private_key" is a ${privateKey.asymmetricKeyType} key; RS256 needs an RSA key`);
  }
  const loginEndpoint = field('login_endpoint');
  let url: URL;
  try {
    url = new URL(loginEndpoint);
  } catch {
    throw new DcosLoginError(`DC/OS service account credentials: "login_endpoint" is not a URL: ${JSON.stringify(loginEndpoint)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DcosLoginError(`DC/OS service account credentials: "login_endpoint" must be http or https: ${JSON.stringify(loginEndpoint)}`);
  }
  return { uid, privateKey, loginEndpoint };
}

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** The login request's JWT: `{uid, exp}` signed RS256, valid for `validitySeconds` (marathon-lb: 60). */
export function serviceLoginJwt(uid: string, privateKey: KeyObject, nowSeconds: number, validitySeconds = 60): string {
  const signingInput = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }))}.${base64url(JSON.stringify({ uid, exp: nowSeconds + validitySeconds }))}`;
  return `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), privateKey))}`;
}

/** The `exp` claim (seconds) of a JWT-shaped token, when it has one. */
export function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' && Number.isFinite(payload.exp) ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

export interface DcosLoginOptions {
  account: DcosServiceAccount;
  /** Lifetime asked for in the login request, in seconds (marathon-lb: 3600). */
  tokenLifetimeSeconds?: number;
  /** Timeout of one login request, in ms (default 10 000). */
  timeoutMs?: number;
  /** Extra CA certificate(s) (PEM) for an https login endpoint. */
  ca?: string | Buffer;
  rejectUnauthorized?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
}

const MAX_LOGIN_BODY = 64 * 1024;

/**
 * Holds the current token of one service account. `authorization()` logs in when there is no token or
 * it is about to expire (10 s before, or a fifth of its lifetime when that is shorter; the expiry is
 * the token's own `exp` claim when it is a JWT, as DC/OS tokens are, else the one asked for);
 * concurrent callers share one login. `rejected()` drops a token the server answered 401 to.
 */
export class DcosLogin {
  readonly uid: string;
  private token?: string;
  private renewAt = 0;
  private pending?: Promise<string>;
  private readonly now: () => number;

  constructor(private readonly options: DcosLoginOptions) {
    this.uid = options.account.uid;
    this.now = options.now ?? Date.now;
  }

  /** The `Authorization` value now held, without logging in (undefined before the first login). */
  current(): string | undefined {
    return this.token === undefined ? undefined : `token=${this.token}`;
  }

  /** `token=…`, logging in first when needed. Rejects with DcosLoginError. */
  async authorization(): Promise<string> {
    if (this.token !== undefined && this.now() < this.renewAt) return `token=${this.token}`;
    this.pending ??= this.login().finally(() => (this.pending = undefined));
    return `token=${await this.pending}`;
  }

  /** The server refused `authorization` (HTTP 401): the next `authorization()` logs in again. */
  rejected(authorization: string | undefined): void {
    if (authorization === undefined || authorization === this.current()) {
      this.token = undefined;
      this.renewAt = 0;
    }
  }

  private async login(): Promise<string> {
    const { account } = this.options;
    const nowSeconds = Math.floor(this.now() / 1000);
    const askedExpiry = nowSeconds + (this.options.tokenLifetimeSeconds ?? 3600);
    const body = JSON.stringify({ uid: account.uid, token: serviceLoginJwt(account.uid, account.privateKey, nowSeconds), exp: askedExpiry });
    const answer = await this.post(body);
    let token: string | undefined;
    let detail = '';
    try {
      const parsed = JSON.parse(answer.body) as Record<string, unknown>;
      if (typeof parsed.token === 'string' && parsed.token !== '') token = parsed.token;
      detail = [parsed.title, parsed.description, parsed.code].filter((v) => typeof v === 'string').join(': ');
    } catch {
      detail = answer.body.slice(0, 200).trim();
    }
    if (answer.status < 200 || answer.status >= 300) {
      throw new DcosLoginError(
        `DC/OS login of service account ${account.uid} at ${account.loginEndpoint} refused (HTTP ${answer.status})${detail ? `: ${detail}` : ''}`,
        answer.status,
      );
    }
    token ??= answer.cookie; // marathon-lb reads the dcos-acs-auth-cookie
    if (token === undefined) {
      throw new DcosLoginError(`DC/OS login of service account ${account.uid} at ${account.loginEndpoint}: the answer has no token`, answer.status);
    }
    const expiry = jwtExpiry(token) ?? askedExpiry;
    const lifetime = Math.max(0, expiry - nowSeconds);
    this.token = token;
    this.renewAt = (expiry - Math.min(10, lifetime / 5)) * 1000;
    return token;
  }

  private async post(body: string): Promise<{ status: number; body: string; cookie?: string }> {
    const url = new URL(this.options.account.loginEndpoint);
    const request = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    const tls: Record<string, unknown> = {};
    if (this.options.ca !== undefined) tls.ca = this.options.ca;
    if (this.options.rejectUnauthorized !== undefined) tls.rejectUnauthorized = this.options.rejectUnauthorized;
    const where = `DC/OS login at ${this.options.account.loginEndpoint}`;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'baton' }, agent: false, ...tls },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_LOGIN_BODY) req.destroy(new Error(`answer larger than ${MAX_LOGIN_BODY} bytes`));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            clearTimeout(timer);
            const cookie = [res.headers['set-cookie'] ?? []]
              .flat()
              .map((c) => /^dcos-acs-auth-cookie=([^;]+)/.exec(c)?.[1])
              .find((c) => c !== undefined);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), cookie });
          });
          res.on('error', () => undefined); // reported through req's error
        },
      );
      const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
      req.on('error', (err) => {
        clearTimeout(timer);
        const code = (err as NodeJS.ErrnoException).code;
        reject(new DcosLoginError(`${where} failed: ${code === 'ECONNREFUSED' ? 'connection refused' : err.message}`));
      });
      req.end(body);
    });
  }
}
