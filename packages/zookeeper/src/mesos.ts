// Mesos masters in ZooKeeper (pure): `<path>/json.info_<seq>` nodes holding `JSON::protobuf(MasterInfo)`.
import { hostPort, isObject, isPort, parseJsonNode, type NodeError, type ParseResult, type ZkNode } from './parse-result.js';

export interface MesosMasterInfo {
  /** The znode name, e.g. `json.info_0000000017`. */
  node: string;
  /** Sequence number of the znode; the lowest leads. */
  sequence: number;
  /** `ip:port`, the address agents and frameworks use. */
  address: string;
  ip: string;
  port: number;
  hostname?: string;
  id?: string;
  pid?: string;
  version?: string;
}

export interface MesosMasters {
  /** `ip:port` of the leading master (lowest sequence), undefined when no master is registered. */
  leader?: string;
  /** `ip:port` of every registered master, leader first (by sequence). */
  masters: string[];
  /** The parsed registrations, by sequence. */
  infos: MesosMasterInfo[];
  /** Nodes that could not be parsed (skipped). */
  errors: NodeError[];
}

const MASTER_NODE = /^json\.info_(\d+)$/;

/** Sequence number of a `json.info_<seq>` child, or undefined for other children (`log_replicas`, binary `info_…`). */
export function mesosMasterSequence(name: string): number | undefined {
  const match = MASTER_NODE.exec(name);
  return match ? Number(match[1]) : undefined;
}

/**
 * Mesos writes `MasterInfo.ip` as the uint32 of the address in network byte order read as a
 * little-endian integer: 127.0.0.1 → 16777343.
 */
export function unpackMesosIp(packed: number): string | undefined {
  if (!Number.isInteger(packed) || packed < 0 || packed > 0xffffffff) return undefined;
  return [packed & 0xff, (packed >>> 8) & 0xff, (packed >>> 16) & 0xff, packed >>> 24].join('.');
}

/** The reverse of `unpackMesosIp` (for tests and simulators). */
export function packMesosIp(ip: string): number {
  const octets = ip.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) {
    throw new TypeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  }
  return (octets[0] | (octets[1] << 8) | (octets[2] << 16) | (octets[3] << 24)) >>> 0;
}

/** Parses one master registration. `address.ip`/`address.port` are preferred over the packed `ip`, then `pid`. */
export function parseMesosMasterInfo(node: string, data: Buffer | string): ParseResult<MesosMasterInfo> {
  const sequence = mesosMasterSequence(node);
  if (sequence === undefined) return { ok: false, error: `${node}: not a json.info_<sequence> node` };
  const json = parseJsonNode(data, node);
  if (!json.ok) return json;
  const info = json.value;

  let ip: string | undefined;
  let port: number | undefined;
  const address = isObject(info.address) ? info.address : undefined;
  if (address && typeof address.ip === 'string' && address.ip !== '' && isPort(address.port)) {
    ip = address.ip;
    port = address.port;
  }
  if (ip === undefined && typeof info.ip === 'number' && isPort(info.port)) {
    ip = unpackMesosIp(info.ip);
    port = info.port;
  }
  if (ip === undefined && typeof info.pid === 'string') {
    const pid = /@([^@]+):(\d+)$/.exec(info.pid);
    if (pid && isPort(Number(pid[2]))) {
      ip = pid[1];
      port = Number(pid[2]);
    }
  }
  if (ip === undefined || port === undefined) {
    return { ok: false, error: `${node}: no address (address.ip/port, ip/port or pid) in master info` };
  }

  const result: MesosMasterInfo = { node, sequence, address: hostPort(ip, port), ip, port };
  const hostname = typeof info.hostname === 'string' ? info.hostname : typeof address?.hostname === 'string' ? address.hostname : undefined;
  if (hostname) result.hostname = hostname;
  if (typeof info.id === 'string') result.id = info.id;
  if (typeof info.pid === 'string') result.pid = info.pid;
  if (typeof info.version === 'string') result.version = info.version;
  return { ok: true, value: result };
}

/** Leader and masters from the children of the Mesos znode; other children are ignored. */
export function mesosMastersFromNodes(nodes: readonly ZkNode[]): MesosMasters {
  const infos: MesosMasterInfo[] = [];
  const errors: NodeError[] = [];
  for (const { name, data } of nodes) {
    if (mesosMasterSequence(name) === undefined) continue;
    const parsed = parseMesosMasterInfo(name, data);
    if (parsed.ok) infos.push(parsed.value);
    else errors.push({ node: name, error: parsed.error });
  }
  infos.sort((a, b) => a.sequence - b.sequence);
  const masters: string[] = [];
  for (const info of infos) if (!masters.includes(info.address)) masters.push(info.address);
  // The lowest sequence leads even when its data is unreadable: then the leader is unknown, not the next one.
  const lowest = Math.min(...nodes.map((node) => mesosMasterSequence(node.name) ?? Infinity));
  const leader = infos[0] && infos[0].sequence === lowest ? infos[0].address : undefined;
  return { leader, masters, infos, errors };
}
