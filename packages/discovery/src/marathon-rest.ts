// One-shot Marathon REST reads over node:http / node:https. The full client in @baton/marathon loads
// undici and pino, which a container entrypoint would pay for on every start; one GET needs neither.
// Failover follows the same rule as that client: a connection error, a timeout, a 5xx or an unusable
// body moves on to the next URL; any other answer is the answer.

import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import type { RawApp } from '@baton/marathon';
import { basicAuthorization } from '@baton/marathon/basic-auth';
import type { DcosLogin } from '@baton/marathon/dcos-login';
import { AppNotFoundError, MarathonRequestError, MarathonUnreachableError } from './errors.js';

/**
 * Basic credentials, a DC/OS token, or a DC/OS service account (`--dcos-auth-credentials` JSON; it logs
 * in, and again after a 401).
 */
export type MarathonAuth = { username: string; password: string } | { token: string } | { dcosCredentials: string };

const logins = new Map<string, Promise<DcosLogin>>();

/**
 * The login of a service account, one per credentials text. Its module (node:crypto) is loaded only
 * when one is used. Rejects with DcosLoginError naming what is wrong in the credentials.
 */
export function serviceAccountLogin(credentials: string): Promise<DcosLogin> {
  let login = logins.get(credentials);
  if (login === undefined) {
    login = import('@baton/marathon/dcos-login').then(({ DcosLogin, parseDcosCredentials }) => new DcosLogin({ account: parseDcosCredentials(credentials) }));
    logins.set(credentials, login);
  }
  return login;
}

export interface MarathonAccess {
  /** Marathon base URLs, tried in order; may include a path (`https://master/service/marathon`). */
  urls: string[];
  auth?: MarathonAuth;
  /** Per-request timeout (connect + whole response). Default 10 000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Answer {
  status: number;
  body: string;
}

async function authorization(auth: MarathonAuth | undefined): Promise<string | undefined> {
  if (!auth) return undefined;
  if ('dcosCredentials' in auth) return (await serviceAccountLogin(auth.dcosCredentials)).authorization();
  if ('token' in auth) return `token=${auth.token}`;
  return basicAuthorization(auth.username, auth.password);
}

async function get(url: URL, access: MarathonAccess): Promise<Answer> {
  const request =
    url.protocol === 'https:' ? (await import('node:https')).request : url.protocol === 'http:' ? httpRequest : undefined;
  if (!request) throw new Error(`unsupported scheme ${url.protocol}`);
  const timeoutMs = access.timeoutMs ?? 10_000;
  const headers: Record<string, string> = { accept: 'application/json', connection: 'close' };
  const auth = await authorization(access.auth);
  if (auth) headers.authorization = auth;
  const options: RequestOptions = { method: 'GET', headers, agent: false };
  return new Promise<Answer>((resolve, reject) => {
    const req = request(url, options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`timeout after ${timeoutMs} ms`)), timeoutMs);
    const onAbort = () => req.destroy(new Error('aborted'));
    access.signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('close', () => access.signal?.removeEventListener('abort', onAbort));
    req.end();
  });
}

function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  if (code === 'ECONNRESET') return 'connection reset';
  return (err as Error).message ?? String(err);
}

function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed?.message === 'string') return parsed.message;
  } catch {
    // not JSON: use the text
  }
  return body.slice(0, 200).trim();
}

/** Joins a base URL (which may carry a path) and an API path. */
export function apiUrl(base: string, path: string): URL {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/+$/, '') + path;
  return url;
}

/** `/meter` → `/meter`; `meter` → `/meter`; trailing slashes dropped. */
export function canonicalAppId(appId: string): string {
  const trimmed = appId.trim().replace(/\/+$/, '');
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/**
 * `GET /v2/apps/{id}?embed=app.tasks` → the `app` object (its definition plus its tasks).
 * Throws AppNotFoundError on 404, MarathonRequestError on 401/403/other statuses, and
 * MarathonUnreachableError when no URL gave an answer.
 */
export async function fetchApp(access: MarathonAccess, appId: string): Promise<RawApp> {
  const id = canonicalAppId(appId);
  const attempts: { url: string; reason: string }[] = [];
  let loginRenewed = false;
  for (let i = 0; i < access.urls.length; i++) {
    const base = access.urls[i];
    let url: URL;
    try {
      url = apiUrl(base, `/v2/apps${encodeURI(id)}`);
    } catch {
      attempts.push({ url: base, reason: 'not a valid URL' });
      continue;
    }
    url.searchParams.set('embed', 'app.tasks');
    let answer: Answer;
    try {
      answer = await get(url, access);
    } catch (err) {
      if (access.signal?.aborted) throw err;
      attempts.push({ url: base, reason: reasonOf(err) });
      continue;
    }
    const { status, body } = answer;
    if (status === 404) throw new AppNotFoundError(id);
    if (status === 401 && access.auth && 'dcosCredentials' in access.auth && !loginRenewed) {
      // The token expired or was revoked: log in again and ask the same URL once more.
      (await serviceAccountLogin(access.auth.dcosCredentials)).rejected(undefined);
      loginRenewed = true;
      i--;
      continue;
    }
    if (status === 401 || status === 403) {
      throw new MarathonRequestError(`credentials rejected by ${base} (HTTP ${status}${body ? `: ${messageOf(body)}` : ''})`);
    }
    if (status >= 500) {
      attempts.push({ url: base, reason: `HTTP ${status}${body ? `: ${messageOf(body)}` : ''}` });
      continue;
    }
    if (status < 200 || status >= 300) {
      throw new MarathonRequestError(`${base} answered HTTP ${status} for app ${id}${body ? `: ${messageOf(body)}` : ''}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      attempts.push({ url: base, reason: 'response is not valid JSON' });
      continue;
    }
    const app = (parsed as { app?: unknown } | null)?.app;
    if (typeof app !== 'object' || app === null || Array.isArray(app)) {
      attempts.push({ url: base, reason: 'response has no "app" object' });
      continue;
    }
    return app as RawApp;
  }
  throw new MarathonUnreachableError(attempts);
}
