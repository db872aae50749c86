// `--workers N` on the primary's side: N worker processes (Node's cluster) answer DNS on the shared
// UDP and TCP sockets, each from its own copy of the records; this process keeps the sources, the
// RecordStore, the HTTP API and the state file, and sends each worker the owners that change
// (record-replica.ts). A worker that dies is restarted (with a backoff); the others keep answering.
// Workers exit when this process dies (the cluster IPC channel closes).
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@baton/marathon';
import type { DnsConfig } from './config.js';
import { DnsMetrics, type DnsMetricsSnapshot } from './metrics.js';
import { followOwnerChanges, snapshotMessages, type OwnerChangesMessage } from './record-replica.js';
import type { RecordStore } from './record-store.js';

/** What the primary sends a worker. */
export type ToWorker =
  | { t: 'init'; config: DnsConfig; logLevel: string; worker: number }
  | OwnerChangesMessage
  | { t: 'serve' }
  | { t: 'metrics'; id: number }
  | { t: 'ping' }
  | { t: 'stop' };

/** What a worker sends the primary. */
export type FromWorker =
  | { t: 'hello' }
  | { t: 'listening'; address: string; port: number }
  | { t: 'cannot-listen'; error: string }
  | { t: 'metrics'; id: number; snapshot: DnsMetricsSnapshot }
  | { t: 'pong' };

export interface WorkerPoolOptions {
  config: DnsConfig;
  store: RecordStore;
  workers: number;
  logger: Logger;
  /** The workers' log level (default: the logger's). */
  logLevel?: string;
  /** The script workers run (default: the baton-dns bin, which turns into a worker under cluster). */
  exec?: string;
  /** Delay before restarting a worker that died: doubles per quick death up to maxMs (default 100 ms → 10 s). */
  restartBackoff?: { initialMs: number; maxMs: number };
}

export interface WorkerPool {
  readonly address: string;
  readonly port: number;
  /** The workers' DNS metrics summed (a worker that does not answer within the deadline counts with its last figures). */
  metrics(): Promise<DnsMetrics>;
  /** `metrics()` rendered, plus the pool's own gauges. */
  metricsText(): Promise<string>;
  close(): Promise<void>;
}

/** How long a worker may take to answer a metrics request. */
export const METRICS_DEADLINE_MS = 1_000;
/** Updates queued for a worker that does not read them; beyond this it is restarted (with a fresh copy). */
export const MAX_UNSENT_UPDATES = 1_000;
/** A worker not listening this long after it was started is killed (and restarted). */
const START_TIMEOUT_MS = 60_000;
/** A worker not gone this long after `stop` is killed. */
const STOP_TIMEOUT_MS = 5_000;
/** A worker that ran this long before dying is restarted after the initial delay again. */
const STABLE_MS = 30_000;
/** Listening workers are pinged this often; one silent for UNRESPONSIVE_MS (stuck, stopped) is killed and restarted. */
const PING_MS = 5_000;
export const UNRESPONSIVE_MS = 15_000;

const BIN = fileURLToPath(new URL('../bin/baton-dns.js', import.meta.url));

interface Running {
  worker: Worker;
  startedAt: number;
  /** Sent the copy of the store: takes updates from now on. */
  fed: boolean;
  listening: boolean;
  /** Messages handed to the IPC channel and not yet written to it. */
  unsent: number;
  killed: boolean;
  /** When it last sent anything. */
  lastHeard: number;
  last?: DnsMetricsSnapshot;
  asked: Map<number, (snapshot: DnsMetricsSnapshot | undefined) => void>;
}

interface Slot {
  index: number;
  run?: Running;
  backoffMs: number;
  timer?: NodeJS.Timeout;
}

