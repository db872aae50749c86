// One Marathon source for the bins (baton-dns, baton-lb): client (with URL credentials, a DC/OS login,
// zk:// leader resolution), ClusterState, event feed, state file and its staleness.

import { ClusterState } from './state.js';
import { MarathonClient, type MarathonAuth, type MarathonUrlResolver } from './client.js';
import { redactUrl, splitUrlCredentials } from './credentials.js';
import { DcosLogin, parseDcosCredentials } from './dcos-login.js';
import { MarathonFeed, type FeedStatus, type MarathonFeedOptions } from './feed.js';
import { StateFileWriter, loadStateFile, statusWithStateFile, type StateFileLoad, type StateFileStatus } from './state-file.js';
import type { Logger } from './log.js';

export interface MarathonSourceOptions {
  /** Marathon URLs as given: http(s) (`user:pass@` in one is Basic auth unless `auth` is given), or zk://. */
  urls: string[];
  /** Credentials from flags; they, or a URL's, come before a service account (marathon-lb's order). */
  auth?: MarathonAuth;
  /** DC/OS service account JSON: logs in, renewing the token before it expires (when no other credentials). */
  dcosCredentials?: string;
  /** CA certificate (PEM) to trust for https Marathon URLs and the DC/OS login. */
  ca?: string;
  /**
   * Follows the leader of a zk:// URL. Given by the caller: @baton/zookeeper builds on this package
   * (e.g. `(logger) => marathonUrlResolver({ logger })`).
   */
  zkResolver?: (logger: Logger) => MarathonUrlResolver;
  /** `--state-file`: serve the state saved there (reported stale) until Marathon answers, and keep it saved. */
  stateFile?: string;
  /** What the bin serves from the state file, for its log line: `state` (default) or `routes`. */
  served?: string;
  /** Feed settings (tests shorten the heartbeat timeout and the backoff). */
  feed?: Partial<Omit<MarathonFeedOptions, 'client' | 'logger'>>;
}

export interface MarathonSource {
  state: ClusterState;
  client: MarathonClient;
  feed: MarathonFeed;
  /** The Marathon URLs without credentials (for logs and status). */
  urls: string[];
  /** What `stateFile` gave at start. */
  stateFile?: StateFileLoad;
  /** The feed's status, stale while only the state file has answered. */
  feedStatus: () => FeedStatus;
  /** The state file writer's status (undefined without a state file or before start). */
  stateFileStatus(): StateFileStatus | undefined;
  /** Starts the state file writer and the feed (after the caller has subscribed to `state`). */
  start(): void;
  stop(): Promise<void>;
}

/** Builds the source and loads the state file (a zk:// URL needs `zkResolver`); `start()` connects. */
export async function startMarathonSource(options: MarathonSourceOptions, logger: Logger): Promise<MarathonSource> {
  const marathonLogger = logger.child({ module: 'marathon' });
  // `http://user:pass@marathon:8080`: the credentials become Basic auth and leave the URL, so that
  // nothing showing a URL (status, logs, errors) can show them.
  const { urls, auth: urlAuth } = splitUrlCredentials(options.urls);
  const auth = options.auth ?? urlAuth;
  const login =
    auth === undefined && options.dcosCredentials ? new DcosLogin({ account: parseDcosCredentials(options.dcosCredentials), ca: options.ca }) : undefined;
  const hasZk = options.urls.some((url) => /^zk:\/\//i.test(url.trim()));
  if (hasZk && options.zkResolver === undefined) throw new Error('a zk:// Marathon URL needs a ZooKeeper resolver');
  const client = new MarathonClient({
    urls,
    resolveUrls: hasZk ? options.zkResolver!(marathonLogger) : undefined,
    auth,
    login,
    ca: options.ca,
    logger: marathonLogger,
  });
  const state = new ClusterState({ logger: marathonLogger });
  const feed = new MarathonFeed(state, { ...options.feed, client, logger: logger.child({ module: 'marathon-feed' }) });
  let stateFile: StateFileLoad | undefined;
  if (options.stateFile !== undefined) {
    stateFile = await loadStateFile(options.stateFile, state);
    logStateFileLoad(stateFile, options.served ?? 'state', logger);
  }
  const feedStatus = statusWithStateFile(feed, stateFile);
  let writer: StateFileWriter | undefined;
  return {
    state,
    client,
    feed,
    urls: urls.map(redactUrl),
    stateFile,
    feedStatus,
    stateFileStatus: () => writer?.status(),
    start() {
      if (options.stateFile !== undefined) {
        writer = new StateFileWriter(state, { path: options.stateFile, status: feedStatus, logger: logger.child({ module: 'state-file' }) }).start();
      }
      feed.start();
    },
    async stop() {
      await feed.stop();
      await writer?.stop();
      await client.close();
    },
  };
}

function logStateFileLoad(load: StateFileLoad, served: string, logger: Logger): void {
  if (load.status === 'loaded') {
    logger.warn(
      { path: load.path, apps: load.apps, tasks: load.tasks, savedAt: new Date(load.savedAt).toISOString() },
      `serving the ${served} saved in ${load.path} (stale) until Marathon answers`,
    );
  } else if (load.status === 'invalid') {
    logger.error({ path: load.path }, `${load.error}; starting without it`);
  } else {
    logger.info({ path: load.path }, `no state file at ${load.path} yet; it is written after the first sync`);
  }
}
