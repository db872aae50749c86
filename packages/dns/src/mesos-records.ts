// Records from Mesos' state (Mesos-DNS's `InsertState` for frameworks, masters and agents): the task
// IPs and discovery info Mesos reports, masters, agents and the owner keys. Pure: no I/O.
import { domainFrag, labelSpec, type LabelSpec } from './naming.js';
import { addressRecord, canonicalIp, ipsOf, pidHostPort, splitHostPort, taskRecords, type DiscoveryPort, type DnsRecord, type OwnerRecords, type RecordOptions, type TaskInput } from './records.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Expands Mesos' range string `[31000-31002, 31005-31005]` (also accepts `{range:[{begin,end}]}`). */
export function parsePortRanges(value: unknown, limit = 65536): number[] {
  const ports: number[] = [];
  const add = (begin: number, end: number): void => {
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end > 65535) return;
    for (let p = begin; p <= end && ports.length < limit; p++) ports.push(p);
  };
  if (typeof value === 'string') {
    for (const match of value.matchAll(/(\d+)\s*-\s*(\d+)/g)) add(Number(match[1]), Number(match[2]));
  } else if (isObj(value) && isObj(value.ranges)) {
    for (const r of arr(value.ranges.range)) if (isObj(r)) add(Number(r.begin), Number(r.end));
  }
  return ports;
}

/** Every value of the labels with `key`, in order (a key may be given more than once). */
function labelValues(labels: unknown, key: string): string[] {
  const list = isObj(labels) ? arr(labels.labels) : arr(labels);
  const out: string[] = [];
  for (const l of list) if (isObj(l) && l.key === key && typeof l.value === 'string') out.push(l.value);
  return out;
}

/**
 * The TASK_RUNNING status with the highest timestamp; of equal timestamps the first, as Mesos-DNS's
 * `statusIPs` (a missing timestamp counts as 0, as Go decodes it).
 */
function latestRunningStatus(statuses: unknown): Obj | undefined {
  let latest: Obj | undefined;
  let latestAt = -1;
  for (const status of arr(statuses)) {
    if (!isObj(status) || status.state !== 'TASK_RUNNING') continue;
    const at = typeof status.timestamp === 'number' ? status.timestamp : 0;
    if (at > latestAt) {
      latest = status;
      latestAt = at;
    }
  }
  return latest;
}

/** Task IPs of a raw Mesos task by IP-source order (reference §4). */
export function mesosTaskIps(task: Obj, agentIps: readonly string[], ipSources: readonly string[]): string[] {
  const latest = latestRunningStatus(task.statuses);
  for (const source of ipSources) {
    let ips: string[] = [];
    if (source === 'host') ips = [...agentIps];
    else if (latest && source === 'netinfo') {
      const found: string[] = [];
      const containerStatus = isObj(latest.container_status) ? latest.container_status : {};
      for (const info of arr(containerStatus.network_infos)) {
        if (!isObj(info)) continue;
        const addresses = arr(info.ip_addresses);
        for (const a of addresses) if (isObj(a) && typeof a.ip_address === 'string') found.push(a.ip_address);
        if (addresses.length === 0 && typeof info.ip_address === 'string') found.push(info.ip_address);
      }
      ips = ipsOf(found);
    } else if (latest && (source === 'docker' || source === 'mesos')) {
      const key = source === 'docker' ? 'Docker.NetworkSettings.IPAddress' : 'MesosContainerizer.NetworkSettings.IPAddress';
      ips = ipsOf(labelValues(latest.labels, key));
    }
    if (ips.length > 0) return ips;
  }
  return [];
}

/** The DiscoveryInfo of a raw Mesos task, when it has a non-empty name. */
export function mesosDiscovery(task: Obj): TaskInput['discovery'] {
  const discovery = task.discovery;
  if (!isObj(discovery) || str(discovery.name) === '') return undefined;
  const ports: DiscoveryPort[] = [];
  for (const p of arr(isObj(discovery.ports) ? discovery.ports.ports : undefined)) {
    if (!isObj(p) || !Number.isInteger(p.number)) continue;
    const port: DiscoveryPort = { number: p.number as number };
    if (str(p.name) !== '') port.name = p.name as string;
    if (str(p.protocol) !== '') port.protocol = (p.protocol as string).toLowerCase();
    ports.push(port);
  }
  return { name: str(discovery.name), ports };
}

