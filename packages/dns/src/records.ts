// Record generation exactly as Mesos-DNS's `InsertState` (reference mesos-dns.md §3–§5), per owner:
// IP text, a task's records and one Marathon app (from ClusterState) here; Mesos frameworks, masters,
// agents and the nameserver in mesos-records.ts. Plus PTR records (a baton addition). Pure: no I/O.
//
// Names are lower-case FQDNs without the trailing dot; SRV values are `target:port`.
import { isIP } from 'node:net';
import { ipv6Text, type App, type Task } from '@baton/marathon';
import { agentSuffix, domainFrag, labelSpec, taskHash, toHostname, type LabelSpec } from './naming.js';

export type RecordType = 'A' | 'AAAA' | 'SRV' | 'PTR';

export interface DnsRecord {
  /** Owner name, lower-case, no trailing dot. */
  name: string;
  type: RecordType;
  /** IP for A/AAAA, `target:port` for SRV, the target name for PTR. */
  value: string;
}

/** The records one task produced (kept per task for `/v1/enumerate`). */
export interface TaskRecords {
  id: string;
  /** The Mesos task name (for Marathon: the app id's toHostname, `mysql.db.prod`). */
  name: string;
  records: DnsRecord[];
}

/** Everything one owner (an app, a framework, the masters, …) publishes. */
export interface OwnerRecords {
  /** The raw framework name the tasks belong to (`marathon`, `kafka`), for `/v1/enumerate`. */
  framework?: string;
  tasks: TaskRecords[];
  /** Records not tied to a task (masters, agents, framework names, the nameserver). */
  records: DnsRecord[];
}

export interface RecordOptions {
  domain: string;
  enforceRfc952: boolean;
  /** Ordered IP sources: `netinfo`, `mesos`, `docker`, `host`. */
  ipSources: readonly string[];
  /** Publish PTR records for task and agent IPs. */
  ptrOn: boolean;
  /** Tasks of apps with health checks are published only when healthy (Marathon source). */
  healthyOnly?: boolean;
}

export const DEFAULT_IP_SOURCES: readonly string[] = ['netinfo', 'mesos', 'host'];

// ------------------------------------------------------------------------------------------ IPs

/** An IP literal in canonical text form (IPv6 compressed lower-case, IPv4-mapped IPv6 as IPv4), or undefined. */
export function canonicalIp(text: string): { family: 4 | 6; ip: string } | undefined {
  if (typeof text !== 'string') return undefined;
  const family = isIP(text);
  if (family === 4) return { family: 4, ip: text };
  if (family !== 6) return undefined;
  const groups = expandIpv6(text);
  if (!groups) return undefined;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return { family: 4, ip: `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}` };
  }
  return { family: 6, ip: ipv6Text(groups) };
}

/** The 8 16-bit groups of a valid IPv6 literal (zone ids are dropped). */
function expandIpv6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    const p = last.split('.').map(Number);
    s = s.slice(0, lastColon + 1) + ((p[0] << 8) | p[1]).toString(16) + ':' + ((p[2] << 8) | p[3]).toString(16);
  }
  const [headText, tailText] = s.includes('::') ? s.split('::') : [s, undefined];
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = parse(headText);
  const rest = tailText === undefined ? [] : parse(tailText);
  const groups = tailText === undefined ? head : [...head, ...new Array<number>(Math.max(0, 8 - head.length - rest.length)).fill(0), ...rest];
  if (groups.length !== 8 || groups.some((g) => !Number.isFinite(g))) return undefined;
  return groups;
}

/** The reverse-lookup name of an IP: `4.3.2.1.in-addr.arpa`, or the 32 nibbles under `ip6.arpa`. */
export function reverseName(ip: string): string | undefined {
  const parsed = canonicalIp(ip);
  if (!parsed) return undefined;
  if (parsed.family === 4) return parsed.ip.split('.').reverse().join('.') + '.in-addr.arpa';
  const groups = expandIpv6(parsed.ip)!;
  const nibbles: string[] = [];
  for (let i = 7; i >= 0; i--) {
    const g = groups[i];
    nibbles.push((g & 15).toString(16), ((g >> 4) & 15).toString(16), ((g >> 8) & 15).toString(16), ((g >> 12) & 15).toString(16));
  }
  return nibbles.join('.') + '.ip6.arpa';
}

/** Canonical IP literals of `values`, invalid ones dropped, order kept, duplicates removed. */
export function ipsOf(values: Iterable<string>): string[] {
  const out: string[] = [];
  for (const value of values) {
    const parsed = canonicalIp(value);
    if (parsed && !out.includes(parsed.ip)) out.push(parsed.ip);
  }
  return out;
}

export function addressRecord(name: string, ip: string): DnsRecord {
  return { name, type: ip.includes(':') ? 'AAAA' : 'A', value: ip };
}

