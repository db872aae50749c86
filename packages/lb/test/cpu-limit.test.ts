import { describe, expect, it } from 'vitest';
import { cgroupCpuLimit, defaultWorkers } from '../src/cpu-limit.js';

/** A reader over a fixed set of files, as a container shows them. */
const files = (map: Record<string, string>) => (path: string) => map[path];

describe('the CPU limit of the cgroup', () => {
  it('reads a Mesos container’s CFS quota under its own cgroup v1 path (DC/OS sets it from `cpus`)', () => {
    const read = files({
      '/proc/self/cgroup': '11:memory:/mesos/6a0f\n4:cpu,cpuacct:/mesos/6a0f\n0::/\n',
      '/sys/fs/cgroup/cpu,cpuacct/mesos/6a0f/cpu.cfs_quota_us': '200000\n',
      '/sys/fs/cgroup/cpu,cpuacct/mesos/6a0f/cpu.cfs_period_us': '100000\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1\n',
      '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000\n',
    });
    expect(cgroupCpuLimit(read)).toBe(2);
  });

  it('reads the quota at the mount root when the container sees only its own subtree (Docker, cgroup v1)', () => {
    const read = files({
      '/proc/self/cgroup': '3:cpu,cpuacct:/docker/0b1c\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '150000',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
    });
    expect(cgroupCpuLimit(read)).toBe(1.5);
  });

  it('reads cgroup v2 `cpu.max`, under the process’s path or at the root of a cgroup namespace', () => {
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/system.slice/lb.service\n', '/sys/fs/cgroup/system.slice/lb.service/cpu.max': '300000 100000\n' }))).toBe(3);
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '50000 100000\n' }))).toBe(0.5);
  });

  it('sees no limit without a quota: `max`, -1, CPU shares only, or nothing readable', () => {
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBeUndefined();
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '1:cpu:/\n', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }))).toBeUndefined();
    expect(cgroupCpuLimit(files({ '/proc/self/cgroup': '1:cpu:/mesos/x\n', '/sys/fs/cgroup/cpu/mesos/x/cpu.shares': '2048' }))).toBeUndefined();
    expect(cgroupCpuLimit(files({}))).toBeUndefined();
  });
});

describe('the default number of baton-lb workers', () => {
  it('is one per core, lowered to the CPU limit rounded up, and at least one', () => {
    expect(defaultWorkers(32, undefined)).toBe(32);
    expect(defaultWorkers(32, 2)).toBe(2);
    expect(defaultWorkers(32, 1.5)).toBe(2);
    expect(defaultWorkers(32, 0.1)).toBe(1);
    expect(defaultWorkers(4, 16)).toBe(4);
  });
});
