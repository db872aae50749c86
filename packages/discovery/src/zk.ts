// Kafka brokers from ZooKeeper, via @baton/zookeeper — imported only here, and this module only for
// `--zk`, so the other subcommands never load the ZooKeeper client.

import { UsageError, ZooKeeperError } from './errors.js';

export interface ZkBrokerList {
  /** `host:port` by broker id. */
  brokers: string[];
  /** Why the list may be short (no registry, skipped registrations). */
  note?: string;
}

export async function readKafkaBrokerList(
  url: string,
  options: { timeoutMs?: number; listener?: string } = {},
): Promise<ZkBrokerList> {
  const { readKafkaBrokers, kafkaBrokerIdsPath, parseZkUrl } = await import('@baton/zookeeper');
  let chroot: string;
  try {
    chroot = parseZkUrl(url).chroot;
  } catch (err) {
    throw new UsageError(`--zk ${url}: ${(err as Error).message}`);
  }
  let result;
  try {
    result = await readKafkaBrokers(url, { timeoutMs: options.timeoutMs ?? 10_000, listener: options.listener });
  } catch (err) {
    throw new ZooKeeperError(`ZooKeeper ${url} is unreachable: ${(err as Error).message}`);
  }
  const notes: string[] = [];
  if (!result.registryFound) notes.push(`${kafkaBrokerIdsPath(chroot)} does not exist: wrong chroot, or no broker has registered`);
  for (const skipped of result.errors) notes.push(`skipped ${skipped.error}`);
  return notes.length > 0 ? { brokers: result.addresses, note: notes.join('; ') } : { brokers: result.addresses };
}
