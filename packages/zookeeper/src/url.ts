// `zk://host1:2181,host2:2181/chroot` URLs, as Mesos, Marathon and Kafka write them.
import { redactUrl } from '@baton/marathon';

export interface ZkUrl {
  /** `host1:2181,host2:2181`, for the ZooKeeper client. */
  connectString: string;
  /** The path after the hosts, e.g. `/marathon`; `''` when the URL has none. */
  chroot: string;
  /** Each host with its port (2181 when the URL names none). */
  hosts: { host: string; port: number }[];
}

export class ZkUrlError extends TypeError {
  override name = 'ZkUrlError';
}

const DEFAULT_PORT = 2181;

/**
 * Parses `zk://host1:2181,host2:2181/chroot` (port defaults to 2181; IPv6 hosts in brackets;
 * `user:pass@` is not supported). Throws a ZkUrlError naming what is wrong, with credentials redacted.
 */
export function parseZkUrl(given: string): ZkUrl {
  if (typeof given !== 'string' || given.trim() === '') throw new ZkUrlError('empty ZooKeeper URL');
  const url = redactUrl(given); // for messages
  const text = given.trim();
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(text);
  if (!scheme) throw new ZkUrlError(`not a ZooKeeper URL (expected zk://host:port[,host:port…][/path]): ${JSON.stringify(url)}`);
  if (scheme[1].toLowerCase() !== 'zk') {
    throw new ZkUrlError(`ZooKeeper URL must start with zk://, got ${scheme[1]}:// in ${JSON.stringify(url)}`);
  }
  const rest = text.slice(scheme[0].length);
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  let chroot = slash === -1 ? '' : rest.slice(slash);
  if (/[?#]/.test(chroot)) throw new ZkUrlError(`ZooKeeper URL may not have a query or fragment: ${JSON.stringify(url)}`);
  if (authority.includes('@')) throw new ZkUrlError(`credentials in ZooKeeper URLs are not supported: ${JSON.stringify(url)}`);
  chroot = chroot.replace(/\/+$/, '');
  if (chroot.includes('//')) throw new ZkUrlError(`ZooKeeper path has an empty segment: ${JSON.stringify(chroot)}`);

  const parts = authority.split(',').map((part) => part.trim());
  if (authority.trim() === '' || parts.every((part) => part === '')) {
    throw new ZkUrlError(`ZooKeeper URL names no host: ${JSON.stringify(url)}`);
  }
  const hosts = parts.map((part) => parseHostPort(part, url));
  const connectString = hosts.map(({ host, port }) => `${host.includes(':') ? `[${host}]` : host}:${port}`).join(',');
  return { connectString, chroot, hosts };
}

function parseHostPort(part: string, url: string): { host: string; port: number } {
  if (part === '') throw new ZkUrlError(`empty host in ZooKeeper URL ${JSON.stringify(url)}`);
  let host: string;
  let portText: string | undefined;
  if (part.startsWith('[')) {
    const end = part.indexOf(']');
    if (end === -1) throw new ZkUrlError(`unclosed [ in host ${JSON.stringify(part)} of ${JSON.stringify(url)}`);
    host = part.slice(1, end);
    const after = part.slice(end + 1);
    if (after !== '' && !after.startsWith(':')) throw new ZkUrlError(`bad host ${JSON.stringify(part)} in ${JSON.stringify(url)}`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = part.lastIndexOf(':');
    if (colon !== -1 && part.indexOf(':') !== colon) {
      throw new ZkUrlError(`IPv6 host ${JSON.stringify(part)} must be in brackets ([::1]:2181) in ${JSON.stringify(url)}`);
    }
    host = colon === -1 ? part : part.slice(0, colon);
    portText = colon === -1 ? undefined : part.slice(colon + 1);
  }
  if (host === '') throw new ZkUrlError(`empty host in ${JSON.stringify(part)} of ${JSON.stringify(url)}`);
  if (!/^[A-Za-z0-9._:%-]+$/.test(host)) throw new ZkUrlError(`bad host ${JSON.stringify(host)} in ${JSON.stringify(url)}`);
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new ZkUrlError(`bad port ${JSON.stringify(portText)} for host ${host} in ${JSON.stringify(url)} (expected 1-65535)`);
    }
    port = Number(portText);
  }
  return { host, port };
}

/** `zk://<connectString><path>` */
export function formatZkUrl(connectString: string, path = ''): string {
  return `zk://${connectString}${path === '/' ? '' : path}`;
}

/** Joins ZooKeeper path segments: `joinZkPath('/dcos-service-kafka', 'brokers/ids')` → `/dcos-service-kafka/brokers/ids`. */
export function joinZkPath(...segments: string[]): string {
  const joined = segments
    .flatMap((segment) => segment.split('/'))
    .filter((segment) => segment !== '')
    .join('/');
  return `/${joined}`;
}
