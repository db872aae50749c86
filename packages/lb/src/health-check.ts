// Active health checks as marathon-lb asks HAProxy for them, pure part: which check a server gets
// (from the app's first Marathon health check of the port) and HAProxy's rise/fall counter.
//
// marathon-lb's templates: BACKEND_SERVER_{HTTP,TCP}_HEALTHCHECK_OPTIONS =
// `check inter {intervalSeconds}s fall {maxConsecutiveFailures+1}[ port N]`, plus in HTTP mode
// BACKEND_HTTP_HEALTHCHECK_OPTIONS = `option httpchk GET {path}` + `timeout check {timeoutSeconds}s`.
// `rise` is left to HAProxy's default (2).

import type { Backend, Server } from './route-table.js';

/** HAProxy's `rise` default: consecutive passed checks that bring a DOWN server UP. */
export const DEFAULT_RISE = 2;
/** Shortest check interval accepted (a Marathon interval of 0 would otherwise spin). */
export const MIN_INTERVAL_MS = 100;

export interface CheckSpec {
  kind: 'tcp' | 'http';
  /** `GET {path}` for http checks (marathon-lb's default `/`). */
  path: string;
  /** Port probed (the server's, `port N` of the check, or HAPROXY_{n}_BACKEND_HEALTHCHECK_PORT_INDEX's). */
  port: number;
  intervalMs: number;
  /** Connecting: HAProxy uses `inter` when `timeout check` is unset (tcp), else min(timeout connect, inter). */
  connectTimeoutMs: number;
  /** Waiting for the status line after connecting (`timeout check`, http only). */
  readTimeoutMs: number;
  rise: number;
  fall: number;
}

/**
 * The check of `server` in `backend`, or undefined when the backend has none. As marathon-lb: a TCP
 * check when the backend is in tcp mode or the Marathon check is TCP/MESOS_TCP, else an HTTP check.
 */
export function checkSpecOf(backend: Backend, server: Server, connectTimeoutMs: number): CheckSpec | undefined {
  const hc = backend.healthCheck;
  if (hc === undefined) return undefined;
  const tcp = backend.mode === 'tcp' || hc.protocol === 'TCP' || hc.protocol === 'MESOS_TCP';
  const intervalMs = Math.max(MIN_INTERVAL_MS, Math.round(hc.intervalSeconds * 1000));
  return {
    kind: tcp ? 'tcp' : 'http',
    path: hc.path || '/',
    port: server.checkPort ?? hc.port ?? server.port,
    intervalMs,
    connectTimeoutMs: tcp ? intervalMs : Math.min(connectTimeoutMs, intervalMs),
    readTimeoutMs: tcp ? 0 : Math.max(MIN_INTERVAL_MS, Math.round(hc.timeoutSeconds * 1000)),
    rise: DEFAULT_RISE,
    fall: Math.max(1, hc.maxConsecutiveFailures + 1),
  };
}

/** A key that changes when anything a running check depends on changes. */
export function specKey(host: string, spec: CheckSpec): string {
  return `${spec.kind}|${host}|${spec.port}|${spec.path}|${spec.intervalMs}|${spec.connectTimeoutMs}|${spec.readTimeoutMs}|${spec.rise}|${spec.fall}`;
}

/**
 * HAProxy's health counter (check.c): `health` runs from 0 to rise+fall-1; the server is UP while it
 * is at least `rise`. A passed check adds one (reaching `rise` jumps to the top); a failed one takes
 * one away (falling under `rise` drops to 0). A new server starts at `rise`: UP, and DOWN after its
 * first failed check, as HAProxy starts servers.
 */
export class CheckCounter {
  health: number;

  constructor(
    readonly rise: number,
    readonly fall: number,
  ) {
    this.health = rise;
  }

  get up(): boolean {
    return this.health >= this.rise;
  }

  /** Records a check result; returns the new state when the server changed state, else undefined. */
  record(passed: boolean): 'UP' | 'DOWN' | undefined {
    const wasUp = this.up;
    if (passed) {
      if (this.health < this.rise + this.fall - 1) {
        this.health++;
        if (this.health >= this.rise) this.health = this.rise + this.fall - 1;
      }
    } else if (this.health > 0) {
      this.health--;
      if (this.health < this.rise) this.health = 0;
    }
    const isUp = this.up;
    if (isUp === wasUp) return undefined;
    return isUp ? 'UP' : 'DOWN';
  }

  /** HAProxy's stats status: `UP`, `UP 1/3` (going down), `DOWN 1/2` (going up), `DOWN`. */
  label(): string {
    const top = this.rise + this.fall - 1;
    if (this.up) return this.health === top ? 'UP' : `UP ${this.health - this.rise + 1}/${this.fall}`;
    return this.health === 0 ? 'DOWN' : `DOWN ${this.health}/${this.rise}`;
  }
}

/** HAProxy's check_status codes (the stats CSV column). */
export type CheckStatus = 'L4OK' | 'L4CON' | 'L4TOUT' | 'L7OK' | 'L7STS' | 'L7TOUT' | 'L7RSP' | 'SOCKERR';

export interface ProbeResult {
  passed: boolean;
  status: CheckStatus;
  /** HTTP status of an http check that got one. */
  code?: number;
  durationMs: number;
  /** What went wrong (an error code or message), for logs. */
  info?: string;
}

/** HAProxy's wording of a check result, for the log line of a state change. */
export function describeResult(result: ProbeResult): string {
  switch (result.status) {
    case 'L4OK': return 'Layer4 check passed';
    case 'L7OK': return `Layer7 check passed, code: ${result.code}`;
    case 'L4CON': return `Layer4 connection problem, info: "${result.info ?? 'Connection refused'}"`;
    case 'L4TOUT': return 'Layer4 timeout';
    case 'L7TOUT': return 'Layer7 timeout';
    case 'L7STS': return `Layer7 wrong status, code: ${result.code}`;
    case 'L7RSP': return `Layer7 invalid response, info: "${result.info ?? ''}"`;
    default: return `Socket error, info: "${result.info ?? ''}"`;
  }
}

/** Next delay of a server's checks: `inter` spread by ±`spreadPercent` (HAProxy's `spread-checks`). */
export function spreadDelay(intervalMs: number, spreadPercent: number, random: number): number {
  return Math.max(1, Math.round(intervalMs * (1 + ((random * 2 - 1) * spreadPercent) / 100)));
}
