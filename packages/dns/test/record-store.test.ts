import { describe, expect, it } from 'vitest';
import { listenerAddresses } from '../src/listener-addresses.js';
import { RecordStore, publishNameserver, serviceHost } from '../src/record-store.js';
import type { DnsRecord, OwnerRecords } from '../src/records.js';

const a = (name: string, value: string): DnsRecord => ({ name, type: 'A', value });
const srv = (name: string, value: string): DnsRecord => ({ name, type: 'SRV', value });
const ptr = (name: string, value: string): DnsRecord => ({ name, type: 'PTR', value });
const owner = (records: DnsRecord[], framework?: string): OwnerRecords => ({ framework, tasks: [], records });
const taskOwner = (framework: string, tasks: { id: string; name: string; records: DnsRecord[] }[]): OwnerRecords => ({ framework, tasks, records: [] });

function recording(store: RecordStore): Set<string>[] {
  const calls: Set<string>[] = [];
  store.subscribe((names) => calls.push(new Set(names)));
  return calls;
}

describe('RecordStore', () => {
  it('merges owners by name, collapses duplicates and answers lookups', () => {
    const store = new RecordStore({ domain: 'Mesos.' });
    expect(store.domain).toBe('mesos');
    store.replaceOwner('app:/a', owner([a('web.marathon.mesos', '10.0.0.1'), a('web.marathon.mesos', '10.0.0.1'), srv('_web._tcp.marathon.mesos', 'web-x-s1.marathon.mesos:31000')]));
    store.replaceOwner('app:/b', owner([a('web.marathon.mesos', '10.0.0.2'), a('web.marathon.mesos', '10.0.0.1'), { name: 'web.marathon.mesos', type: 'AAAA', value: 'fd00::1' }]));
    expect(store.lookup('web.marathon.mesos')).toEqual({ a: ['10.0.0.1', '10.0.0.2'], aaaa: ['fd00::1'], srv: [], ptr: [] });
    expect(store.lookup('_web._tcp.marathon.mesos')!.srv).toEqual([{ target: 'web-x-s1.marathon.mesos', port: 31000 }]);
    expect(store.lookup('nothing.mesos')).toBeUndefined();
    expect([...store.names()].sort()).toEqual(['_web._tcp.marathon.mesos', 'web.marathon.mesos']);
    expect(store.stats().records).toEqual({ A: 2, AAAA: 1, SRV: 1, PTR: 0 });
  });

  it('keeps counts and order right as a name grows from one value to many and back', () => {
    const store = new RecordStore({ domain: 'mesos' });
    const ips = Array.from({ length: 40 }, (_, i) => `10.0.1.${i}`);
    // Every value published by two owners: dropping one owner must not drop any value.
    for (const o of ['x', 'y']) {
      store.replaceOwner(o, owner([...ips.map((ip) => a('many.mesos', ip)), srv('_web._tcp.marathon.mesos', 'web-a-s1.marathon.mesos:1')]));
    }
    expect(store.lookup('many.mesos')!.a).toEqual(ips);
    expect(store.servicesOf('web.marathon.mesos')).toEqual(['_web._tcp.marathon.mesos']);
    const calls = recording(store);
    store.removeOwner('x');
    expect(calls).toEqual([]);
    expect(store.lookup('many.mesos')!.a).toEqual(ips);
    // Shrinks back through the small form, keeping the order values appeared in.
    store.replaceOwner('y', owner([a('many.mesos', ips[3]), a('many.mesos', ips[1]), srv('_web._tcp.marathon.mesos', 'web-b-s1.marathon.mesos:2')]));
    expect(store.lookup('many.mesos')!.a).toEqual([ips[1], ips[3]]);
    expect(store.stats().records).toMatchObject({ A: 2, SRV: 1 });
    expect(store.servicesOf('web.marathon.mesos')).toEqual(['_web._tcp.marathon.mesos']);
    store.replaceOwner('y', owner([a('many.mesos', ips[3])]));
    expect(store.lookup('many.mesos')).toEqual({ a: [ips[3]], aaaa: [], srv: [], ptr: [] });
    expect(store.servicesOf('web.marathon.mesos')).toEqual([]);
    expect([...store.names()]).toEqual(['many.mesos']);
  });

  it('reports exactly the names whose records changed, and bumps the serial once per change', () => {
    const store = new RecordStore({ domain: 'mesos', serial: 100 });
    const calls = recording(store);
    store.replaceOwner('app:/a', owner([a('x.mesos', '1.1.1.1'), a('y.mesos', '2.2.2.2')]));
    expect(calls).toEqual([new Set(['x.mesos', 'y.mesos'])]);
    expect(store.serial).toBe(101);

    // the same records again: nothing changes, nobody is told
    store.replaceOwner('app:/a', owner([a('y.mesos', '2.2.2.2'), a('x.mesos', '1.1.1.1')]));
    expect(calls).toHaveLength(1);
    expect(store.serial).toBe(101);

    store.replaceOwner('app:/a', owner([a('x.mesos', '1.1.1.1'), a('y.mesos', '3.3.3.3'), a('z.mesos', '4.4.4.4')]));
    expect(calls[1]).toEqual(new Set(['y.mesos', 'z.mesos']));
    expect(store.serial).toBe(102);
    expect(store.lookup('y.mesos')!.a).toEqual(['3.3.3.3']);
  });

  it('keeps a value that another owner still publishes when one owner drops it', () => {
    const store = new RecordStore({ domain: 'mesos' });
    store.replaceOwner('one', owner([a('shared.mesos', '1.1.1.1')]));
    store.replaceOwner('two', owner([a('shared.mesos', '1.1.1.1'), a('own.mesos', '2.2.2.2')]));
    const calls = recording(store);
    store.removeOwner('one');
    expect(calls).toEqual([]);
    expect(store.lookup('shared.mesos')!.a).toEqual(['1.1.1.1']);
    store.removeOwner('two');
    expect(calls).toEqual([new Set(['shared.mesos', 'own.mesos'])]);
    expect(store.lookup('shared.mesos')).toBeUndefined();
    expect([...store.names()]).toEqual([]);
    expect(store.stats()).toMatchObject({ names: 0, owners: 0, records: { A: 0, AAAA: 0, SRV: 0, PTR: 0 } });
  });

  it('notifies once per batch', () => {
    const store = new RecordStore({ domain: 'mesos', serial: 7 });
    const calls = recording(store);
    store.batch(() => {
      store.replaceOwner('a', owner([a('a.mesos', '1.1.1.1')]));
      store.replaceOwner('b', owner([a('b.mesos', '1.1.1.2')]));
      store.replaceOwner('a', owner([a('a.mesos', '1.1.1.3')]));
    });
    expect(calls).toEqual([new Set(['a.mesos', 'b.mesos'])]);
    expect(store.serial).toBe(8);
    expect(store.lookup('a.mesos')!.a).toEqual(['1.1.1.3']);
  });

  it('starts the serial at the current Unix time', () => {
    const before = Math.floor(Date.now() / 1000);
    const serial = new RecordStore({ domain: 'mesos' }).serial;
    expect(serial).toBeGreaterThanOrEqual(before);
    expect(serial).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('caps the PTR targets a lookup returns', () => {
    const store = new RecordStore({ domain: 'mesos', maxPtrTargets: 3 });
    for (let i = 0; i < 10; i++) store.replaceOwner(`app:${i}`, owner([ptr('1.0.0.10.in-addr.arpa', `t${i}.marathon.slave.mesos`)]));
    expect(store.lookup('1.0.0.10.in-addr.arpa')!.ptr).toEqual(['t0.marathon.slave.mesos', 't1.marathon.slave.mesos', 't2.marathon.slave.mesos']);
    expect(store.allValues('1.0.0.10.in-addr.arpa')).toHaveLength(10);
    store.removeOwner('app:0');
    expect(store.lookup('1.0.0.10.in-addr.arpa')!.ptr).toEqual(['t1.marathon.slave.mesos', 't2.marathon.slave.mesos', 't3.marathon.slave.mesos']);
  });

  it('indexes SRV names by the host they describe', () => {
    expect(serviceHost('_web._tcp.marathon.mesos')).toBe('web.marathon.mesos');
    expect(serviceHost('_http._web._udp.marathon.mesos')).toBe('web.marathon.mesos');
    expect(serviceHost('_mysql.db.prod._tcp.marathon.mesos')).toBe('mysql.db.prod.marathon.mesos');
    expect(serviceHost('_leader._tcp.mesos')).toBe('leader.mesos');
    expect(serviceHost('web.marathon.mesos')).toBeUndefined();

    const store = new RecordStore({ domain: 'mesos' });
    store.replaceOwner('x', owner([srv('_web._tcp.marathon.mesos', 't:1'), srv('_http._web._tcp.marathon.mesos', 't:1'), srv('_web._udp.marathon.mesos', 't:1')]));
    expect(store.servicesOf('web.marathon.mesos')).toEqual(['_http._web._tcp.marathon.mesos', '_web._tcp.marathon.mesos', '_web._udp.marathon.mesos']);
    store.replaceOwner('x', owner([srv('_web._tcp.marathon.mesos', 't:1')]));
    expect(store.servicesOf('web.marathon.mesos')).toEqual(['_web._tcp.marathon.mesos']);
    store.removeOwner('x');
    expect(store.servicesOf('web.marathon.mesos')).toEqual([]);
  });

  it('enumerates frameworks, tasks and their A/AAAA/SRV records with trailing dots', () => {
    const store = new RecordStore({ domain: 'mesos' });
    store.replaceOwner('app:/web', taskOwner('marathon', [{ id: 'web.1', name: 'web', records: [a('web.marathon.mesos', '10.0.0.1'), srv('_web._tcp.marathon.mesos', 'web-h-s1.marathon.mesos:31000'), ptr('1.0.0.10.in-addr.arpa', 'web-h-s1.marathon.mesos')] }]));
    store.replaceOwner('framework:chronos', owner([a('chronos.mesos', '10.0.0.9')], 'chronos'));
    store.replaceOwner('app:/db', taskOwner('marathon', [{ id: 'db.1', name: 'db', records: [a('db.marathon.mesos', '10.0.0.2')] }]));
    store.replaceOwner('mesos:masters', owner([a('leader.mesos', '10.0.0.3')]));
    expect(store.enumerate()).toEqual({
      frameworks: [
        {
          name: 'marathon',
          tasks: [
            { name: 'web', id: 'web.1', records: [{ name: 'web.marathon.mesos.', host: '10.0.0.1', rtype: 'A' }, { name: '_web._tcp.marathon.mesos.', host: 'web-h-s1.marathon.mesos.:31000', rtype: 'SRV' }] },
            { name: 'db', id: 'db.1', records: [{ name: 'db.marathon.mesos.', host: '10.0.0.2', rtype: 'A' }] },
          ],
        },
        { name: 'chronos', tasks: [] },
      ],
    });
    expect(store.stats().tasks).toBe(2);
  });

  it('lists a record shared by two tasks under the first one only, as Mesos-DNS does', () => {
    const store = new RecordStore({ domain: 'mesos' });
    const shared = a('web.marathon.mesos', '10.0.0.1');
    store.replaceOwner('app:/web', taskOwner('marathon', [
      { id: 'web.1', name: 'web', records: [shared, a('web-1.marathon.mesos', '10.0.0.1')] },
      { id: 'web.2', name: 'web', records: [shared, a('web-2.marathon.mesos', '10.0.0.1')] },
    ]));
    const [framework] = store.enumerate().frameworks;
    expect(framework.tasks.map((t) => t.records.map((r) => r.name))).toEqual([
      ['web.marathon.mesos.', 'web-1.marathon.mesos.'],
      ['web-2.marathon.mesos.'],
    ]);
  });

  it('keeps serving other subscribers when one throws', () => {
    const store = new RecordStore({ domain: 'mesos' });
    store.subscribe(() => {
      throw new Error('boom');
    });
    const calls = recording(store);
    store.replaceOwner('a', owner([a('a.mesos', '1.1.1.1')]));
    expect(calls).toHaveLength(1);
  });

  it('patches one app in a large store touching only that app', () => {
    const store = new RecordStore({ domain: 'mesos' });
    store.batch(() => {
      for (let i = 0; i < 2000; i++) {
        store.replaceOwner(`app:/a${i}`, owner([a(`a${i}.marathon.mesos`, `10.0.${i >> 8}.${i & 255}`), srv(`_a${i}._tcp.marathon.mesos`, `a${i}-x-s1.marathon.mesos:31000`)]));
      }
    });
    const calls = recording(store);
    store.replaceOwner('app:/a7', owner([a('a7.marathon.mesos', '10.9.9.9'), srv('_a7._tcp.marathon.mesos', 'a7-x-s1.marathon.mesos:31000')]));
    expect(calls).toEqual([new Set(['a7.marathon.mesos'])]);
    expect(store.stats().names).toBe(4000);
  });

  it('publishes the nameserver for the listener addresses', () => {
    const store = new RecordStore({ domain: 'mesos' });
    publishNameserver(store, 'ns1.mesos', ['10.1.1.1', 'fd00::53']);
    expect(store.lookup('ns1.mesos')!.a).toEqual(['10.1.1.1']);
    expect(store.lookup('ns1.mesos')!.aaaa).toEqual(['fd00::53']);
  });

  it('takes the listener addresses from the given interfaces: no loopback, no link-local', () => {
    expect(listenerAddresses('10.1.1.1', {})).toEqual(['10.1.1.1']);
    const info = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) }) as never;
    const interfaces = { lo: [info('127.0.0.1', 'IPv4', true), info('::1', 'IPv6', true)], eth0: [info('10.2.2.2', 'IPv4'), info('fe80::1', 'IPv6'), info('fd00::2', 'IPv6')] };
    expect(listenerAddresses('0.0.0.0', interfaces)).toEqual(['10.2.2.2', 'fd00::2']);
    expect(listenerAddresses('::', { lo: interfaces.lo })).toEqual(['127.0.0.1']);
    const host = listenerAddresses('0.0.0.0');
    expect(host.length).toBeGreaterThan(0);
    expect(host).not.toContain('::1');
  });
});
