// Marathon REST client: auth, TLS, timeouts and failover across several Marathon URLs.
import { Agent, request, type Dispatcher } from 'undici';
import { silentLogger, type Logger } from './log.js';
import type { DcosLogin } from './dcos-login.js';
import { basicAuthorization } from './basic-auth.js';

export type MarathonAuth = { username: string; password: string } | { token: string };

/**
 * Turns a URL the client cannot call itself (e.g. `zk://zk1:2181/marathon`) into http(s) base URLs
 * and keeps them current: resolves with the URLs now (possibly none yet), calls `onChange` whenever
 * they change (e.g. a new Marathon leader), and stops watching when `signal` aborts (client closed).
 * `marathonUrlResolver()` from `@baton/zookeeper` is one for `zk://` URLs.
 */
export type MarathonUrlResolver = (url: string, onChange: (urls: string[]) => void, signal: AbortSignal) => Promise<string[]>;

export interface MarathonClientOptions {
  /**
   * One or more Marathon base URLs, e.g. `http://m1:8080` or `https://master/service/marathon`;
   * other schemes (`zk://…/marathon`) when `resolveUrls` is given.
   */
  urls: string[];
  /** Resolves the URLs that are not http(s), before the first request and on every change. */
  resolveUrls?: MarathonUrlResolver;
  /** HTTP Basic credentials (OSS Marathon) or an ACS token (DC/OS, sent as `Authorization: token=…`). */
  auth?: MarathonAuth;
  /**
   * DC/OS service-account login (`--dcos-auth-credentials`): its token is sent as `Authorization:
   * token=…`, renewed before expiry, and renewed and the request retried once after a 401. Wins over `auth`.
   */
  login?: DcosLogin;
  /** Extra CA certificate(s) (PEM) to trust for https URLs. */
  ca?: string | Buffer;
  /** Set false to accept any certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Connect, response-headers and body-idle timeout per request, in ms (default 10 000). */
  timeoutMs?: number;
  logger?: Logger;
}

export interface RequestOptions {
  /** Aborts the request (the promise rejects with the abort reason). */
  signal?: AbortSignal;
}

export interface GetAppsOptions extends RequestOptions {
  /** Embed each app's tasks (`embed=apps.tasks`, default true). */
  embedTasks?: boolean;
  /** Marathon's `id` filter: apps whose id contains this string. */
  id?: string;
  /** Marathon's `label` selector, e.g. `HAPROXY_GROUP==external`. */
  label?: string;
}

