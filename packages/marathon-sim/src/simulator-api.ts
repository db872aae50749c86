// What the simulator's HTTP face needs of the simulator (http.ts serves it; simulator.ts implements
// it), with the simulator's options and its error type.

import type { Logger } from '@baton/marathon';
import type { ApiError, Cluster, SimTask } from './cluster.js';
import type { DcosLoginEmulator, DcosLoginOptions } from './dcos-login.js';
import type { IdFormat } from './ids.js';
import type { ExtraFramework } from './mesos-state.js';
import type { Json } from './normalize.js';
import type { AppJsonCache } from './render.js';
import type { EventStreams } from './streams.js';

export interface AuthOptions {
  /** HTTP Basic credentials. */
  username?: string;
  password?: string;
  /** DC/OS-style `Authorization: token=<token>`. */
  token?: string;
  /** Basic realm in `WWW-Authenticate` (default `Mesosphere`). */
  realm?: string;
}

export interface Fault {
  /** Answer matching requests with this HTTP status (and a JSON error body). */
  status?: number;
  /** Answer matching GETs with the first half of the JSON body. */
  truncate?: boolean;
  /** Delay matching requests by this many ms. */
  delayMs?: number;
  /** Path prefixes the fault applies to (default `['/v2/apps']`). */
  paths?: string[];
}

/** What virtual tasks with health checks report once running. */
export type VirtualHealth = 'healthy' | 'unhealthy' | 'none';

export interface SimulatorOptions {
  host?: string;
  /** Port of the first face; further faces use port+1, port+2… (0 = ephemeral for all). */
  port?: number;
  faces?: number;
  /** Run each app's cmd as a real local process. */
  exec?: boolean;
  auth?: AuthOptions;
  /**
   * Emulate DC/OS's service-account login at `/acs/api/v1/auth/login` and require one of its tokens
   * (or the `auth` credentials, when also given) on every Marathon path.
   */
  dcosLogin?: DcosLoginOptions;
  /** Event stream heartbeat period (default 10 000 ms, Jetty's). */
  heartbeatMs?: number;
  /** Delay between TASK_STAGING and TASK_RUNNING (default 20 ms). */
  taskStartDelayMs?: number;
  /** Health virtual tasks report after starting (default `healthy`). */
  virtualHealth?: VirtualHealth;
  idFormat?: IdFormat;
  /** Number of simulated agents (default 3). */
  agents?: number;
  /** Disconnect event stream clients more than this many messages behind (default 1024). */
  maxOutstandingMessages?: number;
  /** Deliver the events of one tick in random order (Marathon guarantees none); default false. */
  shuffleEvents?: boolean;
  /** Start with this face as leader (default 0; null = no leader). */
  leader?: number | null;
  logger?: Logger;
  /** SIGTERM → SIGKILL grace for exec'd tasks (default 3000 ms). */
  killGraceMs?: number;
}

export class SimulatorError extends Error {
  constructor(readonly status: number, message: string, readonly body?: Json) {
    super(message);
    this.name = 'SimulatorError';
  }
}

/** The simulator as its HTTP face sees it. */
export interface SimulatorApi {
  readonly cluster: Cluster;
  readonly streams: EventStreams;
  readonly logger: Logger;
  readonly options: Required<Omit<SimulatorOptions, 'auth' | 'logger' | 'leader' | 'dcosLogin'>> & { auth?: AuthOptions };
  readonly dcosLogin?: DcosLoginEmulator;
  readonly jsonCache: AppJsonCache;
  readonly url: string;
  readonly urls: string[];
  readonly leader: number | null;
  readonly currentFault: Fault;
  leaderHostPort(): string | undefined;
  faceHostPort(index: number): string;
  loadApps(defs: unknown[]): { loaded: number; errors: { id: unknown; error: ApiError }[] };
  killTask(taskId: string, options?: { state?: string; replace?: boolean; scale?: boolean }): SimTask;
  setTaskHealth(taskId: string, healthy: boolean): void;
  stallStreams(): void;
  resumeStreams(): void;
  shuffleEvents(shuffle: boolean): void;
  dropStreams(): void;
  setLeader(index: number | null): void;
  setFault(fault: Fault): void;
  addFramework(framework: ExtraFramework): string;
  masterState(): Json;
}
