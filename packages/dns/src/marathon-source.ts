// The Marathon feed as a record source: every ClusterState change replaces the records of exactly the
// apps it names, synchronously, in the same tick as the event (so answers follow within milliseconds).
import { silentLogger, type App, type Task, type ClusterState, type FeedStatus, type Logger, type StateChange } from '@baton/marathon';
import type { DnsConfig } from './config.js';
import type { RecordStore, SourceStatus } from './record-store.js';
import { appOwnerKey, marathonAppRecords, type RecordOptions } from './records.js';

export type MarathonRecordConfig = Pick<DnsConfig, 'domain' | 'enforceRfc952' | 'ipSources' | 'healthyOnly' | 'ptrOn'>;

export interface MarathonSourceOptions {
  config: MarathonRecordConfig;
  /** The feed keeping `state` in sync, for status (ready, stale, last event). */
  feed?: { status(): FeedStatus };
  logger?: Logger;
}

export class MarathonRecordSource {
  private readonly options: RecordOptions;
  private readonly logger: Logger;
  private unsubscribe?: () => void;
  private lastUpdateAt?: number;
  private lastError?: string;
  /** What each published app's records were built from (immutable snapshots of the state). */
  private readonly published = new Map<string, { app: App; tasks: readonly Task[] }>();

  constructor(
    private readonly state: ClusterState,
    private readonly store: RecordStore,
    private readonly opts: MarathonSourceOptions,
  ) {
    const c = opts.config;
    this.options = {
      domain: c.domain,
      enforceRfc952: c.enforceRfc952,
      ipSources: c.ipSources,
      ptrOn: c.ptrOn,
      healthyOnly: c.healthyOnly,
    };
    this.logger = opts.logger ?? silentLogger();
  }

  /** Publishes every app of the state now, then follows its changes. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.state.subscribe((change) => this.onChange(change));
    this.resync();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /** Republishes every app and drops owners of apps that are gone. */
  resync(): void {
    this.store.batch(() => {
      const present = new Set<string>();
      for (const app of this.state.apps()) {
        present.add(app.id);
        this.publishApp(app.id, app);
      }
      for (const appId of [...this.published.keys()]) if (!present.has(appId)) this.publishApp(appId, undefined);
    });
  }

  status(): SourceStatus {
    const feed = this.opts.feed?.status();
    const status: SourceStatus = {
      name: 'marathon',
      ready: feed ? feed.lastSyncAt !== undefined : this.unsubscribe !== undefined,
      stale: feed?.stale ?? false,
      staleSeconds: feed?.staleSeconds ?? 0,
      lastUpdateAt: feed?.lastEventAt ?? feed?.lastSyncAt ?? this.lastUpdateAt,
    };
    const error = feed?.lastError ?? this.lastError;
    if (error !== undefined) status.lastError = error;
    return status;
  }

  /** Apps currently published. */
  get appCount(): number {
    return this.published.size;
  }

  private onChange(change: StateChange): void {
    if (change.appIds.length === 0) return;
    this.store.batch(() => {
      for (const appId of change.appIds) this.publishApp(appId, this.state.getApp(appId));
    });
  }

  private publishApp(appId: string, app: App | undefined): void {
    const key = appOwnerKey(appId);
    try {
      if (!app) {
        this.store.removeOwner(key);
        this.published.delete(appId);
      } else {
        const tasks = this.state.tasksOf(appId);
        const last = this.published.get(appId);
        // ClusterState replaces what changes, so the same objects mean the same records.
        if (last && last.app === app && last.tasks === tasks) return;
        const options = this.options;
        this.store.replaceOwner(key, () => marathonAppRecords(app, tasks, options));
        this.published.set(appId, { app, tasks });
      }
      this.lastUpdateAt = Date.now();
    } catch (err) {
      this.lastError = `app ${appId}: ${(err as Error).message}`;
      this.logger.error({ err, appId }, 'could not build the records of an app; its previous records are kept');
    }
  }
}