export interface MesosStateOptions extends RecordOptions {
  /** Masters (`ip:port`) from config or detection, in order. */
  masters?: readonly string[];
  /** Frameworks whose tasks are skipped (their records come from elsewhere, e.g. `marathon` from the feed). */
  skipTasksOf?: readonly string[];
  /** IPs of host names that are not IP literals (agent and framework hosts), resolved by the caller. */
  resolved?: ReadonlyMap<string, readonly string[]>;
}

export const MASTERS_OWNER = 'mesos:masters';
export const AGENTS_OWNER = 'mesos:agents';
export const NAMESERVER_OWNER = 'nameserver';

export function frameworkOwnerKey(name: string): string {
  return `framework:${name}`;
}

/** Records of the masters: `leader`, `master`, `masterN`, `_leader._tcp|_udp` (reference §5). */
export function masterRecords(leaderPid: unknown, masters: readonly string[], domain: string): DnsRecord[] {
  const out: DnsRecord[] = [];
  const leader = pidHostPort(leaderPid);
  const leaderIp = leader ? canonicalIp(leader.host) : undefined;
  if (!leader || !leaderIp) return out;
  const leaderAddress = `${leader.host}:${leader.port}`;
  out.push(addressRecord(`leader.${domain}`, leaderIp.ip), addressRecord(`master.${domain}`, leaderIp.ip));
  const leaderTarget = `leader.${domain}:${leader.port}`;
  out.push({ name: `_leader._tcp.${domain}`, type: 'SRV', value: leaderTarget });
  out.push({ name: `_leader._udp.${domain}`, type: 'SRV', value: leaderTarget });
  const masterIps = new Set([leaderIp.ip]);
  let index = 0;
  let leaderListed = false;
  for (const master of masters) {
    const hp = splitHostPort(master);
    const ip = canonicalIp(hp.host);
    if (!ip) continue;
    const isLeader = master === leaderAddress || (ip.ip === leaderIp.ip && hp.port === leader.port);
    if (!isLeader) {
      if (masterIps.has(ip.ip)) continue;
      masterIps.add(ip.ip);
      out.push(addressRecord(`master.${domain}`, ip.ip));
    }
    out.push(addressRecord(`master${index}.${domain}`, ip.ip));
    index++;
    if (isLeader) leaderListed = true;
  }
  if (!leaderListed) out.push(addressRecord(`master${index}.${domain}`, leaderIp.ip));
  return out;
}

/**
 * Agent IPs by agent id, from `slaves[].pid` (`slave(1)@ip:port`, or a host name, resolved by the
 * caller as Mesos-DNS resolves it). An agent whose host name did not resolve is left out, and so are
 * its tasks (Mesos-DNS fails the whole poll on such a pid).
 */
export function agentIpsById(state: Obj, resolved?: ReadonlyMap<string, readonly string[]>): Map<string, { ips: string[]; port: string }> {
  const out = new Map<string, { ips: string[]; port: string }>();
  for (const slave of arr(state.slaves)) {
    if (!isObj(slave) || str(slave.id) === '') continue;
    const hp = pidHostPort(slave.pid);
    if (!hp) continue;
    const literal = canonicalIp(hp.host);
    const ips = literal ? [literal.ip] : ipsOf(resolved?.get(hp.host) ?? []);
    if (ips.length > 0) out.set(slave.id as string, { ips, port: hp.port });
  }
  return out;
}

/** `slave.D` A/AAAA for every agent and `_slave._tcp.D` → `slave.D:<pid port>`. */
export function agentRecords(agents: ReadonlyMap<string, { ips: string[]; port: string }>, domain: string): DnsRecord[] {
  const out: DnsRecord[] = [];
  for (const { ips, port } of agents.values()) {
    for (const ip of ips) out.push(addressRecord(`slave.${domain}`, ip));
    if (port !== '') out.push({ name: `_slave._tcp.${domain}`, type: 'SRV', value: `slave.${domain}:${port}` });
  }
  return out;
}

