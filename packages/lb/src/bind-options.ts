// HAPROXY_{n}_BIND_OPTIONS: the words marathon-lb appends to the frontend's `bind` line. Those with a
// meaning for baton-lb's listeners are applied; the others are named as problems of the app port.

export type TlsVersion = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';

export interface BindOptions {
  /** `accept-proxy`: each connection starts with a PROXY protocol header (v1 or v2). */
  acceptProxy: boolean;
  /** `ssl`: TLS on the port (needs a certificate: `crt FILE` or HAPROXY_{n}_SSL_CERT). */
  ssl: boolean;
  /** `crt FILE`: certificate + key PEM. */
  crt?: string;
  /** `ciphers LIST` and `ciphersuites LIST` (TLS 1.3), as OpenSSL cipher strings. */
  ciphers?: string;
  /** `ssl-min-ver`. */
  minVersion?: TlsVersion;
  /** `alpn LIST`: the protocols offered on a TLS bind (HTTP/2 when it lists `h2`). */
  alpn?: string[];
  /** One message per word not applied (unknown, unsupported, or with a bad value). */
  problems: string[];
}

const MIN_VERSIONS: Record<string, TlsVersion> = { 'TLSv1.0': 'TLSv1', 'TLSv1.1': 'TLSv1.1', 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' };
const KNOWN = new Set(['accept-proxy', 'ssl', 'crt', 'ciphers', 'ciphersuites', 'ssl-min-ver', 'alpn']);

export function parseBindOptions(text: string | undefined): BindOptions {
  const out: BindOptions = { acceptProxy: false, ssl: false, problems: [] };
  const words = (text ?? '').split(/\s+/).filter((w) => w !== '');
  const ciphers: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const value = (): string | undefined => {
      const next = words[i + 1];
      if (next === undefined || KNOWN.has(next)) {
        out.problems.push(`${word} needs a value`);
        return undefined;
      }
      i++;
      return next;
    };
    switch (word) {
      case 'accept-proxy':
        out.acceptProxy = true;
        break;
      case 'ssl':
        out.ssl = true;
        break;
      case 'crt': {
        const file = value();
        if (file !== undefined) out.crt ??= file;
        break;
      }
      case 'ciphers':
      case 'ciphersuites': {
        const list = value();
        if (list !== undefined) ciphers.push(list);
        break;
      }
      case 'alpn': {
        const list = value()?.split(',').filter((p) => p !== '');
        if (list !== undefined && list.length > 0) out.alpn = list;
        break;
      }
      case 'ssl-min-ver': {
        const version = value();
        if (version === undefined) break;
        const min = MIN_VERSIONS[version];
        if (min === undefined) out.problems.push(`ssl-min-ver ${version}: not one of ${Object.keys(MIN_VERSIONS).join(', ')}; ignored`);
        else out.minVersion = min;
        break;
      }
      default: {
        // An option baton-lb does not apply, with the words after it up to the next known one (its arguments).
        let j = i + 1;
        while (j < words.length && !KNOWN.has(words[j])) j++;
        out.problems.push(`${words.slice(i, j).join(' ')}: not applied by baton-lb; ignored`);
        i = j - 1;
      }
    }
  }
  if (ciphers.length > 0) out.ciphers = ciphers.join(':');
  if (out.crt !== undefined && !out.ssl) out.problems.push(`crt ${out.crt} without ssl: no TLS on this port (as HAProxy)`);
  return out;
}
