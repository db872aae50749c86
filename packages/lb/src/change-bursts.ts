// One route build per event-loop turn for all the state changes of that turn (an event and the status
// updates read with it): setImmediate runs right after this turn's I/O, so a lone change is not delayed.

import type { ClusterState, StateChange } from '@baton/marathon';
import { mergeChanges } from './routes.js';

/** Calls `build` with each turn's changes merged into one; returns the unsubscribe. */
export function onChangeBursts(state: Pick<ClusterState, 'subscribe'>, build: (change: StateChange) => void): () => void {
  let pending: StateChange[] = [];
  const unsubscribe = state.subscribe((change) => {
    if (pending.length === 0) setImmediate(buildPending);
    pending.push(change);
  });
  function buildPending(): void {
    const changes = pending;
    pending = [];
    if (changes.length > 0) build(mergeChanges(changes));
  }
  return () => {
    unsubscribe();
    pending = [];
  };
}