/** `host:port`, `[v6]:port` or a bare host. */
export function splitHostPort(text: string): { host: string; port: string } {
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end > 0) return { host: text.slice(1, end), port: text.slice(end + 2) };
  }
  const at = text.lastIndexOf(':');
  if (at < 0 || text.indexOf(':') !== at) return { host: text, port: '' };
  return { host: text.slice(0, at), port: text.slice(at + 1) };
}

/** The `ip:port` part of a libprocess pid (`master@10.0.0.1:5050`, `slave(1)@10.0.0.2:5051`). */
export function pidHostPort(pid: unknown): { host: string; port: string } | undefined {
  if (typeof pid !== 'string') return undefined;
  const at = pid.indexOf('@');
  if (at < 0) return undefined;
  const hp = splitHostPort(pid.slice(at + 1));
  return hp.host === '' ? undefined : hp;
}

// ------------------------------------------------------------------------------------------ tasks

export interface DiscoveryPort {
  number: number;
  name?: string;
  protocol?: string;
}

/** One task as Mesos-DNS sees it, whatever the source. */
export interface TaskInput {
  id: string;
  /** Raw Mesos task name. */
  name: string;
  agentId: string;
  /** Agent IP literal(s). */
  agentIps: readonly string[];
  /** Task IPs from the first IP source that yielded any. */
  taskIps: readonly string[];
  /** Host ports from `resources.ports`. */
  resourcePorts: readonly number[];
  /** Present when the task has DiscoveryInfo with a non-empty name. */
  discovery?: { name: string; ports: readonly DiscoveryPort[] };
}

interface Context {
  spec: LabelSpec;
  /** `DomainFrag(framework)`. */
  fname: string;
  /** `.` + domain. */
  tail: string;
  hash: string;
  suffix: string;
  ptrOn: boolean;
}

/** One generation pass (Mesos-DNS's `taskContextRecord`) for task label `t`. */
function pushTaskPass(out: DnsRecord[], t: string, task: TaskInput, ctx: Context, withPtr: boolean): void {
  const { fname, tail, spec } = ctx;
  const canonical = `${t}-${ctx.hash}-${ctx.suffix}.${fname}`;
  const arec = `${t}.${fname}`;
  const canonicalName = canonical + tail;
  const canonicalSlave = `${canonical}.slave${tail}`;
  for (const ip of task.taskIps) {
    out.push(addressRecord(arec + tail, ip), addressRecord(canonicalName, ip));
  }
  for (const ip of task.agentIps) {
    out.push(addressRecord(`${arec}.slave${tail}`, ip), addressRecord(canonicalSlave, ip));
  }
  const slaveSrv = (port: number, alsoNonSlave: boolean): void => {
    const value = `${canonicalSlave}:${port}`;
    for (const proto of ['tcp', 'udp']) {
      if (alsoNonSlave) out.push({ name: `_${t}._${proto}.${fname}${tail}`, type: 'SRV', value });
      out.push({ name: `_${t}._${proto}.${fname}.slave${tail}`, type: 'SRV', value });
    }
  };
  if (!task.discovery) {
    for (const port of task.resourcePorts) slaveSrv(port, true);
  } else {
    for (const port of task.resourcePorts) slaveSrv(port, false);
    for (const port of task.discovery.ports) {
      const value = `${canonicalName}:${port.number}`;
      const protocols = port.protocol ? [spec(port.protocol)] : ['tcp', 'udp'];
      const portLabel = port.name ? spec(port.name) : '';
      for (const proto of protocols) {
        const service = `_${t}._${proto}.${fname}${tail}`;
        out.push({ name: service, type: 'SRV', value });
        if (portLabel !== '') out.push({ name: `_${portLabel}.${service}`, type: 'SRV', value });
      }
    }
  }
  if (withPtr) {
    for (const ip of task.taskIps) out.push({ name: reverseName(ip)!, type: 'PTR', value: canonicalName });
    for (const ip of task.agentIps) out.push({ name: reverseName(ip)!, type: 'PTR', value: canonicalSlave });
  }
}

/** Every record of one running task (Mesos-DNS's `taskRecord`, legacy raw-name duplicates included). */
export function taskRecords(task: TaskInput, framework: string, opts: RecordOptions): TaskRecords {
  const spec = labelSpec(opts.enforceRfc952);
  const ctx: Context = {
    spec,
    fname: domainFrag(framework, '.', spec),
    tail: '.' + opts.domain,
    hash: taskHash(task.id),
    suffix: agentSuffix(task.agentId),
    ptrOn: opts.ptrOn,
  };
  const records: DnsRecord[] = [];
  if (task.discovery) {
    // LEGACY (as upstream): once with the raw DiscoveryInfo name, then sanitised. When both are the
    // same label the first pass would only repeat the second, so it is skipped.
    const raw = task.discovery.name.toLowerCase();
    const sanitised = spec(task.discovery.name);
    if (raw !== sanitised) pushTaskPass(records, raw, task, ctx, false);
    pushTaskPass(records, sanitised, task, ctx, opts.ptrOn);
  } else {
    pushTaskPass(records, spec(task.name), task, ctx, opts.ptrOn);
  }
  return { id: task.id, name: task.name, records };
}

