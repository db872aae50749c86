// ClusterState: the one model of the cluster (apps, their tasks with health, the Marathon leader),
// changed only through the methods below. Every change bumps `version`, names exactly the apps whose
// normalised App or tasks differ, and is handed synchronously to subscribers.
//
// Objects handed out (App, Task, the arrays of tasksOf) are never mutated afterwards: a change
// replaces them. Servers may keep references to them as immutable snapshots.

import { appIdFromTaskId, isPodTaskId, taskMatchesInstance } from './ids.js';
import { silentLogger, type Logger } from './log.js';
import { AppListScanner, createInterner, normalizeIpAddresses, splitAppsJson, tryNormalizeApp, type NormalizedApp } from './normalize.js';
import type { App, MarathonEvent, StateChange, Task, TaskHealth } from './types.js';

export type StateListener = (change: StateChange, state: ClusterState) => void;

export interface ApplyResult {
  change?: StateChange;
  /** App ids to refetch (`GET /v2/apps/{id}?embed=app.tasks`), then pass to `replaceApp`. */
  refetch: string[];
  /** Group ids to refetch, then pass to `replaceGroup`. */
  refetchGroups: string[];
  /** What was wrong with a malformed event; the state is untouched. */
  error?: string;
}

/** What the last `replaceAll` / `replaceGroup` read. */
export interface SyncReport {
  apps: number;
  tasks: number;
  /** One message per app or task that was skipped as malformed. */
  skipped: string[];
}

/** Mesos states after which a task is gone. */
export const TERMINAL_TASK_STATES: ReadonlySet<string> = new Set([
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
  'TASK_UNKNOWN',
]);

/** Mesos states of a task that is (still) there. */
export const LIVE_TASK_STATES: ReadonlySet<string> = new Set([
  'TASK_STAGING',
  'TASK_STARTING',
  'TASK_RUNNING',
  'TASK_KILLING',
  'TASK_UNREACHABLE',
]);

/** `instance_changed_event` conditions after which the instance's tasks are gone. */
export const TERMINAL_CONDITIONS: ReadonlySet<string> = new Set([
  'Killed',
  'Finished',
  'Failed',
  'Error',
  'Gone',
  'Dropped',
  'Unknown',
]);

const DEPLOYMENT_EVENTS = new Set([
  'deployment_info',
  'deployment_success',
  'deployment_failed',
  'deployment_step_success',
  'deployment_step_failure',
]);

const NO_TASKS: readonly Task[] = Object.freeze([]);

/** Characters of a resync payload scanned between two clock checks. */
const SCAN_CHARS = 64 * 1024;
/** Apps applied per slice of a sliced resync at first; adapted to the time each slice takes. */
const FIRST_APPLY_BATCH = 32;
const MAX_APPLY_BATCH = 8192;

/** Tasks whose last status update is remembered (for ordering late updates); the oldest are forgotten. */
const STATUS_CLOCK_LIMIT = 50_000;

/**
 * How long after a terminal status a listing may still show the task because it was fetched before
 * the event arrived (a resync of 100,000 tasks takes seconds to fetch and apply, more on a busy node).
 */
const LISTING_LAG_MS = 120_000;

interface Entry {
  /** Undefined while only tasks are known (a status update for an app not fetched yet). */
  app?: App;
  /** Copy-on-write: replaced, never mutated, so tasksOf() results stay valid snapshots. */
  tasks: readonly Task[];
}

