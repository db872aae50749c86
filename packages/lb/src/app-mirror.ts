// A worker's copy of the apps the primary's ClusterState holds (--workers). The primary ships, per
// build, the apps a change named with their tasks (plain normalised data, sent as JSON);
// each worker replaces them in its mirror and runs the same RouteBuilder.update on it. Pure.

import type { App, ClusterState, StateChange, Task } from '@baton/marathon';
import type { AppSource } from './routes.js';

/** One app as the primary's state holds it now: `app` null when it is gone. */
export interface AppRecord {
  id: string;
  app: App | null;
  tasks: readonly Task[];
}

/** The apps one change named, for a worker to apply and build as the primary did. */
export interface AppsUpdate {
  version: number;
  change: StateChange;
  apps: AppRecord[];
}

/** The apps of `change`, read from `state`: O(those apps and their tasks). */
export function appsUpdate(state: ClusterState, change: StateChange): AppsUpdate {
  return { version: state.version, change, apps: change.appIds.map((id) => ({ id, app: state.getApp(id) ?? null, tasks: state.tasksOf(id) })) };
}

/** Every app of `state`, for a worker's first table. */
export function appsSnapshot(state: ClusterState): AppsUpdate {
  const apps: AppRecord[] = [];
  for (const app of state.apps()) apps.push({ id: app.id, app, tasks: state.tasksOf(app.id) });
  return { version: state.version, change: { version: state.version, appIds: apps.map((a) => a.id), full: true, reason: 'snapshot' }, apps };
}

const NO_TASKS: readonly Task[] = Object.freeze([]);

export class AppMirror implements AppSource {
  private currentVersion = 0;
  private readonly entries = new Map<string, { app: App; tasks: readonly Task[] }>();

  get version(): number {
    return this.currentVersion;
  }

  *apps(): IterableIterator<App> {
    for (const entry of this.entries.values()) yield entry.app;
  }

  getApp(id: string): App | undefined {
    return this.entries.get(id)?.app;
  }

  tasksOf(appId: string): readonly Task[] {
    return this.entries.get(appId)?.tasks ?? NO_TASKS;
  }

  apply(update: AppsUpdate): void {
    for (const record of update.apps) {
      if (record.app === null) this.entries.delete(record.id);
      else this.entries.set(record.id, { app: record.app, tasks: record.tasks });
    }
    this.currentVersion = update.version;
  }
}
