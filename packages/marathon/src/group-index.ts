// Which apps of a ClusterState are under each Marathon group, kept up to date from the state's changes,
// so a question about one group costs that group's apps rather than a walk of the whole cluster.

import type { ClusterState } from './state.js';

const NONE: ReadonlySet<string> = new Set();

export class AppGroupIndex {
  /** Group id (every ancestor of an app, `/` included, and the app's own id) → ids of the apps under it. */
  private byGroup: Map<string, Set<string>> | undefined;
  private readonly indexed = new Set<string>();
  private readonly unsubscribe: () => void;

  constructor(private readonly state: ClusterState) {
    this.unsubscribe = state.subscribe((change) => {
      if (this.byGroup !== undefined) for (const id of change.appIds) this.follow(id);
    });
  }

  /**
   * Ids of the known apps whose id is `groupId` or starts with `groupId/`, as a live view (copy it
   * before changing the state while reading it). Built on the first call (a walk of the state), then
   * kept up to date at O(depth) per changed app.
   */
  appsUnder(groupId: string): Iterable<string> {
    if (this.byGroup === undefined) {
      this.byGroup = new Map();
      for (const app of this.state.apps()) this.add(app.id);
    }
    if (groupId.length > 1 && groupId.endsWith('/')) {
      // `/a/` names what is under /a, not an app called /a.
      const key = groupId.slice(0, -1);
      return [...(this.byGroup.get(key) ?? NONE)].filter((id) => id !== key);
    }
    return this.byGroup.get(groupId) ?? NONE;
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
    for (const key of groupKeys(id)) {
      const ids = this.byGroup!.get(key);
      if (ids === undefined) this.byGroup!.set(key, new Set([id]));
      else ids.add(id);
    }
  }

  private remove(id: string): void {
    this.indexed.delete(id);
    for (const key of groupKeys(id)) {
      const ids = this.byGroup!.get(key);
      if (ids === undefined) continue;
      ids.delete(id);
      if (ids.size === 0) this.byGroup!.delete(key);
    }
  }
}

/** `/a/b/c` → `/`, `/a`, `/a/b`, `/a/b/c`. */
function groupKeys(id: string): string[] {
  const keys = id.startsWith('/') ? ['/'] : [];
  for (let i = id.indexOf('/', 1); i !== -1; i = id.indexOf('/', i + 1)) keys.push(id.slice(0, i));
  keys.push(id);
  return keys;
}