type Obj = Record<string, unknown>;

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class ClusterState {
  private readonly logger: Logger;
  private readonly entries = new Map<string, Entry>();
  private readonly taskIndex = new Map<string, Task>();
  private readonly listeners = new Set<StateListener>();
  private currentVersion = 0;
  private currentLeader: string | undefined;
  private knownApps = 0;
  private lastSync: SyncReport | undefined;
  private readonly intern = createInterner();
  /**
   * Per task id: when its last applied status update happened (its `timestamp`, NaN when it had none)
   * and whether it was terminal. Mesos may deliver a task's updates late and out of order; one older
   * than what was applied is stale, and a terminal one is final unless a strictly newer update follows.
   */
  private readonly statusClock = new Map<string, { at: number; terminal: boolean; seenAt: number }>();

  constructor(opts: { logger?: Logger } = {}) {
    this.logger = opts.logger ?? silentLogger();
  }

  get version(): number {
    return this.currentVersion;
  }

  get leader(): string | undefined {
    return this.currentLeader;
  }

  get appCount(): number {
    return this.knownApps;
  }

  get taskCount(): number {
    return this.taskIndex.size;
  }

  /** What the last full or group resync read, including what it skipped. */
  get lastSyncReport(): SyncReport | undefined {
    return this.lastSync;
  }

  getApp(id: string): App | undefined {
    return this.entries.get(id)?.app;
  }

  *apps(): IterableIterator<App> {
    for (const entry of this.entries.values()) if (entry.app) yield entry.app;
  }

  /** Every known task of the app, any state, in the order they became known. */
  tasksOf(appId: string): readonly Task[] {
    return this.entries.get(appId)?.tasks ?? NO_TASKS;
  }

  getTask(taskId: string): Task | undefined {
    return this.taskIndex.get(taskId);
  }

  subscribe(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  setLeader(leader: string | undefined): StateChange | undefined {
    if (leader === this.currentLeader) return undefined;
    this.currentLeader = leader;
    return this.emit([], false, 'leader');
  }

  // ------------------------------------------------------------------------------------ resyncs

  /**
   * Full resync from `GET /v2/apps?embed=apps.tasks` (the `apps` array). An empty array is a valid
   * answer and means "no apps": everything is removed. Callers must not call this when the fetch
   * failed or the payload was not an array (that is refused here and leaves the state alone).
   * Malformed apps are skipped and logged (see `lastSyncReport`); the others are applied.
   */
  replaceAll(apps: unknown[]): StateChange | undefined {
    if (!Array.isArray(apps)) {
      this.logger.error({ got: typeof apps }, 'resync payload is not an array; state kept');
      return undefined;
    }
    return this.replaceWhere(apps, () => true, true, 'resync');
  }

  /** Refetch of one app (`GET /v2/apps/{id}`'s `app`); `null` means it is gone (404). */
  replaceApp(appId: string, app: unknown | null): StateChange | undefined {
    const touched = new Set<string>();
    if (app === null || app === undefined) {
      this.removeEntry(appId, touched);
      return this.emitIfTouched(touched, false, 'refetch');
    }
    const normalized = tryNormalizeApp(app, this.intern);
    if (!normalized.app) {
      this.logger.warn({ appId, error: normalized.error }, 'refetched app is malformed; state kept');
      return undefined;
    }
    for (const message of normalized.taskErrors ?? []) this.logger.warn({ appId }, message);
    if (normalized.app.id !== appId) {
      this.logger.warn({ appId, got: normalized.app.id }, 'refetched app has another id; applied under its own');
    }
    this.upsert(normalized.app, normalized.tasks, touched);
    return this.emitIfTouched(touched, false, 'refetch');
  }

  /** Refetch of a group subtree: apps under `groupId` that are not in `apps` are removed. */
  replaceGroup(groupId: string, apps: unknown[]): StateChange | undefined {
    if (!Array.isArray(apps)) {
      this.logger.error({ groupId, got: typeof apps }, 'group payload is not an array; state kept');
      return undefined;
    }
    const prefix = groupId.endsWith('/') ? groupId : groupId + '/';
    return this.replaceWhere(apps, (id) => id === groupId || id.startsWith(prefix), false, 'refetch');
  }

  /**
   * Full resync from the text of a `GET /v2/apps?embed=apps.tasks` response. Same as
   * `replaceAll(JSON.parse(text).apps)`, but parses app by app, so the peak memory of a big resync is
   * the text plus the state rather than a parsed copy of the whole payload as well. Text that is not
   * valid JSON, or has no `apps` array, is an error and leaves the state untouched.
   */
  replaceAllFromJson(text: string): { change?: StateChange; error?: string } {
    const split = splitAppsJson(text);
    if (!split.slices) {
      this.logger.error({ error: split.error }, 'resync payload is malformed; state kept');
      return { error: split.error };
    }
    const report: SyncReport = { apps: 0, tasks: 0, skipped: [] };
    const normalized: NormalizedApp[] = new Array(split.slices.length);
    for (let i = 0; i < split.slices.length; i++) {
      let raw: unknown;
      try {
        raw = JSON.parse(split.slices[i]);
      } catch (err) {
        const error = `apps response is not valid JSON (app #${i}: ${(err as Error).message})`;
        this.logger.error({ error }, 'resync payload is malformed; state kept');
        return { error };
      }
      split.slices[i] = '';
      normalized[i] = tryNormalizeApp(raw, this.intern);
    }
    const change = this.applyNormalized(normalized, () => true, true, 'resync', report);
    return change ? { change } : {};
  }

  /**
   * `replaceAllFromJson` for large clusters, without stalling the event loop: the text is scanned,
   * parsed and normalised a few milliseconds (`sliceMs`, default 4) at a time, then applied in
   * batches sized to take about as long, yielding to the event loop between slices, so DNS answers
   * and routes keep being served during a resync of 100k tasks. Subscribers see one change per
   * batch; each app is applied whole (definition and tasks together), so they only ever see an app
   * as it was or as Marathon listed it. Apps missing from the listing are removed last. Malformed
   * text is an error found before anything is applied (the state is untouched). `signal` stops the
   * work between slices (what was applied stays: each app is consistent, the resync is incomplete).
   */
  async replaceAllFromJsonSliced(
    text: string,
    options: { sliceMs?: number; signal?: AbortSignal } = {},
  ): Promise<{ appsChanged: number; error?: string }> {
    const sliceMs = options.sliceMs ?? 4;
    const aborted = () => options.signal?.aborted === true;
    const scanner = new AppListScanner(text);
    const normalized: (NormalizedApp | undefined)[] = [];
    let malformed: string | undefined;
    const onApp = (appText: string): void => {
      if (malformed !== undefined) return;
      let raw: unknown;
      try {
        raw = JSON.parse(appText);
      } catch (err) {
        malformed = `apps response is not valid JSON (app #${normalized.length}: ${(err as Error).message})`;
        return;
      }
      normalized.push(tryNormalizeApp(raw, this.intern));
    };
    for (let more = true; more; ) {
      const deadline = performance.now() + sliceMs;
      do more = scanner.scan(SCAN_CHARS, onApp);
      while (more && malformed === undefined && performance.now() < deadline);
      const error = malformed ?? scanner.error;
      if (error !== undefined) {
        this.logger.error({ error }, 'resync payload is malformed; state kept');
        return { appsChanged: 0, error };
      }
      if (more) await nextTurn();
      if (aborted()) return { appsChanged: 0, error: 'resync stopped' };
    }

    const report: SyncReport = { apps: 0, tasks: 0, skipped: [] };
    const seen = new Set<string>();
    const changed = new Set<string>();
    const inScope = () => true;
    let next = 0;
    await this.inBatches(normalized.length, sliceMs, aborted, (touched, count) => {
      for (const end = next + count; next < end; next++) {
        this.applyListed(normalized[next]!, inScope, seen, report, touched);
        normalized[next] = undefined; // applied: let it go
      }
      for (const id of touched) changed.add(id);
      this.emitIfTouched(touched, false, 'resync');
    });
    if (aborted()) return { appsChanged: changed.size, error: 'resync stopped' };
    const gone = [...this.entries.keys()].filter((id) => !seen.has(id));
    let removed = 0;
    await this.inBatches(gone.length, sliceMs, aborted, (touched, count) => {
      for (const end = removed + count; removed < end; removed++) this.removeEntry(gone[removed], touched);
      for (const id of touched) changed.add(id);
      this.emitIfTouched(touched, true, 'resync');
    });
    this.finishReport(report, 'resync');
    return { appsChanged: changed.size };
  }

  /** Runs `step` over `total` items in batches sized to take about `sliceMs`, yielding between them. */
  private async inBatches(
    total: number,
    sliceMs: number,
    aborted: () => boolean,
    step: (touched: Set<string>, count: number) => void,
  ): Promise<void> {
    let batch = FIRST_APPLY_BATCH;
    for (let done = 0; done < total && !aborted(); ) {
      const count = Math.min(batch, total - done);
      const started = performance.now();
      step(new Set<string>(), count);
      done += count;
      const took = performance.now() - started;
      if (took < sliceMs / 2) batch = Math.min(MAX_APPLY_BATCH, batch * 2);
      else if (took > sliceMs) batch = Math.max(1, Math.floor(batch / 2));
      if (done < total) await nextTurn();
    }
  }

  private replaceWhere(
    rawApps: unknown[],
    inScope: (appId: string) => boolean,
    full: boolean,
    reason: string,
  ): StateChange | undefined {
    const report: SyncReport = { apps: 0, tasks: 0, skipped: [] };
    const normalized: NormalizedApp[] = new Array(rawApps.length);
    for (let i = 0; i < rawApps.length; i++) normalized[i] = tryNormalizeApp(rawApps[i], this.intern);
    return this.applyNormalized(normalized, inScope, full, reason, report);
  }

  private applyNormalized(
    normalized: NormalizedApp[],
    inScope: (appId: string) => boolean,
    full: boolean,
    reason: string,
    report: SyncReport,
  ): StateChange | undefined {
    const touched = new Set<string>();
    const seen = new Set<string>();
    for (const item of normalized) this.applyListed(item, inScope, seen, report, touched);
    for (const id of [...this.entries.keys()]) {
      if (inScope(id) && !seen.has(id)) this.removeEntry(id, touched);
    }
    this.finishReport(report, reason);
    return this.emitIfTouched(touched, full, reason);
  }

  /** One app of a listing: skipped (and reported) when malformed, out of scope or listed twice, else put in place. */
  private applyListed(
    { app, tasks, error, taskErrors }: NormalizedApp,
    inScope: (appId: string) => boolean,
    seen: Set<string>,
    report: SyncReport,
    touched: Set<string>,
  ): void {
    if (!app) {
      report.skipped.push(error ?? 'malformed app');
      return;
    }
    const id = app.id;
    if (!inScope(id)) {
      report.skipped.push(`app ${id} is outside the refetched group`);
      return;
    }
    if (seen.has(id)) {
      report.skipped.push(`app ${id} is listed twice`);
      return;
    }
    seen.add(id);
    report.apps++;
    report.tasks += tasks?.length ?? 0;
    if (taskErrors) report.skipped.push(...taskErrors);
    this.upsert(app, tasks, touched);
  }

  private finishReport(report: SyncReport, reason: string): void {
    this.lastSync = report;
    if (report.skipped.length > 0) {
      this.logger.warn({ skipped: report.skipped.length, first: report.skipped.slice(0, 5) }, `${reason}: skipped malformed input`);
    }
  }

  /**
   * Puts an app and (if given) its complete task list in place, adding to `touched` what differs.
   * Unchanged tasks keep their identity and position; new ones are appended in payload order.
   */
  private upsert(app: App, tasks: Task[] | undefined, touched: Set<string>): void {
    const id = app.id;
    let entry = this.entries.get(id);
    if (!entry) {
      entry = { tasks: NO_TASKS };
      this.entries.set(id, entry);
    }
    if (!entry.app) this.knownApps++;
    if (!entry.app || !appEquals(entry.app, app)) {
      entry.app = app;
      touched.add(id);
    }
    if (tasks === undefined) return;

    const remember = app.healthChecks.length > 0;
    const incoming = new Map<string, Task>();
    for (const task of tasks) {
      if (this.killedRecently(task.id)) continue;
      if (remember && task.health === 'unknown') {
        // Right after a leader election Marathon reports no health results: keep what we knew.
        const known = this.taskIndex.get(task.id);
        if (known && known.health !== 'unknown') task.health = known.health;
      }
      incoming.set(task.id, task);
    }

    const old = entry.tasks;
    let changed = old.length !== incoming.size;
    const next: Task[] = [];
    for (const previous of old) {
      const fresh = incoming.get(previous.id);
      if (fresh === undefined) {
        changed = true;
        this.taskIndex.delete(previous.id);
        continue;
      }
      incoming.delete(previous.id);
      if (taskEquals(previous, fresh)) {
        next.push(previous);
      } else {
        changed = true;
        next.push(fresh);
        this.taskIndex.set(fresh.id, fresh);
      }
    }
    for (const fresh of incoming.values()) {
      changed = true;
      const elsewhere = this.taskIndex.get(fresh.id);
      if (elsewhere && elsewhere.appId !== id) this.dropTask(elsewhere, touched);
      next.push(fresh);
      this.taskIndex.set(fresh.id, fresh);
    }
    if (changed) {
      entry.tasks = next.slice(); // exact size (see normalize.ts)
      touched.add(id);
    }
  }

  private removeEntry(appId: string, touched: Set<string>): void {
    const entry = this.entries.get(appId);
    if (!entry) return;
    for (const task of entry.tasks) this.taskIndex.delete(task.id);
    if (entry.app) this.knownApps--;
    this.entries.delete(appId);
    touched.add(appId);
  }

  /** Removes one task from its app's list (copy-on-write) and the index. */
  private dropTask(task: Task, touched?: Set<string>): void {
    this.taskIndex.delete(task.id);
    const entry = this.entries.get(task.appId);
    if (entry) {
      const index = entry.tasks.indexOf(task);
      if (index >= 0) {
        const next = entry.tasks.slice();
        next.splice(index, 1);
        entry.tasks = next;
        if (!entry.app && next.length === 0) this.entries.delete(task.appId);
      }
    }
    touched?.add(task.appId);
  }

  /** Adds or replaces one task in its app's list (copy-on-write) and the index. */
  private putTask(previous: Task | undefined, task: Task): void {
    if (previous && previous.appId !== task.appId) {
      this.dropTask(previous);
      previous = undefined;
    }
    let entry = this.entries.get(task.appId);
    if (!entry) {
      entry = { tasks: NO_TASKS };
      this.entries.set(task.appId, entry);
    }
    const tasks = entry.tasks;
    const index = previous ? tasks.indexOf(previous) : -1;
    if (index >= 0) {
      const next = tasks.slice();
      next[index] = task;
      entry.tasks = next;
    } else {
      entry.tasks = tasks.concat([task]);
    }
    this.taskIndex.set(task.id, task);
  }

  // ------------------------------------------------------------------------------------- events

  /** Applies one event from `/v2/events`. Never throws; a malformed event leaves the state untouched. */
  applyEvent(event: MarathonEvent): ApplyResult {
    if (!isObject(event)) return fail('event is not an object');
    const type = event.eventType;
    if (typeof type !== 'string') return fail('event has no string eventType');
    try {
      switch (type) {
        case 'status_update_event':
          return this.applyStatusUpdate(event);
        case 'health_status_changed_event':
          return this.applyHealthStatusChanged(event);
        case 'instance_health_changed_event':
          return this.applyInstanceHealthChanged(event);
        case 'instance_changed_event':
          return this.applyInstanceChanged(event);
        case 'api_post_event': {
          const definition = event.appDefinition;
          if (!isObject(definition) || typeof definition.id !== 'string' || definition.id === '') {
            return fail('api_post_event has no string appDefinition.id');
          }
          return { ...this.applyPostedDefinition(definition), refetch: [definition.id], refetchGroups: [] };
        }
        case 'app_terminated_event':
          if (typeof event.appId !== 'string' || event.appId === '') {
            return fail('app_terminated_event has no string appId');
          }
          return refetch([event.appId]);
        case 'group_change_success':
          if (typeof event.groupId !== 'string' || event.groupId === '') {
            return fail('group_change_success has no string groupId');
          }
          return { refetch: [], refetchGroups: [event.groupId] };
        default:
          if (DEPLOYMENT_EVENTS.has(type)) return refetch(deploymentAppIds(event));
          return nothing();
      }
    } catch (err) {
      // Defensive: nothing above should throw, but an event must never take the feed down.
      return fail(`${type}: ${(err as Error).message}`);
    }
  }

  /**
   * The definition an `api_post_event` carries is the app as Marathon now has it, so routes and names
   * that depend only on the definition (labels, ports) change without waiting for the refetch the
   * event also asks for. The app's tasks are kept; the refetch brings any that the update replaces.
   */
  private applyPostedDefinition(definition: Record<string, unknown>): { change?: StateChange } {
    const normalized = tryNormalizeApp({ ...definition, tasks: undefined }, this.intern);
    if (!normalized.app) return {};
    const touched = new Set<string>();
    this.upsert(normalized.app, undefined, touched);
    const change = this.emitIfTouched(touched, false, 'api_post_event');
    return change ? { change } : {};
  }

  private applyStatusUpdate(event: MarathonEvent): ApplyResult {
    const taskId = event.taskId;
    const status = event.taskStatus;
    if (typeof taskId !== 'string' || taskId === '') return fail('status_update_event has no string taskId');
    if (typeof status !== 'string') return fail(`status_update_event for ${taskId} has no string taskStatus`);
    const appId = typeof event.appId === 'string' && event.appId !== '' ? event.appId : appIdFromTaskId(taskId);
    if (appId === undefined) return fail(`status_update_event for ${taskId} has no appId`);
    if (isPodTaskId(taskId)) return nothing();

    const terminal = TERMINAL_TASK_STATES.has(status);
    if (!terminal && !LIVE_TASK_STATES.has(status)) return fail(`status_update_event for ${taskId} has unknown taskStatus ${status}`);
    if (!this.orderedStatus(taskId, event.timestamp, terminal)) return nothing();

    const previous = this.taskIndex.get(taskId);
    if (terminal) {
      if (!previous) return nothing();
      this.dropTask(previous);
      return { change: this.emit([previous.appId], false, 'status_update_event'), refetch: [], refetchGroups: [] };
    }
    const timestamp = typeof event.timestamp === 'string' ? event.timestamp : undefined;
    const app = this.entries.get(appId)?.app;
    const host = typeof event.host === 'string' && event.host !== '' && event.host !== 'unknown' ? event.host : undefined;
    const slaveId = typeof event.slaveId === 'string' && event.slaveId !== '' ? event.slaveId : undefined;
    const version = typeof event.version === 'string' ? event.version : undefined;
    const task: Task = {
      id: previous?.id ?? taskId,
      appId,
      host: host !== undefined ? this.intern(host) : (previous?.host ?? ''),
      slaveId: slaveId !== undefined ? this.intern(slaveId) : (previous?.slaveId ?? ''),
      state: this.intern(status),
      // Unchanged arrays keep the previous instance: less garbage, and taskEquals compares by identity.
      ports: Array.isArray(event.ports) ? (samePorts(event.ports, previous?.ports) ?? numbersOf(event.ports)) : (previous?.ports ?? []),
      servicePorts: previous?.servicePorts ?? (app ? app.ports.map((p) => p.servicePort) : []),
      ipAddresses: addressesOf(event.ipAddresses, previous?.ipAddresses),
      stagedAt: previous?.stagedAt ?? timestamp,
      startedAt: previous?.startedAt ?? (status === 'TASK_RUNNING' ? timestamp : undefined),
      version: version !== undefined ? this.intern(version) : previous?.version,
      health: previous?.health ?? 'unknown',
    };

    const refetchIds = app ? [] : [appId];
    if (previous && taskEquals(previous, task)) return { refetch: refetchIds, refetchGroups: [] };
    const touched = previous && previous.appId !== appId ? [previous.appId, appId] : [appId];
    this.putTask(previous, task);
    return { change: this.emit(touched, false, 'status_update_event'), refetch: refetchIds, refetchGroups: [] };
  }

  /**
   * Records a status update in the task's clock; false when it is stale: a live update after a
   * terminal one that is not strictly newer (a late TASK_RUNNING must not bring a killed task back),
   * or any update older than the last one applied. Terminal updates always apply.
   */
  private orderedStatus(taskId: string, timestamp: unknown, terminal: boolean): boolean {
    const at = typeof timestamp === 'string' ? Date.parse(timestamp) : NaN;
    const last = this.statusClock.get(taskId);
    if (last && !terminal && (last.terminal ? !(at > last.at) : at < last.at)) return false;
    this.statusClock.delete(taskId);
    const newest = last === undefined || Number.isNaN(last.at) ? at : Number.isNaN(at) ? last.at : Math.max(at, last.at);
    this.statusClock.set(taskId, { at: newest, terminal, seenAt: Date.now() });
    if (this.statusClock.size > STATUS_CLOCK_LIMIT) this.statusClock.delete(this.statusClock.keys().next().value!);
    return true;
  }

  /**
   * Whether a listed task is one a terminal status removed less than `LISTING_LAG_MS` ago: a listing
   * (resync, group or app refetch) fetched before the kill event arrived still lists it, and must
   * not bring it back. Past that, a listing that still shows the task is believed.
   */
  private killedRecently(taskId: string): boolean {
    const last = this.statusClock.get(taskId);
    return last !== undefined && last.terminal && Date.now() - last.seenAt < LISTING_LAG_MS;
  }

  private applyHealthStatusChanged(event: MarathonEvent): ApplyResult {
    const id = typeof event.instanceId === 'string' ? event.instanceId : event.taskId;
    if (typeof id !== 'string' || id === '') {
      return fail('health_status_changed_event has no string instanceId or taskId');
    }
    if (typeof event.alive !== 'boolean') return fail(`health_status_changed_event for ${id} has no boolean alive`);
    return this.setHealth(event.appId, id, event.alive ? 'healthy' : 'unhealthy', 'health_status_changed_event');
  }

  private applyInstanceHealthChanged(event: MarathonEvent): ApplyResult {
    const id = event.instanceId;
    if (typeof id !== 'string' || id === '') return fail('instance_health_changed_event has no string instanceId');
    const healthy = event.healthy;
    if (healthy !== true && healthy !== false && healthy !== null) {
      return fail(`instance_health_changed_event for ${id} has no healthy true/false/null`);
    }
    const health: TaskHealth = healthy === null ? 'unknown' : healthy ? 'healthy' : 'unhealthy';
    return this.setHealth(event.runSpecId, id, health, 'instance_health_changed_event');
  }

  private applyInstanceChanged(event: MarathonEvent): ApplyResult {
    const id = event.instanceId;
    if (typeof id !== 'string' || id === '') return fail('instance_changed_event has no string instanceId');
    if (typeof event.condition !== 'string') return fail(`instance_changed_event for ${id} has no string condition`);
    if (!TERMINAL_CONDITIONS.has(event.condition)) return nothing();
    const tasks = this.tasksOfInstance(event.runSpecId, id);
    if (tasks.length === 0) return nothing();
    const touched = new Set<string>();
    for (const task of tasks) this.dropTask(task, touched);
    return { change: this.emit([...touched], false, 'instance_changed_event'), refetch: [], refetchGroups: [] };
  }

  private setHealth(appIdHint: unknown, instanceOrTaskId: string, health: TaskHealth, reason: string): ApplyResult {
    const tasks = this.tasksOfInstance(appIdHint, instanceOrTaskId);
    let changed = false;
    for (const task of tasks) {
      if (task.health === health) continue;
      this.putTask(task, { ...task, health });
      changed = true;
    }
    if (!changed) return nothing();
    return { change: this.emit([tasks[0].appId], false, reason), refetch: [], refetchGroups: [] };
  }

  /** The tasks an instance (or task) id names: looked up in the hinted app, else the id's own app. */
  private tasksOfInstance(appIdHint: unknown, instanceOrTaskId: string): Task[] {
    const exact = this.taskIndex.get(instanceOrTaskId);
    if (exact) return [exact];
    const candidates: string[] = [];
    if (typeof appIdHint === 'string') candidates.push(appIdHint);
    const derived = appIdFromTaskId(instanceOrTaskId);
    if (derived !== undefined && derived !== appIdHint) candidates.push(derived);
    for (const appId of candidates) {
      const matches = this.tasksOf(appId).filter((t) => taskMatchesInstance(t.id, instanceOrTaskId));
      if (matches.length > 0) return matches;
    }
    return [];
  }

  // ------------------------------------------------------------------------------------ changes

  private emitIfTouched(touched: Set<string>, full: boolean, reason: string): StateChange | undefined {
    if (touched.size === 0) return undefined;
    return this.emit([...touched], full, reason);
  }

  private emit(appIds: string[], full: boolean, reason: string): StateChange {
    const change: StateChange = { version: ++this.currentVersion, appIds, full, reason };
    for (const listener of this.listeners) {
      try {
        listener(change, this);
      } catch (err) {
        this.logger.error({ err, reason }, 'state listener threw; other listeners unaffected');
      }
    }
    return change;
  }
}

// ------------------------------------------------------------------------------------------ helpers

/** Resolves after the I/O waiting now (DNS queries, HTTP requests) has been handled. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function fail(error: string): ApplyResult {
  return { refetch: [], refetchGroups: [], error };
}

function nothing(): ApplyResult {
  return { refetch: [], refetchGroups: [] };
}

function refetch(appIds: string[]): ApplyResult {
  return { refetch: appIds, refetchGroups: [] };
}

/** The previous ports when the event repeats them, else undefined. */
function samePorts(value: unknown[], previous: number[] | undefined): number[] | undefined {
  if (previous === undefined || value.length !== previous.length) return undefined;
  for (let i = 0; i < value.length; i++) if (value[i] !== previous[i]) return undefined;
  return previous;
}

/** The event's addresses; `[]` means "unknown" in status updates, so known ones are kept. */
function addressesOf(value: unknown, previous: Task['ipAddresses'] | undefined): Task['ipAddresses'] {
  if (previous !== undefined && Array.isArray(value) && value.length === previous.length) {
    let equal = true;
    for (let i = 0; i < value.length && equal; i++) {
      const entry = value[i] as { ipAddress?: unknown; protocol?: unknown } | null;
      equal = typeof entry === 'object' && entry !== null && entry.ipAddress === previous[i].ipAddress &&
        (entry.protocol === undefined || entry.protocol === previous[i].protocol);
    }
    if (equal) return previous;
  }
  const fresh = normalizeIpAddresses(value);
  return fresh.length > 0 || previous === undefined ? fresh : previous;
}

function numbersOf(value: unknown[]): number[] {
  const valid = (item: unknown): item is number => typeof item === 'number' && Number.isFinite(item);
  return value.every(valid) ? value.slice() : value.filter(valid);
}

/**
 * App ids named by a deployment event: `plan.steps[].actions[].app` and `currentStep.actions[].app`
 * (1.8+ light format), plus the documented `plan.steps[].app` variant. Pod actions (`pod`) are ignored.
 */
function deploymentAppIds(event: MarathonEvent): string[] {
  const ids = new Set<string>();
  const addActions = (actions: unknown): void => {
    if (!Array.isArray(actions)) return;
    for (const action of actions) {
      if (isObject(action) && typeof action.app === 'string' && action.app !== '') ids.add(action.app);
    }
  };
  const plan = event.plan;
  if (isObject(plan) && Array.isArray(plan.steps)) {
    for (const step of plan.steps) {
      if (!isObject(step)) continue;
      addActions(step.actions);
      addActions([step]);
    }
  }
  if (isObject(event.currentStep)) addActions(event.currentStep.actions);
  return [...ids];
}

function arraysEqual<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function ipsEqual(a: Task['ipAddresses'], b: Task['ipAddresses']): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].ipAddress !== b[i].ipAddress || a[i].protocol !== b[i].protocol) return false;
  }
  return true;
}

/** Field-by-field comparison of two normalised tasks. */
export function taskEquals(a: Task, b: Task): boolean {
  return (
    a === b ||
    (a.id === b.id &&
      a.appId === b.appId &&
      a.state === b.state &&
      a.health === b.health &&
      a.host === b.host &&
      a.slaveId === b.slaveId &&
      a.version === b.version &&
      a.stagedAt === b.stagedAt &&
      a.startedAt === b.startedAt &&
      arraysEqual(a.ports, b.ports) &&
      arraysEqual(a.servicePorts, b.servicePorts) &&
      ipsEqual(a.ipAddresses, b.ipAddresses))
  );
}

/** Structural comparison of two normalised apps (plain JSON values, so a small deep-equal suffices). */
export function appEquals(a: App, b: App): boolean {
  return a === b || jsonEquals(a, b);
}

function jsonEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEquals(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  for (const key of ak) {
    if (!Object.prototype.hasOwnProperty.call(b, key)) return false;
    if (!jsonEquals((a as Obj)[key], (b as Obj)[key])) return false;
  }
  return true;
}
