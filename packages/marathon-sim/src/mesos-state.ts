// The cluster as a Mesos master's `GET /master/state`, with the fields Mesos-DNS reads made right:
// leader, slaves[].{id,pid}, frameworks[].{name,pid,hostname,tasks[].{id,name,slave_id,state,statuses,
// resources.ports,discovery}} (reference mesos-dns.md §9). Pure.
import type { Cluster, SimApp, SimTask } from './cluster.js';
import { toHostname } from './ids.js';
import type { Json } from './normalize.js';

/** A task of a non-Marathon framework, as tests describe it. */
export interface ExtraTask {
  id?: string;
  name: string;
  /** Agent hostname; an agent is created for it when unknown. Default: the first agent. */
  host?: string;
  state?: string;
  ports?: number[];
  /** Container IP reported in the status' NetworkInfo (default: the agent host). */
  ip?: string;
  /** DiscoveryInfo; omitted when absent. */
  discovery?: { name?: string; ports?: { number: number; name?: string; protocol?: string }[] };
  labels?: Record<string, string>;
}

export interface ExtraFramework {
  id?: string;
  name: string;
  hostname?: string;
  /** `scheduler-…@ip:port`; omitted when absent. */
  pid?: string;
  webui_url?: string;
  tasks?: ExtraTask[];
}

export interface MesosStateOptions {
  /** Host of the master and of Marathon's scheduler pid. */
  host: string;
  masterPort: number;
  marathonPort: number;
  /** Marathon's web UI (the leader face URL), empty with no leader. */
  webuiUrl: string;
  masterId: string;
  cluster: string;
  startTime: number;
  extraFrameworks: ExtraFramework[];
}

/** Mesos' range string for a port list: [31000-31001, 31005-31005]. */
export function portRanges(ports: number[]): string {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    const start = sorted[i];
    while (i + 1 < sorted.length && sorted[i + 1] === sorted[i] + 1) i++;
    ranges.push(`${start}-${sorted[i]}`);
  }
  return `[${ranges.join(', ')}]`;
}

function statusesJson(task: SimTask, ip: string | undefined): Json[] {
  return task.statuses.map((s) => {
    const status: Json = { state: s.state, timestamp: s.timestamp };
    if (ip) status.container_status = { network_infos: [{ ip_addresses: [{ ip_address: ip }] }] };
    return status;
  });
}

/** DiscoveryInfo as Marathon's TaskBuilder sets it: one port per protocol, host port or container port. */
function discoveryJson(app: SimApp, task: SimTask): Json {
  const ports: Json[] = [];
  let hostPortIndex = 0;
  for (const spec of app.ports) {
    const hasHostPort = spec.hostPort !== undefined;
    const number = hasHostPort ? task.ports[hostPortIndex++] : spec.containerPort;
    if (number === undefined) continue;
    for (const protocol of spec.protocol.split(',')) {
      const port: Json = { number, protocol: protocol.trim() };
      if (spec.name) port.name = spec.name;
      port.labels = { labels: [{ key: 'network-scope', value: hasHostPort ? 'host' : 'container' }] };
      ports.push(port);
    }
  }
  const name = toHostname(app.id);
  return { visibility: 'FRAMEWORK', name, ports: { ports } };
}

function marathonTaskJson(cluster: Cluster, app: SimApp, task: SimTask): Json {
  const resources: Json = {
    cpus: Number(app.def.cpus ?? 1), mem: Number(app.def.mem ?? 128), disk: Number(app.def.disk ?? 0), gpus: Number(app.def.gpus ?? 0),
  };
  if (task.ports.length > 0) resources.ports = portRanges(task.ports);
  const labels = Object.entries(app.def.labels as Record<string, string>).map(([key, value]) => ({ key, value }));
  return {
    id: task.id,
    name: toHostname(app.id),
    framework_id: cluster.frameworkId,
    executor_id: '',
    slave_id: task.agent.id,
    state: task.state,
    resources,
    statuses: statusesJson(task, task.ipAddresses[0]?.ipAddress),
    labels,
    discovery: discoveryJson(app, task),
  };
}

function extraFrameworkJson(cluster: Cluster, fw: ExtraFramework, index: number, startTime: number): Json {
  const id = fw.id ?? `${cluster.agentPrefix}-${String(index + 1).padStart(4, '0')}`;
  const tasks = (fw.tasks ?? []).map((t, i) => {
    const agent = t.host ? cluster.agentForHost(t.host) : cluster.agents[0];
    const state = t.state ?? 'TASK_RUNNING';
    const resources: Json = {};
    if (t.ports && t.ports.length > 0) resources.ports = portRanges(t.ports);
    const task: Json = {
      id: t.id ?? `${t.name}__${i}`,
      name: t.name,
      framework_id: id,
      executor_id: '',
      slave_id: agent.id,
      state,
      resources,
      statuses: [{ state, timestamp: startTime, container_status: { network_infos: [{ ip_addresses: [{ ip_address: t.ip ?? agent.hostname }] }] } }],
    };
    if (t.labels) task.labels = Object.entries(t.labels).map(([key, value]) => ({ key, value }));
    if (t.discovery) {
      task.discovery = {
        visibility: 'FRAMEWORK',
        name: t.discovery.name ?? t.name,
        ports: { ports: (t.discovery.ports ?? []).map((p) => ({ number: p.number, ...(p.name ? { name: p.name } : {}), protocol: p.protocol ?? 'tcp' })) },
      };
    }
    return task;
  });
  const out: Json = { id, name: fw.name, hostname: fw.hostname ?? '127.0.0.1', active: true, tasks, completed_tasks: [] };
  if (fw.pid) out.pid = fw.pid;
  if (fw.webui_url) out.webui_url = fw.webui_url;
  return out;
}

export function mesosState(cluster: Cluster, options: MesosStateOptions): Json {
  const masterPid = `master@${options.host}:${options.masterPort}`;
  const marathonTasks: Json[] = [];
  for (const app of cluster.apps.values()) for (const task of app.tasks.values()) marathonTasks.push(marathonTaskJson(cluster, app, task));
  const extra = options.extraFrameworks.map((fw, i) => extraFrameworkJson(cluster, fw, i, options.startTime));
  const slaves = cluster.agents.map((agent) => ({
    id: agent.id,
    pid: `slave(1)@${agent.hostname}:5051`,
    hostname: agent.hostname,
    port: 5051,
    active: true,
    resources: { cpus: 8, mem: 32768, disk: 100000, gpus: 0, ports: '[31000-32000]' },
    attributes: {},
  }));
  return {
    version: '1.11.0',
    id: options.masterId,
    pid: masterPid,
    hostname: options.host,
    start_time: options.startTime,
    elected_time: options.startTime,
    activated_slaves: slaves.length,
    deactivated_slaves: 0,
    cluster: options.cluster,
    leader: masterPid,
    leader_info: { id: options.masterId, pid: masterPid, hostname: options.host, ip: options.host, port: options.masterPort },
    slaves,
    frameworks: [
      {
        id: cluster.frameworkId,
        name: 'marathon',
        pid: `scheduler-${cluster.agentPrefix}@${options.host}:${options.marathonPort}`,
        hostname: options.host,
        webui_url: options.webuiUrl,
        active: true,
        role: '*',
        tasks: marathonTasks,
        completed_tasks: [],
      },
      ...extra,
    ],
    completed_frameworks: [],
    orphan_tasks: [],
    unregistered_frameworks: [],
  };
}
