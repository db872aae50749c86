// `--state-file PATH`: the last good ClusterState saved to disk, so that a restart while Marathon is
// down serves the previous names and routes (reported stale) instead of nothing.
//
// The file is Marathon's own shape — `{"format":"baton-state","version":1,…,"apps":[…]}` where each app
// is a 1.5+ app with its tasks embedded — so loading it is `state.replaceAll(apps)`, the same path as a
// resync. It is written atomically: a temporary file in the same directory (a random name, created
// exclusively: never an existing file or a symlink), fsync, rename, fsync of the directory. The JSON is
// built app by app, yielding to the event loop, so a large state does not hold up DNS answers or
// routes. A file that cannot be used is refused with a message naming it, and baton starts empty.

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { silentLogger, type Logger } from './log.js';
import type { ClusterState } from './state.js';
import type { FeedStatus } from './feed.js';
import type { App, RawApp, RawTask, Task } from './types.js';

export const STATE_FILE_FORMAT = 'baton-state';
export const STATE_FILE_VERSION = 1;

export interface StateSnapshot {
  format: typeof STATE_FILE_FORMAT;
  version: number;
  /** When the file was written (ISO 8601). */
  savedAt: string;
  /** When the saved state was last known in sync with Marathon (ISO 8601); ≤ savedAt. */
  syncedAt: string;
  /** Marathon leader `host:port`, when known. */
  leader?: string;
  /** Apps in Marathon's 1.5+ shape, tasks embedded. */
  apps: RawApp[];
}

// ------------------------------------------------------------------------------------------ pure

/** One app and its tasks back in Marathon's 1.5+ shape; `normalizeApp` of the result gives `app` again. */
export function appToMarathon(app: App, tasks: readonly Task[]): RawApp {
  const raw: RawApp = {
    id: app.id,
    instances: app.instances,
    labels: app.labels,
    env: app.env,
    requirePorts: app.requirePorts,
  };
  if (app.version !== undefined) raw.version = app.version;
  if (app.cmd !== undefined) raw.cmd = app.cmd;
  raw.networks =
    app.networkMode === 'container'
      ? [app.networkName !== undefined ? { mode: 'container', name: app.networkName } : { mode: 'container' }]
      : [{ mode: app.networkMode }];
  const ports = app.ports;
  if (app.networkMode !== 'host' && ports.length > 0 && ports.every((p) => p.containerPort !== undefined)) {
    raw.container = {
      type: 'MESOS',
      portMappings: ports.map((p) => {
        const mapping: Record<string, unknown> = { containerPort: p.containerPort, servicePort: p.servicePort, protocol: p.protocol, labels: p.labels };
        if (p.hostPort !== undefined) mapping.hostPort = p.hostPort;
        if (p.name !== undefined) mapping.name = p.name;
        return mapping;
      }) as NonNullable<RawApp['container']>['portMappings'],
    };
  } else {
    raw.portDefinitions = ports.map((p) => {
      const definition: Record<string, unknown> = { port: p.servicePort, protocol: p.protocol, labels: p.labels };
      if (p.name !== undefined) definition.name = p.name;
      return definition;
    });
  }
  raw.healthChecks = app.healthChecks.map((h) => ({ ...h }));
  raw.tasks = tasks.map(taskToMarathon);
  return raw;
}

function taskToMarathon(task: Task): RawTask {
  const raw: RawTask = {
    id: task.id,
    appId: task.appId,
    host: task.host,
    slaveId: task.slaveId,
    state: task.state,
    ports: task.ports,
    servicePorts: task.servicePorts,
    ipAddresses: task.ipAddresses,
  };
  if (task.stagedAt !== undefined) raw.stagedAt = task.stagedAt;
  if (task.startedAt !== undefined) raw.startedAt = task.startedAt;
  if (task.version !== undefined) raw.version = task.version;
  // Only the verdict is kept: `healthy` = some result alive, `unhealthy` = results, none alive.
  if (task.health !== 'unknown') raw.healthCheckResults = [{ alive: task.health === 'healthy' }];
  return raw;
}

