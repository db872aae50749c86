// Copies of a RecordStore kept in step by owner changes (what --workers sends its workers).
import { describe, expect, it } from 'vitest';
import { RecordStore } from '../src/record-store.js';
import { applyOwnerChanges, followOwnerChanges, sameOwnerRecords, snapshotMessages, type OwnerChangesMessage } from '../src/record-replica.js';
import type { OwnerRecords } from '../src/records.js';

const a = (name: string, value: string): OwnerRecords => ({ tasks: [], records: [{ name, type: 'A', value }] });

/** What a DNS server can read from a store: every name's records, and the serial. */
function contents(store: RecordStore): unknown {
  const names = [...store.names()].sort();
  return { serial: store.serial, names: names.map((n) => [n, store.lookup(n)]) };
}

/** The primary's store, the messages it sends (flushed at the end of each turn) and a copy fed by them. */
function pair() {
  const primary = new RecordStore({ domain: 'mesos', serial: 100 });
  const copy = new RecordStore({ domain: 'mesos', serial: 1 });
  const sent: OwnerChangesMessage[] = [];
  followOwnerChanges(primary, (m) => {
    sent.push(m);
    applyOwnerChanges(copy, structuredClone(m));
  });
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  return { primary, copy, sent, turn };
}

describe('followOwnerChanges / applyOwnerChanges', () => {
  it('keeps a copy equal to the store, duplicates across owners included, one message per turn', async () => {
    const { primary, copy, sent, turn } = pair();
    primary.batch(() => {
      primary.replaceOwner('app:a', a('x.marathon.mesos', '10.0.0.1'));
      primary.replaceOwner('app:b', a('x.marathon.mesos', '10.0.0.1')); // the same value from another owner
    });
    primary.replaceOwner('app:c', {
      framework: 'marathon',
      tasks: [{ id: 't1', name: 'c', records: [{ name: '_c._tcp.marathon.mesos', type: 'SRV', value: 'c-t1.marathon.mesos:31000' }] }],
      records: [],
    });
    await turn();
    expect(sent).toHaveLength(1);
    expect(sent[0].changes.map(([owner]) => owner)).toEqual(['app:a', 'app:b', 'app:c']);
    expect(contents(copy)).toEqual(contents(primary));

    // Removing one of the two owners keeps the value in both stores; removing the other drops it in both.
    primary.removeOwner('app:a');
    await turn();
    expect(copy.lookup('x.marathon.mesos')?.a).toEqual(['10.0.0.1']);
    primary.removeOwner('app:b');
    await turn();
    expect(copy.lookup('x.marathon.mesos')).toBeUndefined();
    expect(contents(copy)).toEqual(contents(primary));
    expect(copy.enumerate()).toEqual(primary.enumerate());
  });

  it('sends nothing for owners republished unchanged (a master poll), and only the changed ones', async () => {
    const { primary, sent, turn } = pair();
    primary.replaceOwner('m:1', a('leader.mesos', '10.0.0.5'));
    primary.replaceOwner('m:2', a('master.mesos', '10.0.0.5'));
    await turn();
    sent.length = 0;
    primary.batch(() => {
      primary.replaceOwner('m:1', a('leader.mesos', '10.0.0.5'));
      primary.replaceOwner('m:2', a('master.mesos', '10.0.0.6'));
      primary.removeOwner('never-published');
    });
    await turn();
    expect(sent).toEqual([{ t: 'owners', changes: [['m:2', JSON.stringify(a('master.mesos', '10.0.0.6'))]], serial: primary.serial }]);
    primary.replaceOwner('m:1', a('leader.mesos', '10.0.0.5'));
    await turn();
    expect(sent).toHaveLength(1);
  });

  it('starts a new copy from snapshot messages, then follows', async () => {
    const { primary, turn } = pair();
    for (let i = 0; i < 8000; i++) {
      primary.replaceOwner(`app:${i}`, {
        tasks: Array.from({ length: 3 }, (_, t) => ({ id: `t${t}`, name: `app${i}`, records: [{ name: `app${i}.marathon.mesos`, type: 'A' as const, value: `10.1.${t}.${i % 250}` }] })),
        records: [],
      });
    }
    await turn();
    const late = new RecordStore({ domain: 'mesos' });
    const parts = [...snapshotMessages(primary)];
    expect(parts.length).toBeGreaterThan(1); // 24,000 records: more than one message
    for (const part of parts) applyOwnerChanges(late, structuredClone(part));
    expect(contents(late)).toEqual(contents(primary));
  });

  it('sameOwnerRecords compares the records, tasks and framework', () => {
    expect(sameOwnerRecords(undefined, { tasks: [], records: [] })).toBe(true);
    expect(sameOwnerRecords(a('x.mesos', '1.1.1.1'), a('x.mesos', '1.1.1.1'))).toBe(true);
    expect(sameOwnerRecords(a('x.mesos', '1.1.1.1'), a('x.mesos', '1.1.1.2'))).toBe(false);
    expect(sameOwnerRecords({ ...a('x.mesos', '1.1.1.1'), framework: 'marathon' }, a('x.mesos', '1.1.1.1'))).toBe(false);
    const task = (id: string) => ({ tasks: [{ id, name: 'x', records: [] }], records: [] });
    expect(sameOwnerRecords(task('t1'), task('t1'))).toBe(true);
    expect(sameOwnerRecords(task('t1'), task('t2'))).toBe(false);
  });
});
