// 100,000 random and mutated DNS messages against the real baton-dns bin (UDP, and TCP for the
// length-prefix cases): it must not crash, not leak memory or sockets, log no internal error, and
// keep answering valid queries correctly throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { BINS, ensureBuilt, framed, processUsage, startBin, udpAsk, waitFor, type RunningBin } from './hardening-helpers.js';

const TOTAL = 100_000;
const BATCH = 250; // garbage messages between two checked valid queries
const APP_NAME = 'web-prod.marathon.mesos';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

// --- message building ----------------------------------------------------------------------------

/** Deterministic PRNG (mulberry32) so a failure can be replayed with the same seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function encodeName(name: string): Buffer {
  const parts = name === '' ? [] : name.split('.');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, 'latin1')])), Buffer.from([0])]);
}

function query(id: number, name: string, qtype = 1, opts: { edns?: Buffer; rd?: boolean } = {}): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header[2] = opts.rd === false ? 0 : 0x01;
  header.writeUInt16BE(1, 4);
  if (opts.edns) header.writeUInt16BE(1, 10);
  const question = Buffer.concat([encodeName(name), Buffer.from([qtype >> 8, qtype & 0xff, 0, 1])]);
  return Buffer.concat([header, question, opts.edns ?? Buffer.alloc(0)]);
}

/** An OPT record: root name, type 41, UDP size, ext rcode/version/flags, rdata. */
function opt(udpSize: number, rdata: Buffer, version = 0, rdlen = rdata.length): Buffer {
  const rr = Buffer.alloc(11);
  rr[0] = 0;
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(udpSize, 3);
  rr[6] = version;
  rr.writeUInt16BE(rdlen, 9);
  return Buffer.concat([rr, rdata]);
}

const NAMES = [APP_NAME, 'WEB-PROD.Marathon.MESOS', '_web-prod._tcp.marathon.mesos', 'nope.marathon.mesos', 'mesos', 'ns1.mesos', 'outside.example', '1.0.0.9.in-addr.arpa', ''];
const QTYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 251, 252, 255, 0, 65535];

function randomBytes(rnd: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}

const pick = <T>(rnd: () => number, list: readonly T[]): T => list[(rnd() * list.length) | 0];

