// Which apps of a ClusterState are under each Marathon group, kept up to date from the state's changes,
// so a question about one group costs that group's apps rather than a walk of the whole cluster.

import type { ClusterState } from './state.js';

const NONE: ReadonlySet<string> = new Set();

export class AppGroupIndex {
  /** Group id (each ancestor of an app but `/`) → ids of the apps under it. */
  private byGroup: Map<string, Set<string>> | undefined;
  private readonly indexed = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly state: ClusterState) {
    this.unsubscribe = state.subscribe((change) => {
      if (this.byGroup !== undefined) for (const id of change.appIds) this.follow(id);
    });
  }

  /**
   * Ids of the known apps whose id is `groupId` or starts with `groupId/` (`/`: every app). Built on
   * the first call (a walk of the state), then kept up to date at O(depth) per changed app.
   */
  appsUnder(groupId: string): string[] {
    if (groupId === '/') return Array.from(this.state.apps(), (app) => app.id);
    if (this.byGroup === undefined) {
      this.byGroup = new Map();
      for (const app of this.state.apps()) this.add(app.id);
    }
    // `/a/` names what is under /a, not an app called /a.
    const key = groupId.endsWith('/') ? groupId.slice(0, -1) : groupId;
    const ids = [...(this.byGroup.get(key) ?? NONE)];
    if (key === groupId && this.state.getApp(groupId) !== undefined) ids.push(groupId);
    return ids;
  }

  close(): void {
    this.unsubscribe();
    this.byGroup = undefined;
    this.indexed.clear();
  }

  private follow(id: string): void {
    const known = this.state.getApp(id) !== undefined;
    if (known === this.indexed.has(id)) return;
    if (known) this.add(id);
    else this.remove(id);
  }

  private add(id: string): void {
    this.indexed.add(id);
    for (let i = id.indexOf('/', 1); i !== -1; i = id.indexOf('/', i + 1)) {
      const key = id.slice(0, i);
      const ids = this.byGroup!.get(key);
      if (ids === undefined) this.byGroup!.set(key, new Set<string>().add(id));
      else ids.add(id);
    }
  }

  private remove(id: string): void {
    this.indexed.delete(id);
    for (let i = id.indexOf('/', 1); i !== -1; i = id.indexOf('/', i + 1)) {
      const key = id.slice(0, i);
      const ids = this.byGroup!.get(key);
      if (ids === undefined) continue;
      ids.delete(id);
      if (ids.size === 0) this.byGroup!.delete(key);
    }
  }
}
