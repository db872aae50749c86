// A worker of `baton-lb --workers N`: the data plane (the HTTP, HTTPS, app-id and service-port
// listeners, each a SO_REUSEPORT socket of its own or the cluster's shared one: listening.ts)
// serving the table it builds, with the primary's RouteBuilder code, from the apps the primary sends
// (app-mirror.ts).

import type { Logger } from '@baton/marathon';
import type { AccessLog, ChunkSink } from './access-log.js';
import { AppMirror } from './app-mirror.js';
import { RouteBuilder, type RouteOptionsInput } from './routes.js';
import { startLoadBalancer, type LoadBalancer, type LoadBalancerOptions } from './server.js';
import { workerReport, type FromWorker, type ToWorker } from './worker-messages.js';

export interface WorkerOptions {
  routes: RouteOptionsInput;
  /** The data plane's settings (the admin port and active checks are the primary's). */
  lb: Omit<LoadBalancerOptions, 'initialTable' | 'adminPort' | 'activeChecks' | 'accessLog' | 'logger'>;
  /** The access log; `toPrimary` carries JSON lines to the primary, the one writer of stdout. */
  accessLog(toPrimary: ChunkSink): AccessLog | undefined;
  shutdownGraceMs: number;
}

function countLines(text: string): number {
  let n = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) n++;
  return n;
}

/** Serves until the primary says stop (or SIGTERM); exits with the primary (Node's cluster does). */
export function runWorker(options: WorkerOptions, logger: Logger): void {
  const send = (message: FromWorker, done: (err: Error | null) => void = () => undefined): void => {
    if (!process.connected || process.send === undefined) return done(new Error('the primary is gone'));
    process.send(message, undefined, {}, done);
  };
  const toPrimary: ChunkSink = (chunk, done) => {
    const text = chunk.toString('utf8');
    send({ t: 'log', text, lines: countLines(text) }, (err) => done(err, chunk.length));
  };
  const mirror = new AppMirror();
  const builder = new RouteBuilder(options.routes);
  const down = new Set<string>();
  // Messages that come while the data plane starts are handled, in order, once it listens.
  const waiting: ToWorker[] = [];
  let lb: LoadBalancer | undefined;
  let accessLog: AccessLog | undefined;
  let started: Promise<void> | undefined;
  let stopping = false;

  async function start(init: Extract<ToWorker, { t: 'init' }>): Promise<void> {
    mirror.apply(init.snapshot);
    builder.restoreMemory(init.memory);
    for (const id of init.down) down.add(id);
    accessLog = options.accessLog(toPrimary);
    try {
      lb = await startLoadBalancer({ ...options.lb, adminPort: null, activeChecks: false, logTableProblems: false, initialTable: builder.build(mirror), accessLog, logger });
    } catch (err) {
      const message = (err as Error).message;
      logger.error({ err: message }, 'cannot start');
      await accessLog?.close();
      send({ t: 'failed', message }, () => process.exit(1));
      setTimeout(() => process.exit(1), 1_000).unref();
      return;
    }
    // The primary's active checks decide; this worker's balancer skips what they found DOWN.
    lb.balancer.checkedDown = down;
    send({ t: 'listening', addresses: lb.addresses });
    for (const message of waiting.splice(0)) handle(message);
  }

  function handle(message: ToWorker): void {
    switch (message.t) {
      case 'init':
        started ??= start(message);
        return;
      case 'health':
        if (message.up) down.delete(message.id);
        else down.add(message.id);
        return;
      case 'stop':
        void stop(message.graceMs);
        return;
    }
    if (lb === undefined) {
      waiting.push(message);
      return;
    }
    switch (message.t) {
      case 'apps':
        mirror.apply(message.update);
        void lb.apply(builder.update(mirror, message.update.change));
        return;
      case 'reload':
        void lb.apply(lb.table());
        return;
      case 'report':
        send({ t: 'report', seq: message.seq, report: workerReport(lb) });
        return;
    }
  }

  async function stop(graceMs: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    await started;
    await lb?.close(graceMs);
    await accessLog?.close();
    process.exit(0);
  }

  process.on('message', (message) => handle(message as ToWorker));
  // A signal to a worker alone (or to the whole process group) stops it gracefully; the primary
  // restarts a worker that stopped while it did not.
  process.once('SIGTERM', () => void stop(options.shutdownGraceMs));
  process.once('SIGINT', () => void stop(options.shutdownGraceMs));
  send({ t: 'hello' });
}
