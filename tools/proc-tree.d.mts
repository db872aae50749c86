// Types of proc-tree.mjs (plain JavaScript, so that the benchmarks run it without a build).

/** True while the process exists and is not a zombie. */
export function running(pid: number): boolean;

/** `pid` first, then its descendants breadth first (children by /proc/<n>/stat's ppid), at most `limit` (1024). */
export function descendants(pid: number, limit?: number): number[];

/** User and system CPU time of the processes, in ms, summed; a process gone adds nothing; NaN when none could be read. */
export function cpuTimesMs(pids: number | readonly number[]): { user: number; sys: number };

/** User + system CPU time, in ms, of the processes, summed (NaN when none could be read). */
export function cpuMs(pids: number | readonly number[]): number;

/** User + system CPU time, in ms, of the children a process (default: this one) has waited for. */
export function waitedChildrenCpuMs(pid?: number): number;

/** A `kB` line of /proc/<pid>/status (`VmRSS`, `VmHWM`), summed over the processes (NaN when none could be read). */
export function statusKb(pids: number | readonly number[], field: 'VmRSS' | 'VmHWM' | (string & {})): number;

/** Open file descriptors of the processes, summed (NaN when none could be read). */
export function openFds(pids: number | readonly number[]): number;