/** One malformed or unusual message; `kind` names the family for the failure message. */
function mutant(rnd: () => number, i: number): { kind: string; msg: Buffer } {
  const id = i & 0xffff;
  const valid = () => query(id, pick(rnd, NAMES), pick(rnd, QTYPES), rnd() < 0.3 ? { edns: opt(4096, Buffer.alloc(0)) } : {});
  switch (i % 12) {
    case 0:
      return { kind: 'random bytes', msg: randomBytes(rnd, (rnd() * 600) | 0) };
    case 1: {
      const msg = Buffer.from(valid());
      for (let flips = 1 + ((rnd() * 8) | 0); flips > 0; flips--) msg[(rnd() * msg.length) | 0] ^= 1 << ((rnd() * 8) | 0);
      return { kind: 'bit flips', msg };
    }
    case 2: {
      const msg = valid();
      return { kind: 'truncated', msg: msg.subarray(0, (rnd() * msg.length) | 0) };
    }
    case 3: {
      // A compression loop in an additional record's name (pointer to itself, or two pointing at each other).
      const q = query(id, APP_NAME);
      q.writeUInt16BE(1, 10);
      const at = q.length;
      const loop = rnd() < 0.5 ? Buffer.from([0xc0 | (at >> 8), at & 0xff]) : Buffer.from([1, 0x61, 0xc0 | ((at + 4) >> 8), (at + 4) & 0xff, 0xc0 | (at >> 8), at & 0xff]);
      return { kind: 'compression loop', msg: Buffer.concat([q, loop, Buffer.from([0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]) };
    }
    case 4: {
      // Compression pointer in the question, pointing forward, backward or at itself.
      const header = query(id, '').subarray(0, 12);
      const ptr = pick(rnd, [12, 0, 14, 0x3fff]);
      return { kind: 'pointer in question', msg: Buffer.concat([header, Buffer.from([0xc0 | (ptr >> 8), ptr & 0xff, 0, 1, 0, 1])]) };
    }
    case 5: {
      // A label whose length runs past the end, or a reserved label type (0x40/0x80), or > 255 bytes of name.
      const header = query(id, '').subarray(0, 12);
      const variant = (rnd() * 3) | 0;
      if (variant === 0) return { kind: 'label overrun', msg: Buffer.concat([header, Buffer.from([63, 0x61, 0x62])]) };
      if (variant === 1) return { kind: 'reserved label type', msg: Buffer.concat([header, Buffer.from([0x41, 0x61, 0, 0, 1, 0, 1])]) };
      const long = Array.from({ length: 6 }, () => 'a'.repeat(63)).join('.');
      return { kind: 'name too long', msg: query(id, long) };
    }
    case 6: {
      // Wrong counts: no question, several, or records announced that are not there.
      const msg = Buffer.from(valid());
      const field = pick(rnd, [4, 6, 8, 10]);
      msg.writeUInt16BE(pick(rnd, [0, 2, 3, 255, 65535]), field);
      return { kind: 'wrong counts', msg };
    }
    case 7:
      return { kind: 'garbage appended', msg: Buffer.concat([valid(), randomBytes(rnd, 1 + ((rnd() * 300) | 0))]) };
    case 8: {
      // Malformed EDNS: rdlen past the end, two OPTs, OPT with a non-root owner, bad options, odd sizes.
      const variant = (rnd() * 6) | 0;
      if (variant === 0) return { kind: 'opt overrun', msg: query(id, APP_NAME, 1, { edns: opt(4096, Buffer.alloc(2), 0, 40) }) };
      if (variant === 1) {
        const msg = query(id, APP_NAME, 1, { edns: Buffer.concat([opt(4096, Buffer.alloc(0)), opt(512, Buffer.alloc(0))]) });
        msg.writeUInt16BE(2, 10);
        return { kind: 'two opts', msg };
      }
      if (variant === 2) {
        const named = Buffer.concat([Buffer.from([1, 0x78]), opt(4096, Buffer.alloc(0))]);
        return { kind: 'opt with owner name', msg: query(id, APP_NAME, 1, { edns: named }) };
      }
      if (variant === 3) {
        // An option whose length runs past the rdata.
        return { kind: 'bad edns option', msg: query(id, APP_NAME, 1, { edns: opt(4096, Buffer.from([0, 10, 0, 200, 1, 2])) }) };
      }
      if (variant === 4) return { kind: 'edns size 0 / version 7', msg: query(id, APP_NAME, 33, { edns: opt(pick(rnd, [0, 1, 65535]), Buffer.alloc(0), 7) }) };
      return { kind: 'edns cookie garbage', msg: query(id, APP_NAME, 255, { edns: opt(1232, Buffer.concat([Buffer.from([0, 10, 0, 40]), randomBytes(rnd, 40)])) }) };
    }
    case 9: {
      // A response (QR set), or an opcode other than QUERY.
      const msg = Buffer.from(valid());
      if (rnd() < 0.5) msg[2] |= 0x80;
      else msg[2] = (msg[2] & 0x87) | (((1 + rnd() * 15) | 0) << 3);
      return { kind: 'response or opcode', msg };
    }
    case 10: {
      // Structurally valid, odd names: NUL, dots and high bytes inside labels, random qtypes and classes.
      const label = randomBytes(rnd, 1 + ((rnd() * 20) | 0));
      const msg = Buffer.concat([query(id, '').subarray(0, 12), Buffer.from([label.length]), label, encodeName('marathon.mesos'), randomBytes(rnd, 4)]);
      return { kind: 'odd name', msg };
    }
    default:
      return { kind: 'header only', msg: Buffer.concat([randomBytes(rnd, 12), rnd() < 0.5 ? Buffer.alloc(0) : randomBytes(rnd, 3)]) };
  }
}

// --- answers -------------------------------------------------------------------------------------

/** The A records of a reply (answer section), after checking id and rcode. */
function aRecords(reply: Buffer, id: number): string[] {
  expect(reply.readUInt16BE(0)).toBe(id);
  expect(reply[3] & 0x0f).toBe(0);
  let off = 12;
  const skipName = () => {
    for (;;) {
      const b = reply[off];
      if (b === 0) return void off++;
      if ((b & 0xc0) === 0xc0) return void (off += 2);
      off += 1 + b;
    }
  };
  for (let q = reply.readUInt16BE(4); q > 0; q--) {
    skipName();
    off += 4;
  }
  const out: string[] = [];
  for (let n = reply.readUInt16BE(6); n > 0; n--) {
    skipName();
    const type = reply.readUInt16BE(off);
    const rdlen = reply.readUInt16BE(off + 8);
    if (type === 1) out.push([...reply.subarray(off + 10, off + 14)].join('.'));
    off += 10 + rdlen;
  }
  return out.sort();
}

function tcpExchange(port: number, frames: Buffer[], expectReplies: number): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const replies: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TCP reply after 10 s (${replies.length}/${expectReplies})`));
    }, 10_000);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        replies.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (replies.length >= expectReplies) {
        clearTimeout(timer);
        socket.destroy();
        resolve(replies);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(Buffer.concat(frames));
  });
}

/** Sends TCP garbage without waiting for answers: impossible lengths, partial frames, pipelined junk. */
function tcpGarbage(port: number, rnd: () => number, i: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.on('data', () => {});
    socket.on('connect', () => {
      const variant = i % 5;
      let payload: Buffer;
      if (variant === 0) payload = framed(randomBytes(rnd, 100), 65535); // huge length, then hang up
      else if (variant === 1) payload = framed(Buffer.alloc(0), (rnd() * 12) | 0); // shorter than a header
      else if (variant === 2) payload = Buffer.concat([framed(query(1, APP_NAME)), framed(mutant(rnd, i).msg), framed(randomBytes(rnd, 50))]);
      else if (variant === 3) payload = framed(query(2, APP_NAME)).subarray(0, 1 + ((rnd() * 20) | 0)); // partial frame
      else payload = randomBytes(rnd, 1 + ((rnd() * 400) | 0));
      socket.end(payload);
      setTimeout(() => socket.destroy(), 2_000).unref();
    });
  });
}

// --- the test --------------------------------------------------------------------------------------

let sim: MarathonSimulator;
let dns: RunningBin;
let port = 0;
let httpPort = 0;
let expected: string[] = [];

beforeAll(async () => {
  ensureBuilt('dns');
  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 1000, logger: silentLogger() });
  await sim.start();
  cleanups.push(() => sim.stop());
  await sim.createApp({ id: '/prod/web', instances: 3, cmd: 'sleep 1000', networks: [{ mode: 'container', name: 'dcos' }] });
  const tasks = await sim.waitForRunning('/prod/web', 3);
  expected = tasks.map((t) => t.ipAddresses[0].ipAddress).sort();

  // Names outside the domain are forwarded to a local upstream that answers REFUSED at once.
  const upstream = dgram.createSocket('udp4');
  upstream.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const reply = Buffer.from(msg.subarray(0, 12));
    reply[2] |= 0x80;
    reply[3] = (reply[3] & 0xf0) | 5;
    reply.writeUInt32BE(0, 4);
    reply.writeUInt32BE(0, 8);
    upstream.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => upstream.close(() => resolve())));

  const dir = mkdtempSync(join(tmpdir(), 'baton-dns-fuzz-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ HTTPListener: '127.0.0.1', resolvers: [`127.0.0.1:${upstream.address().port}`], timeout: 1, ttl: 5 }));
  dns = startBin(BINS.dns, ['--config', config, '--marathon', sim.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--log-level', 'warn']);
  cleanups.push(() => dns.stop());
  const m = await dns.waitForLine(/udp\+tcp 127\.0\.0\.1:(\d+), http 127\.0\.0\.1:(\d+)/);
  port = Number(m[1]);
  httpPort = Number(m[2]);
}, 120_000);

describe('baton-dns under 100,000 malformed and mutated messages', () => {
  it('keeps answering valid queries correctly, does not crash, leak or log internal errors', async () => {
    const resolver = new Resolver({ timeout: 2_000, tries: 5 });
    resolver.setServers([`127.0.0.1:${port}`]);
    expect((await resolver.resolve4(APP_NAME)).sort()).toEqual(expected);

    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    let replies = 0;
    udp.on('message', () => replies++);
    cleanups.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
    const send = (msg: Buffer) => new Promise<void>((resolve) => udp.send(msg, port, '127.0.0.1', () => resolve()));

    const rnd = prng(0x5eed);
    const kinds = new Map<string, number>();
    let warm: { rss: number; fds: number } | undefined;
    let checked = 0;
    let tcpCases = 0;
    for (let sent = 0; sent < TOTAL; ) {
      const batch: Promise<void>[] = [];
      for (let j = 0; j < BATCH && sent < TOTAL; j++, sent++) {
        if (sent % 50 === 49) {
          batch.push(tcpGarbage(port, rnd, sent));
          tcpCases++;
          kinds.set('tcp', (kinds.get('tcp') ?? 0) + 1);
          continue;
        }
        const { kind, msg } = mutant(rnd, sent);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        batch.push(send(msg));
      }
      await Promise.all(batch);
      // The server reads its socket in order: this answer comes after the batch was handled.
      const id = (sent * 7) & 0xffff;
      const answer = aRecords(await udpAsk(port, query(id, APP_NAME, 1, checked % 2 ? { edns: opt(1232, Buffer.alloc(0)) } : {})), id);
      expect(answer, `valid query after ${sent} messages`).toEqual(expected);
      checked++;
      if (checked % 40 === 0) {
        const [reply, second] = await tcpExchange(port, [framed(query(id, APP_NAME)), framed(query(id ^ 1, APP_NAME.toUpperCase()))], 2);
        expect(aRecords(reply, id)).toEqual(expected);
        expect(aRecords(second, id ^ 1)).toEqual(expected);
      }
      if (sent >= 10_000 && warm === undefined) warm = processUsage(dns.child.pid!);
      expect(dns.child.exitCode, dns.stderr()).toBeNull();
    }
    expect(checked).toBeGreaterThanOrEqual(TOTAL / BATCH);
    expect(tcpCases).toBeGreaterThan(1_000);
    expect(replies).toBeGreaterThan(10_000); // FORMERRs, REFUSEDs and answers did come back

    // No leak: the TCP connections are all closed again, and memory did not keep growing.
    await waitFor(() => processUsage(dns.child.pid!).fds <= warm!.fds + 2, 15_000);
    const end = processUsage(dns.child.pid!);
    expect(end.rss, `RSS grew from ${warm!.rss} to ${end.rss}`).toBeLessThan(warm!.rss * 1.5 + 32 * 1024 * 1024);

    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const malformed = Number(/baton_dns_malformed_total (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(malformed).toBeGreaterThan(TOTAL / 4);
    // Every reply was formed without an exception inside the server.
    expect(dns.stderr()).not.toMatch(/"level":(50|60)/);
    expect(dns.stderr()).not.toMatch(/failed to answer a query/);
    expect(await resolver.resolve4(APP_NAME)).toHaveLength(3);
    expect(dns.child.exitCode).toBeNull();
  }, 240_000);
});
