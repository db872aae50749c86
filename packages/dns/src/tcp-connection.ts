// One DNS-over-TCP connection: length-prefixed messages in, replies out (in the order they are ready,
// RFC 7766), with every resource bounded. A client that does not read its replies stops being read;
// a client that sends slowly cannot keep the connection by trickling bytes.

import type net from 'node:net';
import { HEADER_SIZE } from './wire.js';

export interface TcpLimits {
  /** Before the first message and between messages: close after this long without a new message starting. */
  idleMs: number;
  /** From the first byte of a message (its length prefix) to its last: partial bytes do not extend it. */
  messageMs: number;
  /** Stop reading while more than this many reply bytes wait to be sent (the client is not reading). */
  maxWriteBuffer: number;
  /** Stop reading while this many forwarded queries of the connection wait for their upstream. */
  maxInFlight: number;
  /** Longest message accepted; a longer (or shorter than a header) length prefix closes the connection. */
  maxMessage: number;
  /**
   * Pipelined messages answered per event-loop turn; the rest wait for the next turn (not read on
   * meanwhile), so one connection's flood cannot starve UDP (libuv reads 32 datagrams a turn) or others.
   */
  maxPerTurn: number;
}

/**
 * The defaults. Mesos-DNS (miekg/dns server defaults) gives each TCP message a read deadline set
 * before its length prefix and not moved by partial reads: 2 s for the first, 8 s (idle + read) for
 * the next ones. baton keeps its documented 10 s idle close between messages and gives each message
 * the same 2 s from its first byte. A connection whose replies are not read for `idleMs` is closed.
 */
export const DEFAULT_TCP_LIMITS: TcpLimits = {
  idleMs: 10_000,
  messageMs: 2_000,
  maxWriteBuffer: 64 * 1024,
  maxInFlight: 16,
  maxMessage: 16 * 1024,
  maxPerTurn: 64,
};

/** The reply to one message: now, later (forwarded), or none (dropped). */
export type TcpHandler = (msg: Buffer) => Buffer | Promise<Buffer | undefined> | undefined;

type Deadline = 'idle' | 'message' | 'stalled' | 'none';

/** Serves `socket` until it closes; `onBadLength` is told about an impossible length prefix before the close. */
export function serveTcpMessages(socket: net.Socket, handle: TcpHandler, limits: TcpLimits, onBadLength: (length: number) => void): void {
  let pending: Buffer = Buffer.alloc(0);
  let inFlight = 0;
  let paused = false;
  let budget = limits.maxPerTurn; // messages this connection may still answer in this event-loop turn
  let refill: NodeJS.Immediate | undefined;
  let waitingForTurn = false;
  let deadline: Deadline | undefined;
  let timer: NodeJS.Timeout | undefined;

  const setDeadline = (kind: Deadline): void => {
    if (kind === deadline) return; // a deadline is never moved by more of the same
    deadline = kind;
    clearTimeout(timer);
    timer = undefined;
    const ms = kind === 'idle' || kind === 'stalled' ? limits.idleMs : kind === 'message' ? limits.messageMs : 0;
    if (ms > 0) timer = setTimeout(() => socket.destroy(), ms);
  };

  const writeBlocked = () => socket.writableLength > limits.maxWriteBuffer;
  const blocked = () => writeBlocked() || inFlight >= limits.maxInFlight;

  const send = (reply: Buffer): void => {
    if (socket.destroyed || !socket.writable) return;
    const framed = Buffer.allocUnsafe(2 + reply.length);
    framed.writeUInt16BE(reply.length, 0);
    reply.copy(framed, 2);
    socket.write(framed);
  };

  /** Answers the complete messages read so far while the connection may take more, then sets reading and the deadline. */
  const update = (): void => {
    if (socket.destroyed) return;
    while (pending.length >= 2 && !blocked()) {
      if (budget === 0) {
        waitingForTurn = true;
        break;
      }
      budget--;
      refill ??= setImmediate(() => {
        refill = undefined;
        budget = limits.maxPerTurn;
        if (waitingForTurn) {
          waitingForTurn = false;
          update();
        }
      });
      const len = (pending[0] << 8) | pending[1];
      if (len < HEADER_SIZE || len > limits.maxMessage) {
        onBadLength(len);
        socket.destroy();
        return;
      }
      if (pending.length < 2 + len) break;
      const msg = pending.subarray(2, 2 + len);
      pending = pending.length === 2 + len ? Buffer.alloc(0) : pending.subarray(2 + len);
      deadline = undefined; // the next message gets fresh deadlines
      const reply = handle(msg);
      if (reply instanceof Promise) {
        inFlight++;
        void reply.then((r) => {
          inFlight--;
          if (r) send(r);
          update();
        });
      } else if (reply) send(reply);
    }
    if (socket.destroyed) return;
    const stop = blocked() || waitingForTurn;
    if (stop !== paused) {
      paused = stop;
      if (stop) socket.pause();
      else socket.resume();
    }
    if (writeBlocked()) setDeadline('stalled');
    else if (stop) setDeadline('none'); // waiting for upstreams (whose timeouts bound the wait) or the next turn
    else if (pending.length > 0) setDeadline('message');
    else setDeadline(inFlight > 0 ? 'none' : 'idle');
  };

  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    update();
  });
  socket.on('drain', update);
  socket.on('close', () => {
    clearTimeout(timer);
    if (refill !== undefined) clearImmediate(refill);
    pending = Buffer.alloc(0);
  });
  update();
}
