// Credentials in Marathon URLs (`http://user:pass@marathon:8080`, `zk://user:pass@zk1:2181/marathon`):
// taken out of the URL for Basic auth, and redacted wherever a URL, or a message that may quote one,
// is shown (status pages, logs, error messages). The one place both bins and the libraries use.

export interface UrlCredentials {
  username: string;
  password: string;
}

/** `scheme://` and a user-info part: up to the last `@` before the path (a password may hold `@`). */
const USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/"'<>]*@/gi;
const REDACTED = '<redacted>';

/** `http://user:pass@host:8080/x` → `http://<redacted>@host:8080/x`; a URL without credentials unchanged. */
export function redactUrl(url: string): string {
  return redactCredentials(url);
}

/** Every `scheme://user:pass@` in a text, redacted: for error messages and log lines quoting URLs. */
export function redactCredentials(text: string): string {
  if (!text.includes('@')) return text;
  return text.replace(USER_INFO, `$1${REDACTED}@`);
}

/**
 * Marathon URLs with the credentials of `http(s)://user:pass@host` taken out, and those credentials
 * (the first found; percent-decoded) for Basic auth. Other URLs (zk://) pass unchanged: ZooKeeper
 * credentials are refused where the URL is parsed, with the URL redacted.
 */
export function splitUrlCredentials(urls: readonly string[]): { urls: string[]; auth?: UrlCredentials } {
  let auth: UrlCredentials | undefined;
  const out = urls.map((url) => {
    const m = /^(https?:\/\/)([^/?#]*)@(.*)$/i.exec(url);
    if (!m) return url;
    const colon = m[2].indexOf(':');
    const user = colon === -1 ? m[2] : m[2].slice(0, colon);
    const pass = colon === -1 ? '' : m[2].slice(colon + 1);
    auth ??= { username: decodeOr(user), password: decodeOr(pass) };
    return m[1] + m[3];
  });
  return auth ? { urls: out, auth } : { urls: out };
}

function decodeOr(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