// ------------------------------------------------------------------------------------------ Marathon

/** True when the task is published: TASK_RUNNING, and healthy when `healthyOnly` and the app has health checks. */
export function isPublished(app: App, task: Task, healthyOnly: boolean): boolean {
  if (task.state !== 'TASK_RUNNING' || task.slaveId === '') return false;
  return !(healthyOnly && app.healthChecks.length > 0 && task.health !== 'healthy');
}

/**
 * The agent IP(s) of a Marathon task: `host` when it is an IP literal. Marathon reports the agent's
 * hostname there on many clusters; then, for host networking, the task's `ipAddresses` are the agent's
 * (Mesos reports the agent address for host-networked tasks). Otherwise none: hostnames are never
 * published as A records.
 */
export function marathonAgentIps(app: App, task: Task): string[] {
  const host = canonicalIp(task.host);
  if (host) return [host.ip];
  if (app.networkMode === 'host') return ipsOf(task.ipAddresses.map((a) => a.ipAddress));
  return [];
}

/**
 * Task IPs by IP-source order. Marathon's `ipAddresses` are what Mesos reports in the status'
 * NetworkInfo, so `netinfo` gives them all; `mesos` and `docker` (container-network labels) give those
 * that are not the agent's; `host` gives the agent IP(s).
 */
export function marathonTaskIps(task: Task, agentIps: readonly string[], ipSources: readonly string[]): string[] {
  for (const source of ipSources) {
    let ips: string[] = [];
    if (source === 'netinfo') ips = ipsOf(task.ipAddresses.map((a) => a.ipAddress));
    else if (source === 'mesos' || source === 'docker') {
      ips = ipsOf(task.ipAddresses.map((a) => a.ipAddress)).filter((ip) => !agentIps.includes(ip) && ip !== task.host);
    } else if (source === 'host') ips = [...agentIps];
    if (ips.length > 0) return ips;
  }
  return [];
}

interface PortPlan {
  fromHost: boolean;
  containerPort?: number;
  protocols: string[];
  name?: string;
}

function portPlan(app: App): PortPlan[] {
  return app.ports.map((spec) => ({
    fromHost: spec.hostPort !== undefined,
    containerPort: spec.containerPort,
    protocols: spec.protocol.split(',').map((p) => p.trim().toLowerCase() || 'tcp'),
    name: spec.name || undefined,
  }));
}

function discoveryPorts(plan: readonly PortPlan[], task: Task): DiscoveryPort[] {
  const ports: DiscoveryPort[] = [];
  let hostPortIndex = 0;
  for (const spec of plan) {
    const number = spec.fromHost ? task.ports[hostPortIndex++] : spec.containerPort;
    if (number === undefined || !Number.isInteger(number)) continue;
    for (const protocol of spec.protocols) ports.push(spec.name ? { number, protocol, name: spec.name } : { number, protocol });
  }
  return ports;
}

/**
 * DiscoveryInfo ports as Marathon's TaskBuilder sets them: per app port, the task's host port when the
 * port has one (host networking, bridge), else the container port; one entry per protocol of `udp,tcp`.
 */
export function marathonDiscoveryPorts(app: App, task: Task): DiscoveryPort[] {
  return discoveryPorts(portPlan(app), task);
}

export const MARATHON_FRAMEWORK = 'marathon';

/** The owner key of a Marathon app's records. */
export function appOwnerKey(appId: string): string {
  return `app:${appId}`;
}

/** Records of one Marathon app, as Mesos-DNS would generate them from the Mesos state Marathon produces. */
export function marathonAppRecords(app: App, tasks: readonly Task[], opts: RecordOptions): OwnerRecords {
  const out: TaskRecords[] = [];
  const name = toHostname(app.id);
  const plan = portPlan(app);
  for (const task of tasks) {
    if (!isPublished(app, task, opts.healthyOnly ?? false)) continue;
    const agentIps = marathonAgentIps(app, task);
    const input: TaskInput = {
      id: task.id,
      name,
      agentId: task.slaveId,
      agentIps,
      taskIps: marathonTaskIps(task, agentIps, opts.ipSources),
      resourcePorts: task.ports,
      discovery: name === '' ? undefined : { name, ports: discoveryPorts(plan, task) },
    };
    out.push(taskRecords(input, MARATHON_FRAMEWORK, opts));
  }
  return { framework: MARATHON_FRAMEWORK, tasks: out, records: [] };
}
