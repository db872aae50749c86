// The forwarder's bounds over real UDP sockets: a cap on queries waiting for upstreams, and a few
// sockets per upstream shared by every query, with replies matched by id and question.
import { afterAll, describe, expect, it } from 'vitest';
import dgram from 'node:dgram';
import { Forwarder } from '../src/forwarder.js';
import { encodeQuery, parseQuery } from '../src/wire.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A UDP upstream; `answer` decides what (if anything) goes back for each query. */
async function upstream(answer: (msg: Buffer) => Buffer[]): Promise<{ port: number; sources: Set<number>; ids: number[] }> {
  const socket = dgram.createSocket('udp4');
  const seen = { port: 0, sources: new Set<number>(), ids: [] as number[] };
  socket.on('message', (msg, rinfo) => {
    seen.sources.add(rinfo.port);
    seen.ids.push(msg.readUInt16BE(0));
    for (const reply of answer(msg)) socket.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  seen.port = socket.address().port;
  return seen;
}

const asReply = (msg: Buffer): Buffer => {
  const reply = Buffer.from(msg);
  reply[2] |= 0x80;
  return reply;
};

const forward = (f: Forwarder, id: number, name: string) => {
  const msg = encodeQuery(id, name, 1);
  return f.forward(msg, name, 'udp', parseQuery(msg).questionEnd);
};

describe('forwarder bounds', () => {
  it('refuses queries beyond maxPending at once, and takes more once the waiting ones are done', async () => {
    const silent = await upstream(() => []);
    const f = new Forwarder({ resolvers: [`127.0.0.1:${silent.port}`], timeoutMs: 500, maxPending: 10 });
    cleanups.push(() => f.close());
    const waiting = Array.from({ length: 10 }, (_, i) => forward(f, i, `q${i}.example`));
    expect(f.pendingQueries).toBe(10);
    expect(f.full).toBe(true);
    const started = Date.now();
    expect(await forward(f, 99, 'late.example')).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(400); // not after the timeout
    expect(await Promise.all(waiting)).toEqual(Array(10).fill(undefined));
    expect(f.pendingQueries).toBe(0);
    expect(f.full).toBe(false);
  });

  it('sends every query through a few shared sockets and gives each reply its own id back', async () => {
    const echo = await upstream((msg) => [asReply(msg)]);
    const f = new Forwarder({ resolvers: [`127.0.0.1:${echo.port}`], timeoutMs: 2000 });
    cleanups.push(() => f.close());
    const replies: (Buffer | undefined)[] = [];
    for (let i = 0; i < 300; i += 50) {
      // In batches: a burst larger than the upstream's receive buffer would be dropped by the kernel.
      replies.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => forward(f, 7, `q${i + j}.example`)))));
    }
    expect(replies.every((r) => r !== undefined && r.readUInt16BE(0) === 7)).toBe(true);
    expect(replies.map((r) => parseQuery(Buffer.from([...r!.subarray(0, 2), r![2] & 0x7f, ...r!.subarray(3)])).name)).toEqual(
      Array.from({ length: 300 }, (_, i) => `q${i}.example`),
    );
    expect(echo.sources.size).toBeLessThanOrEqual(4);
    expect(new Set(echo.ids).size).toBeGreaterThan(250); // the ids upstream saw are baton's, not the client's 7
  });

  it('ignores a reply whose question is not the query\'s', async () => {
    const forger = await upstream((msg) => {
      const forged = asReply(encodeQuery(msg.readUInt16BE(0), 'evil.example', 1));
      return [forged, asReply(msg)];
    });
    const f = new Forwarder({ resolvers: [`127.0.0.1:${forger.port}`], timeoutMs: 2000 });
    cleanups.push(() => f.close());
    const reply = await forward(f, 5, 'good.example');
    expect(reply).toBeDefined();
    expect(reply!.includes(Buffer.from('evil'))).toBe(false);
    expect(reply!.includes(Buffer.from('good'))).toBe(true);
  });
});
