// Seed ordering that cannot split an Akka cluster. Pure: no I/O, no clock, no environment.
//
// Akka lets only the FIRST seed node join itself (found a new cluster) when no other seed answers; every
// other node waits until some seed answers. So two nodes that each put themselves first can found two
// clusters. The rules below make the first seed the same task on every node: the oldest running task.
//
//   1. Candidates are the app's running tasks, sorted by start time: `startedAt`, then `stagedAt`, then
//      task id (missing or unparsable times sort after every real time). Every node that asks Marathon
//      at the same moment gets the same list.
//   2. With `healthyOnly`, unhealthy tasks are dropped — except the oldest running task (the only one
//      allowed to found the cluster, and which may not be healthy yet precisely because it is founding)
//      and the node itself (it is starting, so it cannot be healthy yet).
//   3. The node itself is never moved: it is first exactly when it is the oldest running task, and then
//      it founds the cluster (the lone first node is just this case). A node that is not the oldest
//      is listed at its place by start time, never first. A node Marathon does not (yet) report as
//      running is not listed at all.

/** One task of the app, reduced to what ordering and formatting need. */
export interface Candidate {
  taskId: string;
  /** Address to connect to: the agent host, or the task's own IP on container networks. */
  host: string;
  /** Port at the chosen port index, if the app has one. */
  port?: number;
  startedAt?: string;
  stagedAt?: string;
  /** `TASK_RUNNING` (Marathon's state). Only running tasks are candidates. */
  running: boolean;
  /** Passing its health checks (always true for an app without health checks). */
  healthy: boolean;
}

/** How this node recognises its own task. */
export interface SelfIdentity {
  /** `MESOS_TASK_ID`: equals the task's `id`. */
  taskId?: string;
  /** `HOST` + `PORT<n>`: matched against the task's host and its port at the chosen index. */
  host?: string;
  port?: number;
}

/**
 * - `first`: this node is the oldest running task: it is first and founds the cluster.
 * - `listed`: this node is listed, after the oldest task.
 * - `absent`: this node's identity is known but Marathon does not report its task running (yet).
 * - `unknown`: no identity was given (no `MESOS_TASK_ID`, no `HOST` + port).
 */
export type SelfPosition = 'first' | 'listed' | 'absent' | 'unknown';

export interface SeedPlan {
  /** Seeds in order; `seeds[0]` is always the oldest running task. */
  seeds: Candidate[];
  /** This node's task, when found among the running tasks. */
  self?: Candidate;
  position: SelfPosition;
  /** True when this node is first: it joins itself, founding the cluster when no one else is up. */
  founder: boolean;
}

function time(value: string | undefined): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

function compareTimes(a: string | undefined, b: string | undefined): number {
  const ta = time(a);
  const tb = time(b);
  if (ta === tb) return 0;
  return ta < tb ? -1 : 1;
}

/** Oldest first: `startedAt`, then `stagedAt`, then task id. A total order (ids are unique). */
export function compareByStart(a: Candidate, b: Candidate): number {
  return (
    compareTimes(a.startedAt, b.startedAt) ||
    compareTimes(a.stagedAt, b.stagedAt) ||
    (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0)
  );
}

/** Running tasks, oldest first. */
export function sortByStart(candidates: readonly Candidate[]): Candidate[] {
  return candidates.filter((c) => c.running).sort(compareByStart);
}

export function hasIdentity(self: SelfIdentity | undefined): boolean {
  return self !== undefined && (self.taskId !== undefined || (self.host !== undefined && self.port !== undefined));
}

/** The candidate that is this node: by task id when known, else by host and port. */
export function findSelf(candidates: readonly Candidate[], self: SelfIdentity | undefined): Candidate | undefined {
  if (!self) return undefined;
  if (self.taskId !== undefined) return candidates.find((c) => c.taskId === self.taskId);
  if (self.host !== undefined && self.port !== undefined) {
    return candidates.find((c) => c.host === self.host && c.port === self.port);
  }
  return undefined;
}

/** Applies the rules at the top of this file. */
export function planSeeds(
  candidates: readonly Candidate[],
  options: { self?: SelfIdentity; healthyOnly?: boolean } = {},
): SeedPlan {
  const running = sortByStart(candidates);
  const oldest = running[0];
  const self = findSelf(running, options.self);
  const seeds = options.healthyOnly ? running.filter((c) => c.healthy || c === oldest || c === self) : running;
  const founder = self !== undefined && self === oldest;
  const position: SelfPosition = !hasIdentity(options.self)
    ? 'unknown'
    : self === undefined
      ? 'absent'
      : founder
        ? 'first'
        : 'listed';
  return self ? { seeds, self, position, founder } : { seeds, position, founder };
}

export type SeedForm = 'hosts' | 'host:port' | 'uri';
export type AkkaProtocol = 'akka' | 'akka.tcp';

/** Brackets an IPv6 literal so `host:port` and URIs stay unambiguous. */
export function hostForAddress(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/**
 * One seed in the chosen form: `host`, `host:port`, or an Akka URI `<protocol>://<system>@host:port`
 * (`akka.tcp` for classic remoting, `akka` for Artery).
 */
export function formatSeed(
  candidate: Pick<Candidate, 'host' | 'port' | 'taskId'>,
  form: SeedForm,
  akka: { system?: string; protocol?: AkkaProtocol } = {},
): string {
  if (form === 'hosts') return candidate.host;
  if (candidate.port === undefined) throw new Error(`task ${candidate.taskId} has no port at the chosen index`);
  const address = `${hostForAddress(candidate.host)}:${candidate.port}`;
  if (form === 'host:port') return address;
  if (!akka.system) throw new Error('an Akka URI needs the actor system name (--system)');
  return `${akka.protocol ?? 'akka.tcp'}://${akka.system}@${address}`;
}
