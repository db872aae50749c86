// Copies of the RecordStore kept in step: the primary of `--workers` sends each owner whose records
// changed, the workers apply them to their own store. The records are generated once, by the primary's
// sources; a worker only indexes them. An update costs O(records of the owners that changed), whatever
// the store's size. An owner's records travel as JSON text, and a copy keeps that text (parsed when the
// owner is replaced or listed) rather than the record objects: one string per owner instead of a few
// hundred objects, as the primary keeps a function per Marathon app.
import type { RecordStore } from './record-store.js';
import type { DnsRecord, OwnerRecords } from './records.js';

/** One owner's records now, as JSON text of its OwnerRecords (`undefined`: the owner is gone). */
export type OwnerChange = [owner: string, records: string | undefined];

/** What a copy applies: owner changes, then the serial of the store they came from. */
export interface OwnerChangesMessage {
  t: 'owners';
  changes: OwnerChange[];
  serial: number;
}

/** Records per snapshot message: a worker's event loop is never held by one huge message. */
const SNAPSHOT_RECORDS_PER_MESSAGE = 20_000;

/**
 * Collects the owners `store` replaces during one turn of the event loop (one Marathon event, one
 * master poll) and hands them to `send` as one message at the end of the turn. Owners replaced by
 * records equal to the ones they had (a master poll republishes everything) are left out.
 */
export function followOwnerChanges(store: RecordStore, send: (message: OwnerChangesMessage) => void): () => void {
  let pending: Map<string, OwnerRecords | undefined> | undefined;
  const flush = () => {
    const changes: OwnerChange[] = [];
    for (const [owner, records] of pending!) changes.push([owner, records && JSON.stringify(records)]);
    pending = undefined;
    send({ t: 'owners', changes, serial: store.serial });
  };
  return store.watchOwners((owner, records, previous) => {
    if (!pending?.has(owner) && sameOwnerRecords(records, previous)) return;
    if (pending === undefined) {
      pending = new Map();
      queueMicrotask(flush);
    }
    pending.set(owner, records);
  });
}

/** Every owner of `store` as messages of about SNAPSHOT_RECORDS_PER_MESSAGE records (what a new copy starts from). */
export function* snapshotMessages(store: RecordStore): Generator<OwnerChangesMessage> {
  let changes: OwnerChange[] = [];
  let records = 0;
  for (const owner of [...store.ownerKeys()]) {
    const owned = store.getOwner(owner);
    if (owned === undefined) continue;
    changes.push([owner, JSON.stringify(owned)]);
    records += owned.records.length;
    for (const task of owned.tasks) records += task.records.length;
    if (records >= SNAPSHOT_RECORDS_PER_MESSAGE) {
      yield { t: 'owners', changes, serial: store.serial };
      changes = [];
      records = 0;
    }
  }
  yield { t: 'owners', changes, serial: store.serial };
}

/** Applies a message to a copy: one batch (one notification of the changed names), then the serial. */
export function applyOwnerChanges(store: RecordStore, message: OwnerChangesMessage): void {
  store.batch(() => {
    for (const [owner, text] of message.changes) store.replaceOwner(owner, text === undefined ? undefined : () => JSON.parse(text) as OwnerRecords);
  });
  store.setSerial(message.serial);
}

/** Whether two publications of an owner are the same records (an absent owner equals an empty one). */
export function sameOwnerRecords(a: OwnerRecords | undefined, b: OwnerRecords | undefined): boolean {
  if (a === b) return true;
  const ta = a?.tasks ?? [];
  const tb = b?.tasks ?? [];
  if (a?.framework !== b?.framework || ta.length !== tb.length || !sameRecords(a?.records ?? [], b?.records ?? [])) return false;
  for (let i = 0; i < ta.length; i++) {
    if (ta[i].id !== tb[i].id || ta[i].name !== tb[i].name || !sameRecords(ta[i].records, tb[i].records)) return false;
  }
  return true;
}

function sameRecords(a: readonly DnsRecord[], b: readonly DnsRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].name !== b[i].name || a[i].type !== b[i].type || a[i].value !== b[i].value) return false;
  }
  return true;
}
