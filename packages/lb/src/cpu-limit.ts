// How many workers `baton-lb` starts by default: one per core it may use. Node's
// `os.availableParallelism()` counts the cores of the CPU affinity mask, which in a Mesos or Docker
// container is every core of the node; the container's CPU limit is a CFS quota (cgroup v1
// `cpu.cfs_quota_us` / `cpu.cfs_period_us`, cgroup v2 `cpu.max`), which DC/OS sets from the app's
// `cpus`. An LB app with `cpus: 2` on a 32-core agent therefore gets 2 workers, not 32 — 32 processes
// would share 2 cores' worth of time and multiply the memory (each worker holds its own route table).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a file's text, or undefined when it cannot be read. */
export type ReadText = (path: string) => string | undefined;

const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * The CPU limit of this process's cgroup in cores (1.5 = 150 ms of CPU time per 100 ms), or undefined
 * when there is none (no quota, `max`, or no cgroup file readable). `read` reads `/proc/self/cgroup`
 * and the cgroup files, first under the process's own cgroup path and then at the mount's root (what a
 * container with its own cgroup namespace, or a bind-mounted subtree, sees).
 */
export function cgroupCpuLimit(read: ReadText = readText): number | undefined {
  const self = read('/proc/self/cgroup') ?? '';
  for (const line of self.split('\n')) {
    const [hierarchy, controllers, path] = splitCgroupLine(line);
    if (path === undefined) continue;
    if (hierarchy === '0' && controllers === '') {
      const limit = firstDefined([`/sys/fs/cgroup${trimSlash(path)}/cpu.max`, '/sys/fs/cgroup/cpu.max'], read, parseCpuMax);
      if (limit !== undefined) return limit;
    } else if (controllers.split(',').includes('cpu')) {
      for (const mount of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct', '/sys/fs/cgroup/cpuacct,cpu']) {
        for (const dir of [`${mount}${trimSlash(path)}`, mount]) {
          const limit = parseCfs(read(`${dir}/cpu.cfs_quota_us`), read(`${dir}/cpu.cfs_period_us`));
          if (limit !== undefined) return limit;
        }
      }
    }
  }
  return undefined;
}

/** The default of `--workers`: the cores this process may use, lowered to its cgroup's CPU limit. */
export function defaultWorkers(cores = availableParallelism(), limit = cgroupCpuLimit()): number {
  return limit === undefined ? cores : Math.max(1, Math.min(cores, Math.ceil(limit)));
}

/** `hierarchy-id:controllers:path` (the path may itself contain colons). */
function splitCgroupLine(line: string): [string, string, string | undefined] {
  const a = line.indexOf(':');
  const b = a === -1 ? -1 : line.indexOf(':', a + 1);
  if (b === -1) return ['', '', undefined];
  return [line.slice(0, a), line.slice(a + 1, b), line.slice(b + 1).trim()];
}

function trimSlash(path: string): string {
  return path === '/' ? '' : path.replace(/\/+$/, '');
}

function firstDefined(paths: string[], read: ReadText, parse: (text: string | undefined) => number | undefined): number | undefined {
  for (const path of paths) {
    const value = parse(read(path));
    if (value !== undefined) return value;
  }
  return undefined;
}

/** cgroup v2 `cpu.max`: `<quota> <period>` or `max <period>`. */
export function parseCpuMax(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === 'max') return undefined;
  return ratio(quota, period ?? '100000');
}

/** cgroup v1: `cpu.cfs_quota_us` (-1 = no limit) over `cpu.cfs_period_us`. */
export function parseCfs(quota: string | undefined, period: string | undefined): number | undefined {
  if (quota === undefined || period === undefined) return undefined;
  return ratio(quota.trim(), period.trim());
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}
