// A process and its descendants, and what they use, read from Linux /proc: shared by the benchmarks
// (plain .mjs, no build) and the tests (typed by proc-tree.d.mts beside this file). A process that
// exits while it is read is skipped; where there is no /proc, the figures are NaN.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on every Linux that Node runs on). */
const USER_HZ = 100;
/** At most this many processes in a tree (a bound on the walk, far above any server's). */
const MAX_TREE = 1024;

/** The fields of /proc/<pid>/stat after the command name (`fields[0]` is the state, `[1]` the ppid); undefined if gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie (exited, not yet waited for by its parent). */
export function running(pid) {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z';
}

/** `pid` first, then its descendants breadth first (children by /proc/<n>/stat's ppid), at most `limit`. */
export function descendants(pid, limit = MAX_TREE) {
  const children = new Map();
  let entries = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    // not Linux
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(statFields(entry)?.[1]);
    if (!ppid) continue;
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(entry));
  }
  const tree = [pid];
  const seen = new Set(tree);
  for (let i = 0; i < tree.length; i++) {
    for (const child of children.get(tree[i]) ?? []) {
      if (tree.length >= limit) return tree;
      if (seen.has(child)) continue; // a pid reused while /proc was read
      seen.add(child);
      tree.push(child);
    }
  }
  return tree;
}

/** `read(pid)` summed over `pids` (one pid or a list), skipping the undefined (gone); NaN when all are. */
function sum(pids, read) {
  const values = [].concat(pids).map(read).filter((value) => value !== undefined);
  return values.length ? values.reduce((a, b) => a + b, 0) : NaN;
}

/** User and system CPU time of the processes, in ms (utime and stime of /proc/<pid>/stat, summed). */
export function cpuTimesMs(pids) {
  const stats = [].concat(pids).map(statFields).filter((fields) => fields !== undefined);
  const ms = (index) => sum(stats, (fields) => (Number(fields[index]) * 1000) / USER_HZ);
  return { user: ms(11), sys: ms(12) };
}

/** User + system CPU time, in ms, of the processes, summed. */
export function cpuMs(pids) {
  const { user, sys } = cpuTimesMs(pids);
  return user + sys;
}

/** User + system CPU time, in ms, of the children a process has waited for (cutime + cstime). */
export function waitedChildrenCpuMs(pid = process.pid) {
  const fields = statFields(pid);
  return fields ? ((Number(fields[13]) + Number(fields[14])) * 1000) / USER_HZ : NaN;
}

/** A `kB` line of /proc/<pid>/status (VmRSS, VmHWM), summed over the processes; absent (a zombie's) counts 0. */
export function statusKb(pids, field) {
  const pattern = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm');
  return sum(pids, (pid) => {
    let status;
    try {
      status = readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return undefined;
    }
    return Number(pattern.exec(status)?.[1] ?? 0);
  });
}

/** Open file descriptors of the processes (entries of /proc/<pid>/fd), summed. */
export function openFds(pids) {
  return sum(pids, (pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      return undefined;
    }
  });
}