export async function startWorkerPool(opts: WorkerPoolOptions): Promise<WorkerPool> {
  const { config, store, logger } = opts;
  const backoff = opts.restartBackoff ?? { initialMs: 100, maxMs: 10_000 };
  const logLevel = opts.logLevel ?? logger.level;
  // Every worker accepts TCP on the shared socket itself (as UDP always does): with round robin, the
  // primary would accept and hand each connection over, and a big Marathon sync here would hold them.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({ exec: opts.exec ?? BIN, args: [], serialization: 'advanced' });

  const slots: Slot[] = Array.from({ length: opts.workers }, (_, index) => ({ index: index + 1, backoffMs: backoff.initialMs }));
  let closing = false;
  let restarts = 0;
  let nextId = 0;
  /** The counters of workers that died, so that the sums never go down. */
  let retired: DnsMetricsSnapshot | undefined;
  let bound: { address: string; port: number } | undefined;

  const deliver = (run: Running, message: ToWorker): void => {
    if (!run.worker.isConnected() || run.killed) return;
    if (run.unsent >= MAX_UNSENT_UPDATES) {
      run.killed = true;
      logger.warn({ worker: run.worker.id, unsent: run.unsent }, 'DNS worker does not read its updates: restarting it');
      run.worker.process.kill('SIGKILL');
      return;
    }
    run.unsent++;
    run.worker.send(message, undefined, () => run.unsent--);
  };
  const unfollow = followOwnerChanges(store, (message) => {
    for (const slot of slots) if (slot.run?.fed) deliver(slot.run, message);
  });

  const fork = (slot: Slot): Promise<{ address: string; port: number }> => {
    const worker = cluster.fork();
    const run: Running = { worker, startedAt: Date.now(), fed: false, listening: false, unsent: 0, killed: false, lastHeard: Date.now(), asked: new Map() };
    slot.run = run;
    return new Promise((resolve, reject) => {
      const startTimer = setTimeout(() => {
        logger.warn({ worker: slot.index }, `DNS worker not listening after ${START_TIMEOUT_MS} ms: killing it`);
        worker.process.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      worker.on('message', (message: FromWorker) => {
        run.lastHeard = Date.now();
        switch (message.t) {
          case 'hello':
            // Marked fed first: the snapshot and every later update go out in order on the one channel.
            run.fed = true;
            deliver(run, { t: 'init', config, logLevel, worker: slot.index });
            for (const part of snapshotMessages(store)) deliver(run, part);
            deliver(run, { t: 'serve' });
            break;
          case 'listening':
            clearTimeout(startTimer);
            run.listening = true;
            logger.debug({ worker: slot.index, pid: worker.process.pid }, 'DNS worker listening');
            resolve({ address: message.address, port: message.port });
            break;
          case 'cannot-listen':
            reject(new Error(message.error));
            break;
          case 'metrics':
            run.last = message.snapshot;
            run.asked.get(message.id)?.(message.snapshot);
            break;
        }
      });
      worker.on('error', (err) => logger.debug({ err, worker: slot.index }, 'DNS worker channel error'));
      worker.on('exit', (code, signal) => {
        clearTimeout(startTimer);
        if (slot.run === run) slot.run = undefined;
        for (const answer of run.asked.values()) answer(undefined);
        if (run.last) retired = retire(retired, run.last);
        reject(new Error(`DNS worker exited (${signal ?? code}) before listening`));
        if (closing || bound === undefined) return;
        restarts++;
        if (Date.now() - run.startedAt >= STABLE_MS) slot.backoffMs = backoff.initialMs;
        const delay = slot.backoffMs;
        slot.backoffMs = Math.min(backoff.maxMs, delay * 2);
        logger.warn({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delay }, 'DNS worker exited: restarting it');
        slot.timer = setTimeout(() => {
          slot.timer = undefined;
          if (closing) return;
          fork(slot).catch((err: Error) => logger.warn({ worker: slot.index, err: err.message }, 'DNS worker failed to start'));
        }, delay);
      });
    });
  };

  const ask = (run: Running | undefined): Promise<DnsMetricsSnapshot | undefined> => {
    if (!run?.listening || !run.worker.isConnected()) return Promise.resolve(run?.last);
    const id = ++nextId;
    return new Promise((resolve) => {
      const timer = setTimeout(() => answer(run.last), METRICS_DEADLINE_MS);
      const answer = (snapshot: DnsMetricsSnapshot | undefined) => {
        clearTimeout(timer);
        run.asked.delete(id);
        resolve(snapshot ?? run.last);
      };
      run.asked.set(id, answer);
      deliver(run, { t: 'metrics', id });
    });
  };

  const pinger = setInterval(() => {
    for (const slot of slots) {
      const run = slot.run;
      if (!run?.listening || run.killed) continue;
      if (Date.now() - run.lastHeard < UNRESPONSIVE_MS) {
        deliver(run, { t: 'ping' });
        continue;
      }
      run.killed = true;
      logger.warn({ worker: slot.index, pid: run.worker.process.pid }, `DNS worker silent for ${UNRESPONSIVE_MS} ms: restarting it`);
      run.worker.process.kill('SIGKILL');
    }
  }, PING_MS).unref();

  const stopAll = async (): Promise<void> => {
    closing = true;
    clearInterval(pinger);
    unfollow();
    await Promise.all(
      slots.map((slot) => {
        clearTimeout(slot.timer);
        const run = slot.run;
        if (!run || run.worker.isDead()) return undefined;
        return new Promise<void>((resolve) => {
          const kill = setTimeout(() => run.worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
          run.worker.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          if (run.worker.isConnected()) run.worker.send({ t: 'stop' } satisfies ToWorker, undefined, () => undefined);
          else run.worker.process.kill('SIGKILL');
        });
      }),
    );
  };

  try {
    // The first worker binds (with port 0: picks the port); the others then share its sockets.
    bound = await fork(slots[0]);
    await Promise.all(slots.slice(1).map(fork));
  } catch (err) {
    await stopAll();
    throw err;
  }

  /** Each slot's figures, and the dead workers' as they were when asking began (one that dies meanwhile counts once). */
  const collect = async (): Promise<{ perWorker: (DnsMetricsSnapshot | undefined)[]; total: DnsMetrics }> => {
    const before = retired;
    const perWorker = await Promise.all(slots.map((slot) => ask(slot.run)));
    return { perWorker, total: DnsMetrics.sum([...(before ? [before] : []), ...perWorker.filter((s) => s !== undefined)]) };
  };

  return {
    address: bound.address,
    port: bound.port,
    metrics: async () => (await collect()).total,
    async metricsText() {
      const { perWorker, total } = await collect();
      const listening = slots.filter((slot) => slot.run?.listening).length;
      return (
        total.render() +
        [
          '# HELP baton_dns_worker_queries_total DNS queries answered by each worker process since it started.',
          '# TYPE baton_dns_worker_queries_total counter',
          ...slots.map((slot, i) => `baton_dns_worker_queries_total{worker="${slot.index}"} ${perWorker[i]?.latencyCount ?? 0}`),
          '# HELP baton_dns_workers DNS worker processes configured (--workers).',
          '# TYPE baton_dns_workers gauge',
          `baton_dns_workers ${slots.length}`,
          '# HELP baton_dns_workers_listening DNS worker processes answering now.',
          '# TYPE baton_dns_workers_listening gauge',
          `baton_dns_workers_listening ${listening}`,
          '# HELP baton_dns_worker_restarts_total DNS worker processes restarted after they died.',
          '# TYPE baton_dns_worker_restarts_total counter',
          `baton_dns_worker_restarts_total ${restarts}`,
        ].join('\n') +
        '\n'
      );
    },
    close: stopAll,
  };
}

/** Adds a dead worker's last counters to the retired ones (its gauges are gone with it). */
function retire(retired: DnsMetricsSnapshot | undefined, last: DnsMetricsSnapshot): DnsMetricsSnapshot {
  const sum = DnsMetrics.sum(retired ? [retired, last] : [last]).snapshot();
  if (sum.gauges) {
    sum.gauges.cache.size = 0;
    sum.gauges.cache.maxSize = 0;
    sum.gauges.forwardPending = 0;
  }
  return sum;
}
