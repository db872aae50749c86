// The primary of `baton-lb --workers N`: the one Marathon feed, ClusterState, state file, route
// table, active health checks and admin port of the load balancer, and the supervisor of N worker
// processes (worker.ts) that own the data plane. Each burst of state changes is shipped to every
// worker as the apps it named (app-mirror.ts); check verdicts follow one by one; the admin pages sum
// what every worker reports (worker-messages.ts). A worker that dies is restarted, with a backoff.

import cluster, { type Worker } from 'node:cluster';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { startMarathonSource, type Logger, type MarathonSourceOptions } from '@baton/marathon';
import { createAdminServer, type AdminLbView, type AdminSource, type WorkerStatus } from './admin.js';
import { LineWriter } from './access-log.js';
import { appsSnapshot, appsUpdate } from './app-mirror.js';
import { HealthChecker } from './health-checker.js';
import { closeListening, listen, listenMode } from './listening.js';
import type { ListenerInfo, LoadBalancer } from './load-balancer.js';
import type { RouteTable } from './route-table.js';
import { RouteBuilder, type RouteOptionsInput } from './routes.js';
import { onChangeBursts } from './change-bursts.js';
import { ProblemLog } from './problem-log.js';
import { LbStats, statsData, sumStats, withoutSessions, type LbStatsData } from './stats.js';
import { KeySet, liveSets } from './table-changes.js';
import { sumReports, type FromWorker, type ToWorker, type WorkerReport } from './worker-messages.js';

export interface PrimaryOptions {
  workers: number;
  source: MarathonSourceOptions;
  routes: RouteOptionsInput;
  bindAddress: string;
  adminPort: number;
  adminAuth?: string;
  /** The data plane's connect timeout (active checks use it, as HAProxy). */
  connectTimeoutMs: number;
  activeChecks: false | { maxConcurrent: number };
  renderers?: Partial<Pick<AdminSource, 'renderConfig' | 'renderVhostMap' | 'renderAppMap'>>;
  /** Write the JSON access-log lines the workers send to stdout. */
  relayAccessLog: boolean;
  /** How long the admin pages wait for a worker's figures (default 2 s); a worker that does not answer is reported silent. */
  reportTimeoutMs?: number;
  /** How long the workers may take to listen at start (default 60 s). */
  startTimeoutMs?: number;
}

export interface RunningPrimary {
  /** Bound ports (the data plane's as the workers report them, and the admin port). */
  addresses: LoadBalancer['addresses'];
  table(): RouteTable;
  /** Worker pids by slot (null while a slot restarts). */
  pids(): (number | null)[];
  stop(graceMs: number): Promise<void>;
}

/** A worker that dies within this long of its start counts as a crash loop: restarts back off. */
const QUICK_EXIT_MS = 10_000;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker with this many messages it has not read is restarted (it then gets the current state anew). */
const MAX_UNSENT = 1_000;

interface Slot {
  index: number;
  worker: Worker | undefined;
  /** `init` sent: route changes and check verdicts go to this worker. */
  fed: boolean;
  /** Its data plane listens. */
  serving: boolean;
  startedAt: number;
  restarts: number;
  quickExits: number;
  timer: NodeJS.Timeout | undefined;
  /** Messages handed to the channel and not yet written to it (a worker that stopped reading). */
  unsent: number;
  /** The counters of this worker's last report (what the admin port last showed of it). */
  lastStats: LbStatsData | undefined;
}

