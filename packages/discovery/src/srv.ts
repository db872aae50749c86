// DNS SRV lookups (`_broker._tcp.kafka.mesos`) against the system resolver or a given server, e.g. a
// Mesos-DNS-compatible one. Only loaded by the subcommands that use `--srv`.

import { Resolver } from 'node:dns/promises';
import type { SrvRecord } from 'node:dns';
import { SrvLookupError } from './errors.js';
import { hostForAddress } from './seeds.js';

export interface SrvOptions {
  name: string;
  /** `ip` or `ip:port` (`[v6]:port`); default: the system's resolvers. */
  dnsServer?: string;
  timeoutMs?: number;
}

/** `host:port` per record, sorted by priority, then target, then port (every client gets the same order). */
export function srvAddresses(records: readonly SrvRecord[]): string[] {
  const sorted = [...records].sort(
    (a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || a.port - b.port,
  );
  const seen = new Set<string>();
  const out: string[] = [];
  for (const r of sorted) {
    const address = `${hostForAddress(r.name.replace(/\.$/, ''))}:${r.port}`;
    if (!seen.has(address)) {
      seen.add(address);
      out.push(address);
    }
  }
  return out;
}

/** Resolves the SRV name. NXDOMAIN / no records give an empty list; other failures throw SrvLookupError. */
export async function lookupSrv(options: SrvOptions): Promise<string[]> {
  const resolver = new Resolver({ timeout: options.timeoutMs ?? 5000, tries: 2 });
  if (options.dnsServer) resolver.setServers([options.dnsServer]);
  try {
    return srvAddresses(await resolver.resolveSrv(options.name));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    const server = options.dnsServer ?? 'the system resolver';
    throw new SrvLookupError(`SRV lookup of ${options.name} via ${server} failed: ${code ?? (err as Error).message}`);
  }
}
