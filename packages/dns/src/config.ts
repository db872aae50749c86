// Mesos-DNS's config.json, read unchanged (reference mesos-dns.md §8): keys match case-insensitively,
// unknown keys are ignored (reported as warnings), same defaults and validation. baton adds a few keys
// (marathon, healthyOnly, ptrOn, forwardAllowedNetworks, maxUdpPayload, forwardMaxPending, cacheSize,
// workers, httpAuth, hostnameResolvers, minimalAny, rrl*). Errors name the key.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { redactUrl } from '@baton/marathon';

export interface DnsConfig {
  domain: string;
  ttl: number;
  port: number;
  listener: string;
  httpListener: string;
  httpPort: number;
  dnsOn: boolean;
  httpOn: boolean;
  externalOn: boolean;
  recurseOn: boolean;
  /** `ip` or `ip:port`; absent or `[]` in the file → the non-local nameservers of /etc/resolv.conf. */
  resolvers: string[];
  zoneResolvers: Record<string, string[]>;
  /** Forwarder timeout (config key `timeout`). */
  timeoutSeconds: number;
  /** Lower-case FQDNs without the trailing dot, `@` → `.`. */
  soaMname: string;
  soaRname: string;
  soaRefresh: number;
  soaRetry: number;
  soaExpire: number;
  soaMinttl: number;
  srvRecordDefaultWeight: number;
  enforceRfc952: boolean;
  ipSources: string[];
  setTruncateBit: boolean;
  enumerationOn: boolean;
  refreshSeconds: number;
  stateTimeoutSeconds: number;
  masters: string[];
  zk: string;
  mesosHttpsOn: boolean;
  caCertFile: string;
  certFile: string;
  keyFile: string;
  mesosAuthentication: string;
  mesosCredentials: { principal: string; secret: string };
  // baton additions (config keys of the same names, and CLI flags)
  /** Marathon URLs; non-empty = the Marathon feed source is on. */
  marathon: string[];
  healthyOnly: boolean;
  ptrOn: boolean;
  forwardAllowedNetworks: string[];
  maxUdpPayload: number;
  /** Forwarded queries that may wait for upstreams at once; more get SERVFAIL at once. */
  forwardMaxPending: number;
  /** Pre-encoded answers kept (least recently used evicted beyond it), per DNS worker. */
  cacheSize: number;
  /** Processes answering DNS (`--workers`); 1 = the one process does everything. */
  workers: number;
  /** `user:password` for HTTP Basic auth on the HTTP API (all but `/health`); '' = open. */
  httpAuth: string;
  /** DNS servers (`ip` / `ip:port`) resolving agent and framework host names; [] = the system resolver. */
  hostnameResolvers: string[];
  /** ANY is answered with one synthesized HINFO record (RFC 8482); false = SRV + A + AAAA as Mesos-DNS. */
  minimalAny: boolean;
  /** UDP response-rate limiting: replies per second per client network (0 = off). */
  rrlResponsesPerSecond: number;
  /** Of the replies over the rate, every Nth is sent as an empty truncated reply (TC), the rest dropped; 0 = drop all. */
  rrlSlip: number;
  /** Prefix lengths that group clients into networks for the rate limit. */
  rrlIpv4PrefixLength: number;
  rrlIpv6PrefixLength: number;
  // Also read from Mesos-DNS's config (not in the brief's list, kept for `/v1/config` and ZooKeeper)
  /** Seconds to wait for ZooKeeper to name a leader (0 = forever). */
  zkDetectionTimeout: number;
  iamConfigFile: string;
  /** The config file read ('' when none). */
  file: string;
}

export interface ParseResult {
  config?: DnsConfig;
  error?: string;
  /** Unknown keys and other things worth logging. */
  warnings?: string[];
}

export interface ParseOptions {
  /** Nameservers used when `resolvers` is absent or empty (default: non-local nameservers of /etc/resolv.conf). */
  resolvConfNameservers?: () => string[];
}

export const DEFAULT_FORWARD_ALLOWED_NETWORKS: readonly string[] = [
  '127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', '169.254.0.0/16', 'fe80::/10',
];

/** DNS worker processes by default (see docs/benchmarks.md, "Workers"). */
export const DEFAULT_WORKERS = 1;
export const MAX_WORKERS = 256;