export async function runPrimary(options: PrimaryOptions, logger: Logger): Promise<RunningPrimary> {
  // Where Node offers it, each worker listens on a socket of its own (listening.ts); otherwise, and
  // for port 0, through the cluster's hand-off below.
  const mode = listenMode();
  // Node's default on Linux: the primary accepts and hands each connection to the next worker. With
  // NODE_CLUSTER_SCHED_POLICY=none the workers accept on the shared socket themselves (no hand-off),
  // but then some new connections waited 1–2 s in bench/lb/latency.mjs, and spread unevenly.
  if (process.env.NODE_CLUSTER_SCHED_POLICY === undefined) cluster.schedulingPolicy = cluster.SCHED_RR;
  // JSON messages (Node's default): the 'advanced' (v8) framing of Node 20 can hold a message back
  // until more data arrives (nodejs/node#55834); what is sent here is plain data either way.
  cluster.setupPrimary({ serialization: 'json' });

  const source = await startMarathonSource(options.source, logger);
  const { state, feed } = source;
  const builder = new RouteBuilder(options.routes);
  let table = builder.build(state);
  // The workers build the same table; its problems are logged here, once, not once per worker.
  const problemLog = new ProblemLog(logger);
  problemLog.report(table.problems);
  const slots: Slot[] = Array.from({ length: options.workers }, (_, i) => ({
    index: i + 1,
    worker: undefined,
    fed: false,
    serving: false,
    startedAt: 0,
    restarts: 0,
    quickExits: 0,
    timer: undefined,
    unsent: 0,
    lastStats: undefined,
  }));
  const post = (slot: Slot, worker: Worker, message: ToWorker, sent: (err: Error | null) => void = () => undefined): void => {
    if (slot.unsent >= MAX_UNSENT) {
      if (slot.worker === worker && !worker.isDead()) {
        logger.error({ worker: slot.index, pid: worker.process.pid, unsent: slot.unsent }, 'worker does not read its messages; killing it');
        worker.process.kill('SIGKILL');
      }
      return sent(new Error('worker not reading'));
    }
    slot.unsent++;
    // A worker that just died: the message is lost with it (its replacement gets the current state).
    worker.send(message, (err) => {
      if (slot.worker === worker) slot.unsent--;
      sent(err);
    });
  };
  const broadcast = (message: ToWorker): void => {
    for (const slot of slots) if (slot.fed && slot.worker !== undefined) post(slot, slot.worker, message);
  };
  const checks =
    options.activeChecks === false
      ? undefined
      : new HealthChecker({
          connectTimeoutMs: options.connectTimeoutMs,
          maxConcurrent: options.activeChecks.maxConcurrent,
          logger: logger.child({ module: 'health-check' }),
          onChange: (id, verdict) => broadcast({ t: 'health', id, up: verdict === 'UP' }),
        });
  checks?.sync(table);
  const relay = options.relayAccessLog ? new LineWriter(1) : undefined;
  const addresses: LoadBalancer['addresses'] = { bindAddress: options.bindAddress };
  let stopping = false;

  // --- route changes -----------------------------------------------------------------------------
  const unsubscribe = onChangeBursts(state, (change) => {
    // The workers first: their build is what requests wait for.
    broadcast({ t: 'apps', update: appsUpdate(state, change) });
    const previous = table;
    table = builder.update(state, change);
    if (table.problems !== previous.problems) problemLog.report(table.problems);
    if (table.patch !== undefined && table.patch.base === previous.serial) checks?.syncChanged(table, table.patch);
    else checks?.sync(table);
  });

  // --- workers -----------------------------------------------------------------------------------
  let startup: { resolve(): void; reject(err: Error): void } | undefined;
  const started = new Promise<void>((resolve, reject) => (startup = { resolve, reject }));
  const failStart = (err: Error): void => {
    const s = startup;
    startup = undefined;
    s?.reject(err);
  };

  function fork(slot: Slot): void {
    slot.timer = undefined;
    if (stopping) return;
    const worker = cluster.fork({ BATON_LB_WORKER: String(slot.index), BATON_LB_LISTEN: mode });
    Object.assign(slot, { worker, fed: false, serving: false, startedAt: Date.now(), unsent: 0 });
    worker.on('error', (err) => logger.debug({ err: err.message, worker: slot.index }, 'worker channel error'));
    worker.on('message', (message: FromWorker) => onMessage(slot, worker, message));
    worker.on('exit', (code, signal) => onExit(slot, worker, code, signal));
  }

  function onMessage(slot: Slot, worker: Worker, message: FromWorker): void {
    if (slot.worker !== worker) return;
    switch (message.t) {
      case 'hello':
        post(slot, worker, { t: 'init', snapshot: appsSnapshot(state), memory: builder.memory(), down: checks === undefined ? [] : [...checks.down] });
        slot.fed = true;
        return;
      case 'listening':
        slot.serving = true;
        Object.assign(addresses, message.addresses, { admin: addresses.admin });
        logger.info({ worker: slot.index, pid: worker.process.pid, listen: mode }, 'worker serving');
        if (slots.every((s) => s.serving)) startup?.resolve();
        return;
      case 'failed':
        failStart(new Error(message.message));
        return;
      case 'report':
        reports.get(message.seq)?.(message.report);
        return;
      case 'log':
        relay?.write(message.text, message.lines);
        return;
    }
  }

  function onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    Object.assign(slot, { worker: undefined, fed: false, serving: false });
    retireStats(slot);
    if (stopping) {
      if (code !== 0) logger.error({ worker: slot.index, pid: worker.process.pid, code, signal }, 'worker died while stopping');
      return;
    }
    if (startup !== undefined) {
      failStart(new Error(`worker ${slot.index} exited (${signal ?? code}) before listening`));
      return;
    }
    slot.quickExits = Date.now() - slot.startedAt < QUICK_EXIT_MS ? slot.quickExits + 1 : 0;
    const delay = slot.quickExits === 0 ? 0 : Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (slot.quickExits - 1));
    slot.restarts++;
    logger.error({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; restarting it');
    slot.timer = setTimeout(fork, delay, slot);
  }

  // --- admin port ----------------------------------------------------------------------------------
  // The counters of workers that died, as last reported, kept for the servers still in the table:
  // the admin port's totals do not go back when a worker is restarted (Prometheus counters stay counters).
  let retired: LbStatsData | undefined;
  function retireStats(slot: Slot): void {
    if (slot.lastStats === undefined) return;
    const sum = sumStats([...(retired === undefined ? [] : [retired]), withoutSessions(slot.lastStats)]);
    const { serverRefs, backendNames } = liveSets(table);
    sum.retain(backendNames, new KeySet(serverRefs));
    retired = statsData(sum);
    slot.lastStats = undefined;
  }
  let seq = 0;
  const reports = new Map<number, (report: WorkerReport) => void>();
  const reportTimeoutMs = options.reportTimeoutMs ?? 2_000;
  const ask = (slot: Slot, worker: Worker): Promise<WorkerReport | undefined> =>
    new Promise((resolve) => {
      const id = ++seq;
      const settle = (report: WorkerReport | undefined): void => {
        clearTimeout(timer);
        reports.delete(id);
        resolve(report);
      };
      const timer = setTimeout(settle, reportTimeoutMs, undefined);
      reports.set(id, settle);
      post(slot, worker, { t: 'report', seq: id }, (err) => {
        if (err) settle(undefined);
      });
    });
  const adminSockets = new Set<Socket>();
  const adminListener = (): ListenerInfo => ({
    name: 'stats',
    kind: 'admin',
    address: options.bindAddress,
    port: options.adminPort,
    boundPort: addresses.admin,
    mode: 'http',
    tls: false,
    connections: adminSockets.size,
  });
  async function view(): Promise<AdminLbView> {
    const asked = slots.map((slot) => (slot.serving ? slot.worker : undefined));
    const answers = await Promise.all(slots.map((slot, i) => (asked[i] !== undefined ? ask(slot, asked[i]) : undefined)));
    // A worker that died while it was asked: its counters are in `retired` now.
    slots.forEach((slot, i) => {
      if (slot.worker !== asked[i]) answers[i] = undefined;
    });
    const workers: WorkerStatus[] = slots.map((slot, i) => {
      const answer = answers[i];
      const status: WorkerStatus = { worker: slot.index, pid: slot.worker?.process.pid ?? null, state: !slot.serving ? 'starting' : answer ? 'serving' : 'silent', restarts: slot.restarts };
      if (answer !== undefined) status.tableVersion = answer.tableVersion;
      return status;
    });
    const earlierStats = retired === undefined ? [] : [retired];
    slots.forEach((slot, i) => {
      const answer = answers[i];
      if (answer !== undefined) slot.lastStats = answer.stats;
      else if (slot.lastStats !== undefined) earlierStats.push(slot.lastStats);
    });
    const reported = answers.filter((a): a is WorkerReport => a !== undefined);
    return sumReports({ table, reports: reported, workers, checks, ownListeners: [adminListener()], relayDropped: relay?.dropped, earlierStats });
  }
  const own: AdminLbView = {
    listeners: () => [adminListener()],
    problems: () => table.problems,
    stats: new LbStats(),
    balancer: { health: { details: () => undefined }, activeOn: () => 0 },
    checks,
  };
  const admin: HttpServer = createAdminServer({
    table: () => table,
    lb: own,
    view,
    feedStatus: () => source.feedStatus(),
    stateFileStatus: () => source.stateFileStatus(),
    resync: () => feed.resyncNow(),
    reload: async () => broadcast({ t: 'reload' }),
    ...options.renderers,
    adminAuth: options.adminAuth,
    logger,
  });
  admin.on('connection', (socket: Socket) => {
    adminSockets.add(socket);
    socket.once('close', () => adminSockets.delete(socket));
  });

  async function stopWorkers(graceMs: number): Promise<void> {
    const exits: Promise<unknown>[] = [];
    for (const slot of slots) {
      clearTimeout(slot.timer);
      const worker = slot.worker;
      if (worker === undefined) continue;
      // Exited, and its channel read to the end (its last access-log lines come through it).
      const disconnected = worker.isConnected() ? new Promise((resolve) => worker.once('disconnect', resolve)) : undefined;
      exits.push(Promise.all([new Promise((resolve) => worker.once('exit', resolve)), disconnected]));
      post(slot, worker, { t: 'stop', graceMs });
    }
    // A worker stuck past its grace is killed.
    const deadline = setTimeout(() => {
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
    }, graceMs + 5_000);
    await Promise.all(exits);
    clearTimeout(deadline);
  }

  const startTimer = setTimeout(() => failStart(new Error(`the workers did not listen within ${(options.startTimeoutMs ?? 60_000) / 1000} s`)), options.startTimeoutMs ?? 60_000);
  try {
    await listen(admin, options.adminPort, options.bindAddress);
    addresses.admin = (admin.address() as AddressInfo).port;
    for (const slot of slots) fork(slot);
    await started;
  } catch (err) {
    stopping = true;
    unsubscribe();
    closeListening(admin);
    await stopWorkers(0);
    checks?.close();
    await source.stop();
    throw err;
  } finally {
    clearTimeout(startTimer);
    startup = undefined;
  }
  source.start();

  return {
    addresses,
    table: () => table,
    pids: () => slots.map((slot) => slot.worker?.process.pid ?? null),
    async stop(graceMs: number) {
      stopping = true;
      unsubscribe();
      closeListening(admin);
      admin.closeIdleConnections();
      const workersStopped = stopWorkers(graceMs);
      await source.stop();
      checks?.close();
      await workersStopped;
      for (const socket of adminSockets) socket.destroy();
      await relay?.close();
    },
  };
}
