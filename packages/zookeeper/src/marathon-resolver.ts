// `--marathon zk://zk1:2181/marathon`: Marathon base URLs from the leader registered in ZooKeeper.
import type { Logger, MarathonUrlResolver } from '@baton/marathon';
import { quietLogger } from './quiet-logger.js';
import type { MarathonLeader } from './marathon-leader.js';
import { readMarathonLeader, watchMarathonLeader } from './readers.js';
import { ZkSession } from './session.js';
import { parseZkUrl } from './url.js';

export interface MarathonZkOptions {
  /** Scheme of the URLs made from the leader's `host:port` (default `http`; `https` for Marathon run with `--disable_http`). */
  scheme?: 'http' | 'https';
  /** Time allowed to connect and read the leader (default 10 000 ms). */
  timeoutMs?: number;
  /** Requested ZooKeeper session timeout (default 10 000 ms). */
  sessionTimeoutMs?: number;
  logger?: Logger;
}

function urlsOf(leader: MarathonLeader, scheme: string): string[] {
  return leader.leader ? [`${scheme}://${leader.leader}`] : [];
}

/**
 * A `resolveUrls` hook for `MarathonClient`: a `zk://…/marathon` URL (path default `/marathon`) becomes
 * the leader's `http://host:port`, watched so that a new leader replaces it. The ZooKeeper session is
 * closed when the client is.
 *
 *   new MarathonClient({ urls: ['zk://zk1:2181,zk2:2181/marathon'], resolveUrls: marathonUrlResolver() })
 */
export function marathonUrlResolver(options: MarathonZkOptions = {}): MarathonUrlResolver {
  const scheme = options.scheme ?? 'http';
  const logger = options.logger ?? quietLogger();
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (url, onChange, signal) => {
    const { connectString, chroot } = parseZkUrl(url);
    const path = chroot || '/marathon';
    if (signal.aborted) throw new Error('client closed');
    const session = await ZkSession.connect(connectString, {
      connectTimeoutMs: timeoutMs,
      sessionTimeoutMs: options.sessionTimeoutMs,
      logger,
    });
    const watch = watchMarathonLeader(session, path, (leader) => onChange(urlsOf(leader, scheme)), { logger });
    const stop = () => {
      watch.close();
      void session.close();
    };
    if (signal.aborted) {
      stop();
      throw new Error('client closed');
    }
    signal.addEventListener('abort', stop, { once: true });
    try {
      return urlsOf(await watch.ready(timeoutMs), scheme);
    } catch (err) {
      signal.removeEventListener('abort', stop);
      stop();
      throw err;
    }
  };
}

/** One read: the Marathon leader's base URL from a `zk://` URL (`[]` when no leader is registered). */
export async function marathonUrlsFromZk(url: string, options: MarathonZkOptions = {}): Promise<string[]> {
  const leader = await readMarathonLeader(url, { timeoutMs: options.timeoutMs, logger: options.logger });
  return urlsOf(leader, options.scheme ?? 'http');
}

/** True for `zk://` URLs, e.g. to decide whether a bin needs `marathonUrlResolver()`. */
export function isZkUrl(url: string): boolean {
  return /^zk:\/\//i.test(url.trim());
}
