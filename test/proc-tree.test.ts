// tools/proc-tree.mjs against real processes: a node child that starts a grandchild which burns CPU.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuMs, cpuTimesMs, descendants, openFds, running, statusKb, waitedChildrenCpuMs } from '../tools/proc-tree.mjs';
import { waitFor } from './helpers/wait.js';

// The grandchild spins 200 ms of CPU, then idles; the child prints its pid, and `reaped` once it has exited.
const GRANDCHILD = 'const end = Date.now() + 200; while (Date.now() < end); setTimeout(() => {}, 60_000);';
const CHILD = `
  const grandchild = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(GRANDCHILD)}], { stdio: 'ignore' });
  console.log('grandchild ' + grandchild.pid);
  grandchild.on('exit', () => console.log('reaped'));
  setTimeout(() => {}, 60_000);
`;

describe.skipIf(process.platform !== 'linux')('proc-tree', () => {
  let child: ChildProcess;
  let output = '';
  let grandchild: number;

  beforeAll(async () => {
    child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    await waitFor(() => /grandchild \d+\n/.test(output), 20_000);
    grandchild = Number(/grandchild (\d+)/.exec(output)![1]);
    // Past the grandchild's spin: its CPU time is at least 200 ms from then on.
    await waitFor(() => cpuMs(grandchild) >= 200, 20_000, 50);
  });

  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('finds a process and its descendants, the process first, within the bound', () => {
    expect(descendants(child.pid!)).toEqual([child.pid, grandchild]);
    expect(descendants(child.pid!, 1)).toEqual([child.pid]);
  });

  it('reads CPU time, resident memory and open descriptors, summed over a list', () => {
    const tree = descendants(child.pid!);
    const times = cpuTimesMs(grandchild);
    expect(times.user).toBeGreaterThan(0);
    expect(times.user + times.sys).toBeLessThanOrEqual(cpuMs(grandchild));
    // CPU time and peak memory only grow: the sum lies between the parts read before and after it.
    for (const read of [cpuMs, (pids: number | number[]) => statusKb(pids, 'VmHWM')]) {
      const partsBefore = read(child.pid!) + read(grandchild);
      const sum = read(tree);
      expect(sum).toBeGreaterThanOrEqual(partsBefore);
      expect(sum).toBeLessThanOrEqual(read(child.pid!) + read(grandchild));
    }
    expect(statusKb(child.pid!, 'VmRSS')).toBeGreaterThan(1024);
    expect(statusKb(tree, 'VmRSS')).toBeGreaterThan(statusKb(child.pid!, 'VmRSS') + 1024);
    expect(openFds(grandchild)).toBeGreaterThanOrEqual(3);
    expect(openFds(tree)).toBeGreaterThan(openFds(child.pid!));
  });

  it('skips a process that has gone, and counts its CPU to the parent that waited for it', async () => {
    const before = waitedChildrenCpuMs(child.pid);
    expect(running(grandchild)).toBe(true);
    process.kill(grandchild, 'SIGKILL');
    await waitFor(() => output.includes('reaped'), 20_000);
    expect(running(grandchild)).toBe(false);
    expect(running(child.pid!)).toBe(true);
    expect(descendants(child.pid!)).toEqual([child.pid]);
    expect(cpuMs(grandchild)).toBeNaN();
    expect(statusKb(grandchild, 'VmRSS')).toBeNaN();
    expect(cpuMs([child.pid!, grandchild])).toBe(cpuMs(child.pid!));
    expect(waitedChildrenCpuMs(child.pid)).toBeGreaterThanOrEqual(before + 200);
  });
});