/** The state as a snapshot. `syncedAt` (epoch ms) is when it was last known in sync (default: now). */
export function snapshotOf(state: ClusterState, now = Date.now(), syncedAt = now): StateSnapshot {
  const apps: RawApp[] = [];
  for (const app of state.apps()) apps.push(appToMarathon(app, state.tasksOf(app.id)));
  const snapshot: StateSnapshot = {
    format: STATE_FILE_FORMAT,
    version: STATE_FILE_VERSION,
    savedAt: new Date(now).toISOString(),
    syncedAt: new Date(Math.min(syncedAt, now)).toISOString(),
    apps,
  };
  if (state.leader !== undefined) snapshot.leader = state.leader;
  return snapshot;
}

/** Checks the text of a state file; errors say what is wrong (the caller names the file). */
export function parseStateSnapshot(text: string): { snapshot?: StateSnapshot; error?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { error: `not valid JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' };
  const obj = value as Record<string, unknown>;
  if (obj.format !== STATE_FILE_FORMAT) return { error: `not a baton state file (format is ${JSON.stringify(obj.format)}, expected "${STATE_FILE_FORMAT}")` };
  if (obj.version !== STATE_FILE_VERSION) {
    return { error: `format version ${JSON.stringify(obj.version)} is not supported (this baton reads version ${STATE_FILE_VERSION})` };
  }
  if (!Array.isArray(obj.apps)) return { error: '"apps" is not an array' };
  const savedAt = typeof obj.savedAt === 'string' ? Date.parse(obj.savedAt) : NaN;
  if (!Number.isFinite(savedAt)) return { error: '"savedAt" is not a date' };
  const syncedAt = typeof obj.syncedAt === 'string' && Number.isFinite(Date.parse(obj.syncedAt)) ? obj.syncedAt : obj.savedAt;
  const snapshot: StateSnapshot = {
    format: STATE_FILE_FORMAT,
    version: STATE_FILE_VERSION,
    savedAt: obj.savedAt as string,
    syncedAt: syncedAt as string,
    apps: obj.apps as RawApp[],
  };
  if (typeof obj.leader === 'string') snapshot.leader = obj.leader;
  return { snapshot };
}

// -------------------------------------------------------------------------------------------- I/O

/** Time spent serialising before yielding to the event loop, in ms. */
const SERIALIZE_SLICE_MS = 4;
/** Serialised text is written in pieces of about this many characters. */
const WRITE_PIECE_CHARS = 1024 * 1024;

/**
 * The snapshot's JSON text (as `JSON.stringify(snapshotOf(…))`, keys in another order), in pieces.
 * The apps and their task lists are taken at once (they are immutable snapshots), then turned into
 * JSON app by app, yielding to the event loop every few milliseconds.
 */
export async function snapshotText(state: ClusterState, now = Date.now(), syncedAt = now): Promise<{ pieces: string[]; apps: number }> {
  const contents: [App, readonly Task[]][] = [];
  for (const app of state.apps()) contents.push([app, state.tasksOf(app.id)]);
  const head: Record<string, unknown> = {
    format: STATE_FILE_FORMAT,
    version: STATE_FILE_VERSION,
    savedAt: new Date(now).toISOString(),
    syncedAt: new Date(Math.min(syncedAt, now)).toISOString(),
  };
  if (state.leader !== undefined) head.leader = state.leader;
  const pieces: string[] = [];
  let piece = `${JSON.stringify(head).slice(0, -1)},"apps":[`;
  let sliceStart = performance.now();
  for (let i = 0; i < contents.length; i++) {
    piece += (i > 0 ? ',' : '') + JSON.stringify(appToMarathon(contents[i][0], contents[i][1]));
    if (piece.length >= WRITE_PIECE_CHARS) {
      pieces.push(piece);
      piece = '';
    }
    if (performance.now() - sliceStart >= SERIALIZE_SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
  }
  pieces.push(`${piece}]}`);
  return { pieces, apps: contents.length };
}

/**
 * Writes `text` to `path` atomically: a temporary file with a random name in the same directory,
 * created exclusively (`wx`: an existing file or symlink there is never opened), fsync, rename over
 * `path`, fsync the directory.
 */
export async function writeFileAtomic(path: string, text: string | readonly string[]): Promise<void> {
  const { temp, handle } = await createTemp(path);
  try {
    for (const piece of typeof text === 'string' ? [text] : text) await handle.writeFile(piece, 'utf8'); // appends at the position
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
  try {
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic.
  }
}

async function createTemp(path: string): Promise<{ temp: string; handle: FileHandle }> {
  for (let attempt = 0; ; attempt++) {
    const temp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
    try {
      return { temp, handle: await open(temp, 'wx', 0o644) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 4) throw err;
    }
  }
}

/** Saves the state to `path` atomically; resolves with the number of apps saved. */
export async function saveStateFile(path: string, state: ClusterState, syncedAt?: number): Promise<{ apps: number }> {
  const now = Date.now();
  const { pieces, apps } = await snapshotText(state, now, syncedAt ?? now);
  await writeFileAtomic(path, pieces);
  return { apps };
}

export type StateFileLoad =
  | { status: 'missing'; path: string }
  | { status: 'invalid'; path: string; error: string }
  | { status: 'loaded'; path: string; savedAt: number; syncedAt: number; apps: number; tasks: number; skipped: string[] };

/**
 * Loads the state file into `state` (`replaceAll` + leader). A missing file is `missing`; a file that
 * cannot be read or used is `invalid` with a message naming it, and `state` is left untouched.
 */
export async function loadStateFile(path: string, state: ClusterState): Promise<StateFileLoad> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing', path };
    return { status: 'invalid', path, error: `state file ${path} cannot be read: ${(err as Error).message}` };
  }
  const { snapshot, error } = parseStateSnapshot(text);
  if (!snapshot) return { status: 'invalid', path, error: `state file ${path} is unusable: ${error}` };
  state.replaceAll(snapshot.apps);
  if (snapshot.leader !== undefined) state.setLeader(snapshot.leader);
  const report = state.lastSyncReport ?? { apps: 0, tasks: 0, skipped: [] };
  return {
    status: 'loaded',
    path,
    savedAt: Date.parse(snapshot.savedAt),
    syncedAt: Date.parse(snapshot.syncedAt),
    apps: report.apps,
    tasks: report.tasks,
    skipped: report.skipped,
  };
}

export interface StateFileWriterOptions {
  path: string;
  /** Least time between two writes, in ms (default 1000): a burst of events costs one write. */
  intervalMs?: number;
  /** The feed's status, so the file records when the state was last known in sync. */
  status?: () => Pick<FeedStatus, 'stale' | 'staleSeconds'>;
  logger?: Logger;
}

/** What `/health`, `/_baton/status` and `/metrics` report about the state file. */
export interface StateFileStatus {
  path: string;
  /** Successful writes. */
  writes: number;
  /** Failed writes. */
  errors: number;
  /** Epoch ms of the last successful write. */
  lastWriteAt?: number;
  /** The last failure, until a write succeeds again. */
  lastError?: string;
  /** Epoch ms of the last failure. */
  lastErrorAt?: number;
}

/**
 * Saves the state after every change (at most once per `intervalMs`) and on `stop()`: always at a
 * graceful stop once there is a state, so a file removed or truncated meanwhile is restored. A failed
 * write is logged, reported in `status()` and retried at the next change; it never affects serving.
 */
export class StateFileWriter {
  private readonly intervalMs: number;
  private readonly logger: Logger;
  private unsubscribe?: () => void;
  private timer?: NodeJS.Timeout;
  private writing?: Promise<void>;
  private dirty = false;
  private lastWriteAt = 0;
  /** Writes done and failed, for status and tests. */
  writes = 0;
  failures = 0;
  lastError?: string;
  private lastWrittenAt?: number;
  private lastFailedAt?: number;

  constructor(
    private readonly state: ClusterState,
    private readonly options: StateFileWriterOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 1_000;
    this.logger = options.logger ?? silentLogger();
  }

  start(): this {
    this.unsubscribe ??= this.state.subscribe(() => this.changed());
    return this;
  }

  /** Stops following changes and writes the state (unless it never held anything). */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writing;
    if (this.dirty || this.state.version > 0) await this.write();
  }

  status(): StateFileStatus {
    const status: StateFileStatus = { path: this.options.path, writes: this.writes, errors: this.failures };
    if (this.lastWrittenAt !== undefined) status.lastWriteAt = this.lastWrittenAt;
    if (this.lastError !== undefined) status.lastError = this.lastError;
    if (this.lastFailedAt !== undefined) status.lastErrorAt = this.lastFailedAt;
    return status;
  }

  /** Writes now (after any write in progress). */
  async flush(): Promise<void> {
    await this.writing;
    await this.write();
  }

  private changed(): void {
    this.dirty = true;
    if (this.timer || this.writing) return;
    const wait = Math.max(0, this.lastWriteAt + this.intervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, wait);
    this.timer.unref();
  }

  private write(): Promise<void> {
    if (this.writing) return this.writing;
    this.dirty = false;
    const status = this.options.status?.();
    const syncedAt = status?.stale ? Date.now() - status.staleSeconds * 1000 : Date.now();
    this.writing = saveStateFile(this.options.path, this.state, syncedAt)
      .then(
        ({ apps }) => {
          this.writes++;
          this.lastError = undefined;
          this.lastWrittenAt = Date.now();
          this.logger.debug({ path: this.options.path, apps }, 'state file written');
        },
        (err: unknown) => {
          this.failures++;
          this.lastFailedAt = Date.now();
          this.lastError = `cannot write state file ${this.options.path}: ${(err as Error).message}`;
          this.logger.warn({ path: this.options.path, err: (err as Error).message }, 'cannot write the state file; will retry at the next change');
        },
      )
      .finally(() => {
        this.lastWriteAt = Date.now();
        this.writing = undefined;
        if (this.dirty && this.unsubscribe) this.changed();
      });
    return this.writing;
  }
}

/**
 * The feed's status while the state came from a state file and the feed has not synced yet: `stale`,
 * with `staleSeconds` counted from when the saved state was last in sync, and `lastSyncAt` that time
 * (so servers count the state as loaded). After the first sync, the feed's own status.
 */
export function statusWithStateFile(feed: { status(): FeedStatus }, load: StateFileLoad | undefined): () => FeedStatus {
  if (load?.status !== 'loaded') return () => feed.status();
  return () => {
    const status = feed.status();
    if (status.lastSyncAt !== undefined) return status;
    const ageSeconds = Math.max(0, Math.floor((Date.now() - load.syncedAt) / 1000));
    return {
      ...status,
      stale: true,
      staleSeconds: Math.max(status.staleSeconds, ageSeconds),
      lastSyncAt: load.syncedAt,
      lastError: status.lastError ?? `serving the state saved in ${load.path} until Marathon answers`,
    };
  };
}

/** Prometheus text for a state file's status, e.g. `baton_dns_state_file_errors_total` for prefix `baton_dns`. */
export function stateFileMetricsText(prefix: string, status: StateFileStatus | undefined): string {
  if (status === undefined) return '';
  const lines = [
    `# HELP ${prefix}_state_file_writes_total Successful writes of --state-file.`,
    `# TYPE ${prefix}_state_file_writes_total counter`,
    `${prefix}_state_file_writes_total ${status.writes}`,
    `# HELP ${prefix}_state_file_errors_total Failed writes of --state-file (the reason is in the status and the log).`,
    `# TYPE ${prefix}_state_file_errors_total counter`,
    `${prefix}_state_file_errors_total ${status.errors}`,
    `# HELP ${prefix}_state_file_failing 1 while the last write of --state-file failed.`,
    `# TYPE ${prefix}_state_file_failing gauge`,
    `${prefix}_state_file_failing ${status.lastError !== undefined ? 1 : 0}`,
    `# HELP ${prefix}_state_file_last_error_timestamp_seconds When a write of --state-file last failed (Unix time; 0 = never).`,
    `# TYPE ${prefix}_state_file_last_error_timestamp_seconds gauge`,
    `${prefix}_state_file_last_error_timestamp_seconds ${status.lastErrorAt === undefined ? 0 : status.lastErrorAt / 1000}`,
  ];
  return `${lines.join('\n')}\n`;
}
