import { describe, expect, it, vi } from 'vitest';
import { AppGroupIndex } from '../src/group-index.js';
import { ClusterState } from '../src/state.js';

const rawApp = (id: string) => ({ id, instances: 0, portDefinitions: [{ port: 10000 }], tasks: [] });

/** What the index must answer: the apps whose id is the group's or starts with `group/`. */
function walk(state: ClusterState, groupId: string): string[] {
  const prefix = groupId.endsWith('/') ? groupId : `${groupId}/`;
  return [...state.apps()].map((app) => app.id).filter((id) => id === groupId || id.startsWith(prefix)).sort();
}

describe('AppGroupIndex', () => {
  it('answers as a walk of the state would, through adds, removals and full resyncs', () => {
    const state = new ClusterState();
    state.replaceAll(['/a/x', '/a/y', '/ab/z', '/a/b/c', '/top'].map(rawApp));
    const index = new AppGroupIndex(state);
    const groups = ['/', '/a', '/a/', '/ab', '/a/b', '/a/b/c', '/top', '/none'];
    const check = (): void => {
      for (const group of groups) expect([...index.appsUnder(group)].sort(), group).toEqual(walk(state, group));
    };
    check();
    state.replaceApp('/a/b/d', rawApp('/a/b/d'));
    state.replaceApp('/a/x', null);
    state.replaceApp('/none/new', rawApp('/none/new'));
    check();
    state.replaceAll(['/a/y', '/ab/z', '/other/q'].map(rawApp));
    check();
    state.replaceGroup('/ab', []);
    check();
    expect([...index.appsUnder('/a')]).toEqual(['/a/y']);
    index.close();
  });

  it('walks the state once; after that each change costs only the apps it names', () => {
    const state = new ClusterState();
    state.replaceAll(Array.from({ length: 2000 }, (_, i) => rawApp(`/g${i % 100}/app${i}`)));
    const index = new AppGroupIndex(state);
    const walks = vi.spyOn(state, 'apps');
    expect([...index.appsUnder('/g7')]).toHaveLength(20);
    for (let i = 0; i < 50; i++) {
      state.replaceApp(`/g7/extra${i}`, rawApp(`/g7/extra${i}`));
      expect([...index.appsUnder('/g7')]).toHaveLength(21 + i);
      expect([...index.appsUnder(`/g${i}`)].length).toBeGreaterThanOrEqual(20);
    }
    expect(walks).toHaveBeenCalledTimes(1);
    index.close();
  });
});