export function defaultDnsConfig(): DnsConfig {
  return {
    domain: 'mesos',
    ttl: 60,
    port: 53,
    listener: '0.0.0.0',
    httpListener: '0.0.0.0',
    httpPort: 8123,
    dnsOn: true,
    httpOn: true,
    externalOn: true,
    recurseOn: true,
    resolvers: [],
    zoneResolvers: {},
    timeoutSeconds: 5,
    soaMname: 'ns1.mesos',
    soaRname: 'root.ns1.mesos',
    soaRefresh: 60,
    soaRetry: 600,
    soaExpire: 86400,
    soaMinttl: 60,
    srvRecordDefaultWeight: 1,
    enforceRfc952: false,
    ipSources: ['netinfo', 'mesos', 'host'],
    setTruncateBit: true,
    enumerationOn: true,
    refreshSeconds: 60,
    stateTimeoutSeconds: 300,
    masters: [],
    zk: '',
    mesosHttpsOn: false,
    caCertFile: '',
    certFile: '',
    keyFile: '',
    mesosAuthentication: '',
    mesosCredentials: { principal: '', secret: '' },
    marathon: [],
    healthyOnly: false,
    ptrOn: true,
    forwardAllowedNetworks: [...DEFAULT_FORWARD_ALLOWED_NETWORKS],
    maxUdpPayload: 4096,
    forwardMaxPending: 1024,
    cacheSize: 100_000,
    workers: DEFAULT_WORKERS,
    httpAuth: '',
    hostnameResolvers: [],
    minimalAny: true,
    rrlResponsesPerSecond: 0,
    rrlSlip: 2,
    rrlIpv4PrefixLength: 24,
    rrlIpv6PrefixLength: 56,
    zkDetectionTimeout: 30,
    iamConfigFile: '',
    file: '',
  };
}

type Kind = 'int' | 'posint' | 'port' | 'uint16' | 'bool' | 'string' | 'strings' | 'stringOrStrings' | 'zones' | 'credentials' | 'ignore';

/** Config key (as Mesos-DNS documents it) → field and kind. Matched case-insensitively. */
const KEYS: [key: string, field: keyof DnsConfig | '', kind: Kind][] = [
  ['zk', 'zk', 'string'],
  ['masters', 'masters', 'strings'],
  ['zkDetectionTimeout', 'zkDetectionTimeout', 'int'],
  ['refreshSeconds', 'refreshSeconds', 'posint'],
  ['stateTimeoutSeconds', 'stateTimeoutSeconds', 'posint'],
  ['ttl', 'ttl', 'int'],
  ['srvRecordDefaultWeight', 'srvRecordDefaultWeight', 'uint16'],
  ['domain', 'domain', 'string'],
  ['port', 'port', 'port'],
  ['listener', 'listener', 'string'],
  ['HTTPListener', 'httpListener', 'string'],
  ['httpport', 'httpPort', 'port'],
  ['resolvers', 'resolvers', 'strings'],
  ['zoneResolvers', 'zoneResolvers', 'zones'],
  ['timeout', 'timeoutSeconds', 'posint'],
  ['dnson', 'dnsOn', 'bool'],
  ['httpon', 'httpOn', 'bool'],
  ['externalon', 'externalOn', 'bool'],
  ['recurseon', 'recurseOn', 'bool'],
  ['SOAMname', 'soaMname', 'string'],
  ['SOARname', 'soaRname', 'string'],
  ['SOARefresh', 'soaRefresh', 'int'],
  ['SOARetry', 'soaRetry', 'int'],
  ['SOAExpire', 'soaExpire', 'int'],
  ['SOAMinttl', 'soaMinttl', 'int'],
  ['SOASerial', '', 'ignore'],
  ['IPSources', 'ipSources', 'strings'],
  ['EnforceRFC952', 'enforceRfc952', 'bool'],
  ['SetTruncateBit', 'setTruncateBit', 'bool'],
  ['EnumerationOn', 'enumerationOn', 'bool'],
  ['MesosHTTPSOn', 'mesosHttpsOn', 'bool'],
  ['CACertFile', 'caCertFile', 'string'],
  ['CertFile', 'certFile', 'string'],
  ['KeyFile', 'keyFile', 'string'],
  ['IAMConfigFile', 'iamConfigFile', 'string'],
  ['mesosAuthentication', 'mesosAuthentication', 'string'],
  ['mesosCredentials', 'mesosCredentials', 'credentials'],
  ['File', '', 'ignore'],
  ['marathon', 'marathon', 'stringOrStrings'],
  ['healthyOnly', 'healthyOnly', 'bool'],
  ['ptrOn', 'ptrOn', 'bool'],
  ['forwardAllowedNetworks', 'forwardAllowedNetworks', 'strings'],
  ['maxUdpPayload', 'maxUdpPayload', 'int'],
  ['forwardMaxPending', 'forwardMaxPending', 'posint'],
  ['cacheSize', 'cacheSize', 'posint'],
  ['workers', 'workers', 'posint'],
  ['httpAuth', 'httpAuth', 'string'],
  ['hostnameResolvers', 'hostnameResolvers', 'strings'],
  ['minimalAny', 'minimalAny', 'bool'],
  ['rrlResponsesPerSecond', 'rrlResponsesPerSecond', 'int'],
  ['rrlSlip', 'rrlSlip', 'int'],
  ['rrlIpv4PrefixLength', 'rrlIpv4PrefixLength', 'int'],
  ['rrlIpv6PrefixLength', 'rrlIpv6PrefixLength', 'int'],
];
const BY_LOWER = new Map(KEYS.map((entry) => [entry[0].toLowerCase(), entry]));
const KEY_OF = new Map(KEYS.filter((e) => e[1] !== '').map((e) => [e[1] as keyof DnsConfig, e[0]]));