/** `F.D` → the framework's host, `_framework._tcp.F.D` → `F.D:<pid port>` when it has a pid. */
export function frameworkRecords(
  framework: Obj,
  opts: { domain: string; spec: LabelSpec; resolved?: ReadonlyMap<string, readonly string[]> },
): DnsRecord[] {
  const fname = domainFrag(str(framework.name), '.', opts.spec);
  if (fname === '') return [];
  const pid = pidHostPort(framework.pid);
  const host = pid ? pid.host : str(framework.hostname);
  const literal = canonicalIp(host);
  const ips = literal ? [literal.ip] : ipsOf(opts.resolved?.get(host) ?? []);
  const out: DnsRecord[] = [];
  const name = `${fname}.${opts.domain}`;
  for (const ip of ips) out.push(addressRecord(name, ip));
  if (ips.length > 0 && pid && pid.port !== '') {
    out.push({ name: `_framework._tcp.${name}`, type: 'SRV', value: `${name}:${pid.port}` });
  }
  return out;
}

/**
 * Host names in a Mesos state that need resolving (Mesos-DNS's `hostToIPs`): agent pid hosts, and
 * framework hosts (the pid's, else `hostname`) that are not IP literals.
 */
export function hostnamesToResolve(state: unknown): string[] {
  const out = new Set<string>();
  if (!isObj(state)) return [];
  const add = (host: string): void => {
    if (host !== '' && !canonicalIp(host)) out.add(host);
  };
  for (const s of arr(state.slaves)) if (isObj(s)) add(pidHostPort(s.pid)?.host ?? '');
  for (const f of arr(state.frameworks)) if (isObj(f)) add(pidHostPort(f.pid)?.host ?? str(f.hostname));
  return [...out];
}

/**
 * Every owner's records from a Mesos master `/master/state` (Mesos-DNS's `InsertState`): the masters,
 * the agents, and per framework its name records and its running tasks on known agents.
 */
export function mesosStateRecords(state: unknown, opts: MesosStateOptions): { owners: Map<string, OwnerRecords>; error?: string } {
  const owners = new Map<string, OwnerRecords>();
  if (!isObj(state)) return { owners, error: 'master state is not a JSON object' };
  const spec = labelSpec(opts.enforceRfc952);
  owners.set(MASTERS_OWNER, { tasks: [], records: masterRecords(state.leader, opts.masters ?? [], opts.domain) });
  const agents = agentIpsById(state, opts.resolved);
  owners.set(AGENTS_OWNER, { tasks: [], records: agentRecords(agents, opts.domain) });
  const skip = new Set(opts.skipTasksOf ?? []);
  for (const framework of arr(state.frameworks)) {
    if (!isObj(framework) || typeof framework.name !== 'string') continue;
    const name = framework.name;
    const key = frameworkOwnerKey(name);
    const owner = owners.get(key) ?? { framework: name, tasks: [], records: [] };
    owners.set(key, owner);
    owner.records.push(...frameworkRecords(framework, { domain: opts.domain, spec, resolved: opts.resolved }));
    if (skip.has(name)) continue;
    for (const task of arr(framework.tasks)) {
      if (!isObj(task) || task.state !== 'TASK_RUNNING' || str(task.id) === '') continue;
      const agent = agents.get(str(task.slave_id));
      if (!agent) continue;
      const resources = isObj(task.resources) ? task.resources : {};
      const input: TaskInput = {
        id: task.id as string,
        name: str(task.name),
        agentId: str(task.slave_id),
        agentIps: agent.ips,
        taskIps: mesosTaskIps(task, agent.ips, opts.ipSources),
        resourcePorts: parsePortRanges(resources.ports),
        discovery: mesosDiscovery(task),
      };
      owner.tasks.push(taskRecords(input, name, opts));
    }
  }
  return { owners };
}

/** `SOAMname` → the listener IP(s) (reference §5). */
export function nameserverRecords(soaMname: string, ips: readonly string[]): DnsRecord[] {
  const name = soaMname.toLowerCase().replace(/\.$/, '');
  return ipsOf(ips).map((ip) => addressRecord(name, ip));
}
