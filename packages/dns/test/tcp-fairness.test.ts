// One DNS-over-TCP connection cannot take the event loop from every other client: its pipelined
// queries are answered a bounded batch per event-loop turn, so UDP queries (which libuv reads at most
// 32 per turn) keep their share while a client floods queries, or floods them and never reads.
import { afterAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { DEFAULT_TCP_LIMITS, serveTcpMessages } from '../src/tcp-connection.js';
import { encodeQuery } from '../src/wire.js';

const cleanups: (() => void)[] = [];
afterAll(() => {
  while (cleanups.length) cleanups.pop()!();
});

function framed(msg: Buffer): Buffer {
  const out = Buffer.alloc(2 + msg.length);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

describe('TCP connection fairness', () => {
  it('answers at most maxPerTurn pipelined queries before other I/O gets a turn, and still answers them all', async () => {
    const total = 2_000;
    let handled = 0;
    const handledAtTurns: number[] = [];
    let done: () => void;
    const allHandled = new Promise<void>((resolve) => (done = resolve));
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      serveTcpMessages(
        socket,
        (msg) => {
          if (handled === 0) {
            // Marks each event-loop turn while the queries are being answered.
            const tick = (): void => {
              handledAtTurns.push(handled);
              if (handled < total) setImmediate(tick);
            };
            setImmediate(tick);
          }
          handled++;
          if (handled === total) done();
          return msg; // echo: the reply's content does not matter here
        },
        DEFAULT_TCP_LIMITS,
        () => {},
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    client.on('data', () => {});
    const queries = Buffer.concat(Array.from({ length: total }, (_, i) => framed(encodeQuery(i, 'web.marathon.mesos', 1))));
    client.write(queries); // ~70 KB in one write: one or two reads on the server
    await allHandled;
    expect(handled).toBe(total);
    // The first marker runs after at most two batches: the one answered when the bytes were read, and
    // the next turn's, which may run just before the marker. Then one batch a turn.
    expect(handledAtTurns[0]).toBeLessThanOrEqual(2 * DEFAULT_TCP_LIMITS.maxPerTurn);
    const steps = handledAtTurns.slice(1).map((n, i) => n - handledAtTurns[i]);
    expect(Math.max(...steps)).toBeLessThanOrEqual(DEFAULT_TCP_LIMITS.maxPerTurn);
  }, 20_000);
});