export const IP_SOURCES: readonly string[] = ['host', 'docker', 'mesos', 'netinfo'];
const DOMAIN = /^[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$/;
const MECHANISMS = new Set(['', 'basic', 'iam']);

class ConfigError extends Error {}

function fail(key: string, message: string): never {
  throw new ConfigError(`config: "${key}" ${message}`);
}

const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

function readValue(key: string, kind: Kind, value: unknown): unknown {
  const isInt = typeof value === 'number' && Number.isInteger(value);
  switch (kind) {
    case 'int':
      if (!isInt || (value as number) < 0 || (value as number) > 0xffffffff) fail(key, `must be a non-negative integer, got ${show(value)}`);
      return value;
    case 'posint':
      if (!isInt || (value as number) <= 0) fail(key, `must be a positive integer, got ${show(value)}`);
      return value;
    case 'port':
      if (!isInt || (value as number) < 0 || (value as number) > 65535) fail(key, `must be a port number (0-65535), got ${show(value)}`);
      return value;
    case 'uint16':
      if (!isInt || (value as number) < 0 || (value as number) > 65535) fail(key, `must be an integer between 0 and 65535, got ${show(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') fail(key, `must be true or false, got ${show(value)}`);
      return value;
    case 'string':
      if (typeof value !== 'string') fail(key, `must be a string, got ${show(value)}`);
      return value;
    case 'strings':
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) fail(key, `must be an array of strings, got ${show(value)}`);
      return [...value];
    case 'stringOrStrings':
      if (typeof value === 'string') return value === '' ? [] : value.split(',').map((s) => s.trim()).filter((s) => s !== '');
      return readValue(key, 'strings', value);
    case 'zones': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(key, `must be an object of zone → resolvers, got ${show(value)}`);
      const out: Record<string, string[]> = {};
      for (const [zone, servers] of Object.entries(value)) {
        if (!Array.isArray(servers) || !servers.every((s) => typeof s === 'string')) {
          fail(key, `zone "${zone}" must map to an array of strings, got ${show(servers)}`);
        }
        out[zone] = [...servers];
      }
      return out;
    }
    case 'credentials': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(key, `must be an object {principal, secret}, got ${show(value)}`);
      const creds = { principal: '', secret: '' };
      for (const [k, v] of Object.entries(value)) {
        const lower = k.toLowerCase() as 'principal' | 'secret';
        if (lower !== 'principal' && lower !== 'secret') continue;
        if (typeof v !== 'string') fail(`${key}.${lower}`, 'must be a string');
        creds[lower] = v;
      }
      return creds;
    }
    case 'ignore':
      return undefined;
  }
}

/** An `ip` or `ip:port` / `[ipv6]:port` resolver address; undefined when valid, else why not. */
export function resolverAddressError(text: string): string | undefined {
  if (isIP(text)) return undefined;
  let host: string;
  let port: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return 'is not an IP or ip:port';
    host = text.slice(1, end);
    port = text.slice(end + 2);
  } else {
    const at = text.lastIndexOf(':');
    if (at < 0) return 'is not an IP or ip:port';
    host = text.slice(0, at);
    port = text.slice(at + 1);
  }
  if (!isIP(host)) return 'is not an IP or ip:port';
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return 'has an invalid port';
  return undefined;
}

/** A CIDR (`10.0.0.0/8`, `::1/128`) or a bare IP; undefined when valid. */
export function cidrError(text: string): string | undefined {
  const [ip, bits, extra] = text.split('/');
  const family = isIP(ip);
  if (!family || extra !== undefined) return 'is not a CIDR';
  if (bits === undefined) return undefined;
  if (!/^\d+$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) return 'has an invalid prefix length';
  return undefined;
}

const nests = (a: string, b: string): boolean => a === b || a.endsWith('.' + b) || b.endsWith('.' + a);

function fqdn(value: string): string {
  return value.replace(/@/g, '.').toLowerCase().replace(/\.+$/, '');
}

function validate(config: DnsConfig, opts: ParseOptions): DnsConfig {
  const key = (field: keyof DnsConfig): string => KEY_OF.get(field) ?? field;
  const c: DnsConfig = { ...config };

  c.domain = c.domain.toLowerCase().replace(/\.$/, '');
  if (!DOMAIN.test(c.domain)) fail(key('domain'), `must be a domain name like "mesos", got ${show(config.domain)}`);
  c.soaMname = fqdn(c.soaMname);
  c.soaRname = fqdn(c.soaRname);
  if (!DOMAIN.test(c.soaMname)) fail(key('soaMname'), `must be a host name, got ${show(config.soaMname)}`);
  if (!DOMAIN.test(c.soaRname)) fail(key('soaRname'), `must be a mailbox name like "root.ns1.mesos", got ${show(config.soaRname)}`);

  if (!c.dnsOn && !c.httpOn) fail(key('dnsOn'), 'and "httpon" are both false: at least one server must be on');
  if (!isIP(c.listener)) fail(key('listener'), `must be an IP address, got ${show(c.listener)}`);
  if (!isIP(c.httpListener)) fail(key('httpListener'), `must be an IP address, got ${show(c.httpListener)}`);

  if (c.ipSources.length === 0) fail(key('ipSources'), 'must not be empty');
  const seenSources = new Set<string>();
  for (const source of c.ipSources) {
    if (!IP_SOURCES.includes(source)) fail(key('ipSources'), `has an unknown source ${show(source)} (allowed: ${IP_SOURCES.join(', ')})`);
    if (seenSources.has(source)) fail(key('ipSources'), `lists ${show(source)} twice`);
    seenSources.add(source);
  }

  const seenMasters = new Set<string>();
  for (const master of c.masters) {
    const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(master);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) fail(key('masters'), `has ${show(master)}, which is not host:port`);
    if (seenMasters.has(master)) fail(key('masters'), `lists ${show(master)} twice`);
    seenMasters.add(master);
  }
  if (c.zk !== '' && !/^zk:\/\/[^/]+\/.*/.test(c.zk)) fail(key('zk'), `must be a zk://host:port[,host:port]/path URL, got ${show(redactUrl(c.zk))}`);
  if (zkCredentials(c.zk)) fail(key('zk'), `credentials in ZooKeeper URLs are not supported: ${show(redactUrl(c.zk))}`);
  if (c.zk === '' && c.masters.length === 0 && c.marathon.length === 0) {
    fail(key('masters'), 'or "zk" is required (or "marathon" for the Marathon source)');
  }
  for (const url of c.marathon) {
    if (!/^(https?|zk):\/\/[^/]+/.test(url)) fail(key('marathon'), `must be http(s) or zk:// URLs, got ${show(redactUrl(url))}`);
    if (zkCredentials(url)) fail(key('marathon'), `credentials in ZooKeeper URLs are not supported: ${show(redactUrl(url))}`);
  }

  if (c.resolvers.length === 0) c.resolvers = (opts.resolvConfNameservers ?? resolvConfNameservers)();
  for (const resolver of c.resolvers) {
    const why = resolverAddressError(resolver);
    if (why) fail(key('resolvers'), `has ${show(resolver)}, which ${why}`);
  }
  const zones: Record<string, string[]> = {};
  for (const [rawZone, servers] of Object.entries(c.zoneResolvers)) {
    const zone = rawZone.toLowerCase().replace(/\.$/, '');
    if (!DOMAIN.test(zone)) fail(key('zoneResolvers'), `has an invalid zone ${show(rawZone)}`);
    if (nests(zone, c.domain)) fail(key('zoneResolvers'), `zone ${show(rawZone)} must not equal or nest with the domain "${c.domain}"`);
    for (const other of Object.keys(zones)) {
      if (nests(zone, other)) fail(key('zoneResolvers'), `zones ${show(other)} and ${show(rawZone)} must not equal or nest with each other`);
    }
    if (servers.length === 0) fail(key('zoneResolvers'), `zone ${show(rawZone)} has no resolvers`);
    for (const server of servers) {
      const why = resolverAddressError(server);
      if (why) fail(key('zoneResolvers'), `zone ${show(rawZone)} has ${show(server)}, which ${why}`);
    }
    zones[zone] = servers;
  }
  c.zoneResolvers = zones;

  for (const network of c.forwardAllowedNetworks) {
    const why = cidrError(network);
    if (why) fail(key('forwardAllowedNetworks'), `has ${show(network)}, which ${why}`);
  }
  for (const resolver of c.hostnameResolvers) {
    const why = resolverAddressError(resolver);
    if (why) fail(key('hostnameResolvers'), `has ${show(resolver)}, which ${why}`);
  }
  if (c.rrlSlip > 10) fail(key('rrlSlip'), `must be between 0 and 10, got ${c.rrlSlip}`);
  if (c.rrlIpv4PrefixLength > 32) fail(key('rrlIpv4PrefixLength'), `must be between 0 and 32, got ${c.rrlIpv4PrefixLength}`);
  if (c.rrlIpv6PrefixLength > 128) fail(key('rrlIpv6PrefixLength'), `must be between 0 and 128, got ${c.rrlIpv6PrefixLength}`);
  if (c.workers > MAX_WORKERS) fail(key('workers'), `must be between 1 and ${MAX_WORKERS}, got ${c.workers}`);
  if (c.maxUdpPayload < 512 || c.maxUdpPayload > 65535) fail(key('maxUdpPayload'), `must be between 512 and 65535, got ${c.maxUdpPayload}`);
  if (c.httpAuth !== '' && c.httpAuth.indexOf(':') < 1) fail(key('httpAuth'), 'must be "user:password"');
  if (!MECHANISMS.has(c.mesosAuthentication)) fail(key('mesosAuthentication'), `must be "", "basic" or "iam", got ${show(c.mesosAuthentication)}`);
  if (c.mesosAuthentication === 'basic' && (c.mesosCredentials.principal === '' || c.mesosCredentials.secret === '')) {
    fail(key('mesosCredentials'), 'needs a principal and a secret when "mesosAuthentication" is "basic"');
  }
  if (c.mesosAuthentication === 'iam' && c.iamConfigFile === '') fail(key('iamConfigFile'), 'is required when "mesosAuthentication" is "iam"');
  return c;
}

/**
 * Parses a Mesos-DNS config.json (already JSON-parsed), applies `overrides` (CLI flags) on top, and
 * validates the result. Never throws: `error` names the offending key.
 */
export function parseDnsConfig(json: unknown, overrides: Partial<DnsConfig> = {}, opts: ParseOptions = {}): ParseResult {
  const warnings: string[] = [];
  try {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new ConfigError(`config: must be a JSON object, got ${show(json)}`);
    }
    const config = defaultDnsConfig();
    const seen = new Map<string, string>();
    for (const [rawKey, value] of Object.entries(json)) {
      const entry = BY_LOWER.get(rawKey.toLowerCase());
      if (!entry) {
        warnings.push(`config: unknown key "${rawKey}" ignored`);
        continue;
      }
      const [, field, kind] = entry;
      if (seen.has(entry[0])) warnings.push(`config: "${rawKey}" repeats "${seen.get(entry[0])}"; the last one wins`);
      seen.set(entry[0], rawKey);
      if (value === null || field === '') continue;
      (config as unknown as Record<string, unknown>)[field] = readValue(rawKey, kind, value);
    }
    for (const [field, value] of Object.entries(overrides)) {
      if (value !== undefined) (config as unknown as Record<string, unknown>)[field] = value;
    }
    const result: ParseResult = { config: validate(config, opts) };
    if (warnings.length > 0) result.warnings = warnings;
    return result;
  } catch (err) {
    if (err instanceof ConfigError) return { error: err.message, warnings: warnings.length > 0 ? warnings : undefined };
    throw err;
  }
}

/** Reads and parses a config file; without a path, the defaults plus `overrides`. */
export function loadDnsConfig(path: string | undefined, overrides: Partial<DnsConfig> = {}, opts: ParseOptions = {}): ParseResult {
  if (path === undefined) return parseDnsConfig({}, overrides, opts);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { error: `config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `config: ${path} is not valid JSON: ${(err as Error).message}` };
  }
  const result = parseDnsConfig(json, { file: path, ...overrides }, opts);
  return result;
}

/** `zk://user:pass@host/…`: ZooKeeper authentication is not supported. */
function zkCredentials(url: string): boolean {
  return /^zk:\/\/[^/]*@/i.test(url);
}

/** Nameservers of /etc/resolv.conf that are not this host's own addresses (as Mesos-DNS). */
export function resolvConfNameservers(resolvConf = '/etc/resolv.conf'): string[] {
  let text = '';
  try {
    text = readFileSync(resolvConf, 'utf8');
  } catch {
    return [];
  }
  const local = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const info of list ?? []) local.add(info.address);
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const address = m[1].replace(/%.*$/, '');
    if (isIP(address) && !local.has(address) && !out.includes(address)) out.push(address);
  }
  return out;
}