/** Base class of every error the client throws. */
export class MarathonError extends Error {
  override name = 'MarathonError';
  constructor(
    message: string,
    /** The URL the error is about, when there is one. */
    readonly url?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Marathon answered with an unexpected HTTP status. */
export class MarathonHttpError extends MarathonError {
  override name = 'MarathonHttpError';
  constructor(
    readonly status: number,
    url: string,
    /** Marathon's `message` field, or the start of the body. */
    readonly detail = '',
  ) {
    super(`${url} answered HTTP ${status}${detail ? `: ${detail}` : ''}`, url);
  }
}

/** 401/403: the credentials were missing or rejected. */
export class MarathonAuthError extends MarathonHttpError {
  override name = 'MarathonAuthError';
  constructor(status: number, url: string, detail = '') {
    super(status, url, detail);
    this.message =
      status === 401
        ? `credentials rejected by ${url} (HTTP 401)${detail ? `: ${detail}` : ''}`
        : `access forbidden by ${url} (HTTP ${status})${detail ? `: ${detail}` : ''}`;
  }
}

/** The body was not the JSON shape Marathon documents (truncated, not JSON, wrong shape). */
export class MarathonResponseError extends MarathonError {
  override name = 'MarathonResponseError';
}

/** No URL could be reached (connection error, timeout or 5xx on each); `attempts` says why for each. */
export class MarathonUnavailableError extends MarathonError {
  override name = 'MarathonUnavailableError';
  constructor(readonly attempts: { url: string; reason: string }[]) {
    super(`Marathon unavailable: ${attempts.map((a) => `${a.url}: ${a.reason}`).join('; ')}`);
  }
}

interface RawResponse {
  status: number;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A failure worth trying the next URL for. */
class RetryableError extends Error {}

/** A configured URL and the base URLs it stands for (itself, or what the resolver says). */
interface UrlSource {
  given: string;
  urls: string[];
  /** For resolved sources: the resolution in flight or done; unset again after a failure. */
  resolving?: Promise<void>;
  error?: string;
}

export class MarathonClient {
  readonly timeoutMs: number;
  /** The undici dispatcher carrying the TLS settings; the event stream shares it. */
  readonly dispatcher: Dispatcher;
  private readonly authorization?: string;
  private readonly login?: DcosLogin;
  private readonly logger: Logger;
  private readonly closing = new AbortController();
  private current = 0;
  private readonly sources: UrlSource[];
  private readonly resolver?: MarathonUrlResolver;
  private urlList: string[] = [];

  constructor(options: MarathonClientOptions) {
    if (!Array.isArray(options.urls) || options.urls.length === 0) {
      throw new TypeError('MarathonClient needs at least one Marathon URL');
    }
    this.resolver = options.resolveUrls;
    this.sources = options.urls.map((given) =>
      this.resolver && !/^https?:\/\//i.test(given) ? { given, urls: [] } : { given, urls: [normalizeBaseUrl(given)] },
    );
    this.updateUrlList();
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${options.timeoutMs}`);
    this.authorization = authorizationHeader(options.auth);
    this.login = options.login;
    this.logger = options.logger ?? silentLogger();
    const connect: Record<string, unknown> = { timeout: this.timeoutMs };
    if (options.ca !== undefined) connect.ca = options.ca;
    if (options.rejectUnauthorized !== undefined) connect.rejectUnauthorized = options.rejectUnauthorized;
    this.dispatcher = new Agent({ connect, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
  }

  /**
   * The base URLs requests go to, without trailing slashes: the http(s) URLs given, and what
   * `resolveUrls` made of the others (empty until `resolve()` has run).
   */
  get urls(): readonly string[] {
    return this.urlList;
  }

  /** The URL requests go to first: the last one that answered. */
  get currentUrl(): string {
    return this.urls[this.current];
  }

  /**
   * Resolves the URLs that need `resolveUrls` (once; the resolver keeps them current afterwards; a
   * failed resolution is retried on the next call). Requests and the feed call this themselves.
   * Throws MarathonUnavailableError when no URL is known.
   */
  async resolve(): Promise<readonly string[]> {
    const resolver = this.resolver;
    if (resolver) {
      await Promise.all(
        this.sources
          .filter((source) => source.urls.length === 0 || source.resolving)
          .map((source) => (source.resolving ??= this.resolveSource(source, resolver))),
      );
    }
    if (this.urlList.length === 0) {
      throw new MarathonUnavailableError(
        this.sources.map((source) => ({ url: source.given, reason: source.error ?? 'no Marathon URL known (no leader registered?)' })),
      );
    }
    return this.urlList;
  }

  private async resolveSource(source: UrlSource, resolver: MarathonUrlResolver): Promise<void> {
    const onChange = (urls: string[]) => {
      if (this.closing.signal.aborted) return;
      const previous = source.urls;
      this.setSourceUrls(source, urls);
      if (previous.join() !== source.urls.join()) this.logger.info({ url: source.given, urls: source.urls, previous }, 'marathon URLs changed');
    };
    try {
      this.setSourceUrls(source, await resolver(source.given, onChange, this.closing.signal));
    } catch (err) {
      source.resolving = undefined;
      source.error = `cannot resolve: ${(err as Error).message ?? String(err)}`;
      this.logger.warn({ url: source.given, reason: source.error }, 'marathon URL resolution failed');
    }
  }

  private setSourceUrls(source: UrlSource, urls: string[]): void {
    const valid: string[] = [];
    for (const url of urls) {
      try {
        valid.push(normalizeBaseUrl(url));
      } catch (err) {
        this.logger.warn({ url: source.given, resolved: url, reason: (err as Error).message }, 'resolved marathon URL ignored');
      }
    }
    source.urls = valid;
    source.error = valid.length === 0 ? 'no Marathon leader registered' : undefined;
    this.updateUrlList();
  }

  private updateUrlList(): void {
    const previous = this.urlList[this.current];
    this.urlList = [...new Set(this.sources.flatMap((source) => source.urls))];
    this.current = Math.max(0, previous === undefined ? 0 : this.urlList.indexOf(previous));
  }

  /** Makes `url` (one of `urls`) the first to try, e.g. after the event stream connected through it. */
  preferUrl(url: string): void {
    const index = this.urls.indexOf(normalizeBaseUrl(url));
    if (index !== -1) this.current = index;
  }

  /** Headers every request carries (the event stream adds its own Accept). */
  requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': 'baton' };
    const authorization = this.login ? this.login.current() : this.authorization;
    if (authorization) headers.authorization = authorization;
    return headers;
  }

  /**
   * With a DC/OS login: logs in when the token is missing or about to expire, so that
   * `requestHeaders()` carries a valid one (requests do this themselves). Rejects with DcosLoginError.
   */
  async ensureLogin(): Promise<void> {
    await this.login?.authorization();
  }

  /** A 401 answered to `authorization` (e.g. on the event stream): the next request logs in again. */
  loginRejected(authorization: string | undefined): void {
    this.login?.rejected(authorization);
  }

  /** Aborted when the client is closed. */
  get closeSignal(): AbortSignal {
    return this.closing.signal;
  }

  /** `GET /v2/apps` (by default `?embed=apps.tasks`): the `apps` array. */
  async getApps(options: GetAppsOptions = {}): Promise<unknown[]> {
    const res = await this.getAppsResponse(options);
    const body = parseJson(res);
    if (!isObject(body) || !Array.isArray(body.apps)) {
      throw new MarathonResponseError(`${res.url} did not answer {"apps":[…]}: ${preview(res.body)}`, res.url);
    }
    return body.apps;
  }

  /**
   * The same request as `getApps`, answered as the unparsed body: `ClusterState.replaceAllFromJson`
   * parses it app by app, which keeps a large cluster's resync well below the memory of one JSON.parse.
   */
  async getAppsText(options: GetAppsOptions = {}): Promise<{ url: string; text: string }> {
    const res = await this.getAppsResponse(options);
    return { url: res.url, text: res.body };
  }

  private async getAppsResponse(options: GetAppsOptions): Promise<RawResponse> {
    const query = new URLSearchParams();
    if (options.embedTasks ?? true) query.append('embed', 'apps.tasks');
    if (options.id !== undefined) query.append('id', options.id);
    if (options.label !== undefined) query.append('label', options.label);
    const qs = query.toString();
    const res = await this.get(`/v2/apps${qs ? `?${qs}` : ''}`, options.signal);
    expectOk(res);
    return res;
  }

  /** `GET /v2/apps/{id}?embed=app.tasks`: the app with its tasks, or null when Marathon does not know it. */
  async getApp(appId: string, options: RequestOptions = {}): Promise<unknown | null> {
    const res = await this.get(`/v2/apps${appPath(appId)}?embed=app.tasks`, options.signal);
    if (res.status === 404) return null;
    expectOk(res);
    const body = parseJson(res);
    if (!isObject(body) || !isObject(body.app)) {
      throw new MarathonResponseError(`${res.url} did not answer {"app":{…}}: ${preview(res.body)}`, res.url);
    }
    return body.app;
  }

  /** `GET /v2/apps/{id}/tasks`: the app's tasks, or null when Marathon does not know the app. */
  async getAppTasks(appId: string, options: RequestOptions = {}): Promise<unknown[] | null> {
    const res = await this.get(`/v2/apps${appPath(appId)}/tasks`, options.signal);
    if (res.status === 404) return null;
    expectOk(res);
    const body = parseJson(res);
    if (!isObject(body) || !Array.isArray(body.tasks)) {
      throw new MarathonResponseError(`${res.url} did not answer {"tasks":[…]}: ${preview(res.body)}`, res.url);
    }
    return body.tasks;
  }

  /** `GET /v2/leader`: the leader's `host:port`, or undefined when there is none. */
  async getLeader(options: RequestOptions = {}): Promise<string | undefined> {
    const res = await this.get('/v2/leader', options.signal);
    if (res.status === 404) return undefined;
    expectOk(res);
    const body = parseJson(res);
    if (!isObject(body) || typeof body.leader !== 'string') {
      throw new MarathonResponseError(`${res.url} did not answer {"leader":"…"}: ${preview(res.body)}`, res.url);
    }
    return body.leader;
  }

  /** `GET /v2/info`: Marathon's version, leader and configuration. */
  async getInfo(options: RequestOptions = {}): Promise<Record<string, unknown>> {
    const res = await this.get('/v2/info', options.signal);
    expectOk(res);
    const body = parseJson(res);
    if (!isObject(body)) throw new MarathonResponseError(`${res.url} did not answer a JSON object: ${preview(res.body)}`, res.url);
    return body;
  }

  /** `GET /ping` on each URL in turn: true as soon as one answers 2xx; never throws. */
  async ping(options: RequestOptions = {}): Promise<boolean> {
    try {
      const res = await this.get('/ping', options.signal);
      return res.status >= 200 && res.status < 300;
    } catch {
      return false;
    }
  }

  /** Aborts pending requests and closes connections. The client cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new MarathonError('client closed'));
    await this.dispatcher.destroy().catch(() => undefined);
  }

  /**
   * GETs `path` from the current URL; on a connection error, timeout or 5xx tries the next URL (each
   * at most once) and remembers the one that answered. Other statuses are returned to the caller.
   */
  private async get(path: string, signal?: AbortSignal): Promise<RawResponse> {
    if (this.closing.signal.aborted) throw new MarathonError('client closed');
    if (this.resolver) await this.resolve();
    const link = signal ? linkSignals(signal, this.closing.signal) : undefined;
    const combined = link ? link.signal : this.closing.signal;
    try {
      if (!this.login) return await this.getFrom(path, combined);
      await this.login.authorization();
      const sent = this.login.current();
      try {
        return await this.getFrom(path, combined);
      } catch (err) {
        if (!(err instanceof MarathonAuthError) || err.status !== 401) throw err;
        this.login.rejected(sent);
        this.logger.info({ uid: this.login.uid }, 'DC/OS token rejected; logging in again');
        await this.login.authorization();
        return await this.getFrom(path, combined);
      }
    } finally {
      link?.dispose();
    }
  }

  private async getFrom(path: string, combined: AbortSignal): Promise<RawResponse> {
    const attempts: { url: string; reason: string }[] = [];
    const urls = this.urls;
    for (let n = 0; n < urls.length; n++) {
      const index = (this.current + n) % urls.length;
      const url = urls[index] + path;
      try {
        const res = await this.fetchOnce(url, combined);
        if (index !== this.current) {
          this.logger.info({ url: urls[index], previous: urls[this.current] }, 'marathon failover');
          this.current = Math.max(0, this.urls.indexOf(urls[index]));
        }
        if (res.status === 401 || res.status === 403) {
          throw new MarathonAuthError(res.status, urls[index], messageOf(res.body));
        }
        return res;
      } catch (err) {
        if (combined.aborted) throw combined.reason ?? err;
        if (!(err instanceof RetryableError)) throw err;
        attempts.push({ url: urls[index], reason: err.message });
        this.logger.warn({ url, reason: err.message }, 'marathon request failed');
      }
    }
    throw new MarathonUnavailableError(attempts);
  }

  private async fetchOnce(url: string, signal: AbortSignal): Promise<RawResponse> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: 'GET',
        headers: { ...this.requestHeaders(), accept: 'application/json' },
        dispatcher: this.dispatcher,
        signal,
      });
    } catch (err) {
      throw new RetryableError(describeNetworkError(err, this.timeoutMs));
    }
    let body: string;
    try {
      body = await res.body.text();
    } catch (err) {
      throw new RetryableError(describeNetworkError(err, this.timeoutMs));
    }
    if (res.statusCode >= 500) throw new RetryableError(`HTTP ${res.statusCode}${messageOf(body) ? `: ${messageOf(body)}` : ''}`);
    return { status: res.statusCode, url, headers: res.headers, body };
  }
}

/**
 * A signal that aborts (with the same reason) when `a` or `b` does; `dispose` detaches it once the
 * request is over. Not `AbortSignal.any`: on Node 20 each call leaves a WeakRef in the dependant set of
 * every input that is never removed while the input lives, and the inputs here (the client's `closing`,
 * a feed's lifetime signal) live as long as the process, so they grew by one entry per request.
 */
function linkSignals(a: AbortSignal, b: AbortSignal): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const inputs = [a, b];
  const onAbort = (event: Event) => {
    dispose();
    controller.abort((event.target as AbortSignal).reason);
  };
  const dispose = () => {
    for (const input of inputs) input.removeEventListener('abort', onAbort);
  };
  const already = inputs.find((input) => input.aborted);
  if (already) controller.abort(already.reason);
  else for (const input of inputs) input.addEventListener('abort', onAbort, { once: true });
  return { signal: controller.signal, dispose };
}

/** Strips trailing slashes and checks the URL is http(s). */
export function normalizeBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`not a Marathon URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`Marathon URL must be http or https: ${JSON.stringify(url)}`);
  }
  return url.replace(/\/+$/, '');
}

export function authorizationHeader(auth: MarathonAuth | undefined): string | undefined {
  if (!auth) return undefined;
  if ('token' in auth) return `token=${auth.token}`;
  return basicAuthorization(auth.username, auth.password);
}

/** Describes an undici/network error in a few words, e.g. `connection refused`, `timeout after 10000 ms`. */
export function describeNetworkError(err: unknown, timeoutMs: number): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e?.code ?? e?.cause?.code;
  switch (code) {
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `timeout after ${timeoutMs} ms waiting for response headers`;
    case 'UND_ERR_BODY_TIMEOUT':
      return `timeout after ${timeoutMs} ms waiting for the response body`;
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `timeout after ${timeoutMs} ms connecting`;
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'UND_ERR_SOCKET':
      return `connection reset (${e.message ?? code})`;
    default:
      return code ? `${code}: ${e.message ?? ''}`.trim() : (e?.message ?? String(err));
  }
}

function appPath(appId: string): string {
  const segments = appId.split('/').filter((s) => s !== '');
  if (segments.length === 0) throw new TypeError(`not an app id: ${JSON.stringify(appId)}`);
  return `/${segments.map(encodeURIComponent).join('/')}`;
}

function expectOk(res: RawResponse): void {
  if (res.status < 200 || res.status >= 300) throw new MarathonHttpError(res.status, res.url, messageOf(res.body));
}

function parseJson(res: RawResponse): unknown {
  try {
    return JSON.parse(res.body);
  } catch (err) {
    throw new MarathonResponseError(
      `${res.url} answered invalid or truncated JSON (${(err as Error).message}; ${res.body.length} bytes)`,
      res.url,
      { cause: err },
    );
  }
}

function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    if (isObject(parsed) && typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: fall through
  }
  return body.length > 200 ? `${body.slice(0, 200)}…` : body.trim();
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function preview(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 120)}…` : text);
}
