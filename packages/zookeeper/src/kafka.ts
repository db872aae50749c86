// Kafka broker registrations in ZooKeeper (pure): EPHEMERAL `<chroot>/brokers/ids/<id>` written by
// `BrokerIdZNode.encode` — versions 1–5; `endpoints` (`LISTENER://host:port`) since 2, the listener
// map since 4, `features` in 5; `host`/`port` are the first PLAINTEXT endpoint, else null/-1.
import { joinZkPath } from './url.js';
import { hostPort, isObject, isPort, parseJsonNode, type NodeError, type ParseResult, type ZkNode } from './parse-result.js';

export interface KafkaEndpoint {
  listener: string;
  host: string;
  port: number;
  /** Security protocol from `listener_security_protocol_map` (v4+), else the listener name. */
  securityProtocol: string;
}

export interface KafkaBroker {
  id: number;
  /** The chosen endpoint's host and port. */
  host: string;
  port: number;
  /** `host:port` for `bootstrap.servers` / `KAFKA_BROKERS_LIST`. */
  address: string;
  /** Listener the address was taken from (`PLAINTEXT` also for the legacy host/port fields). */
  listener: string;
  endpoints: KafkaEndpoint[];
  version?: number;
  rack?: string;
  /** Registration time, epoch ms. */
  timestamp?: number;
  jmxPort?: number;
}

export interface KafkaBrokerOptions {
  /**
   * Listener to take the address from (e.g. `INTERNAL`, `SSL`). Default: the PLAINTEXT listener,
   * else the first endpoint, else the legacy `host`/`port` fields.
   */
  listener?: string;
}

export interface KafkaBrokers {
  /** Brokers by id. */
  brokers: KafkaBroker[];
  /** `host:port` of each broker, by id. */
  addresses: string[];
  /** Registrations that could not be used (skipped). */
  errors: NodeError[];
  /** False when `<chroot>/brokers/ids` does not exist (wrong chroot, or Kafka never started). */
  registryFound: boolean;
}

/** Parses `LISTENER://host:port` (`[v6]` hosts allowed). */
export function parseKafkaEndpoint(text: string, protocols: Record<string, string> = {}): ParseResult<KafkaEndpoint> {
  const match = /^([A-Za-z0-9_.-]+):\/\/(\[[^\]]+\]|[^:/]*):(\d{1,5})$/.exec(text);
  if (!match) return { ok: false, error: `endpoint ${JSON.stringify(text)} is not LISTENER://host:port` };
  const [, listener, rawHost, portText] = match;
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const port = Number(portText);
  if (host === '') return { ok: false, error: `endpoint ${JSON.stringify(text)} has no host (a bind-all listener is not advertisable)` };
  if (!isPort(port)) return { ok: false, error: `endpoint ${JSON.stringify(text)} has a bad port` };
  return { ok: true, value: { listener, host, port, securityProtocol: protocols[listener] ?? listener } };
}

/** Parses `<chroot>/brokers/ids/<id>` data into a broker with the address to use. */
export function parseKafkaBrokerRegistration(
  id: string | number,
  data: Buffer | string,
  options: KafkaBrokerOptions = {},
): ParseResult<KafkaBroker> {
  const what = `broker ${id}`;
  const brokerId = typeof id === 'number' ? id : /^\d+$/.test(id) ? Number(id) : NaN;
  if (!Number.isSafeInteger(brokerId)) return { ok: false, error: `${what}: broker id is not a number` };
  const json = parseJsonNode(data, what);
  if (!json.ok) return json;
  const reg = json.value;

  const protocols: Record<string, string> = {};
  if (isObject(reg.listener_security_protocol_map)) {
    for (const [name, protocol] of Object.entries(reg.listener_security_protocol_map)) {
      if (typeof protocol === 'string') protocols[name] = protocol;
    }
  }
  const endpoints: KafkaEndpoint[] = [];
  const endpointErrors: string[] = [];
  if (Array.isArray(reg.endpoints)) {
    for (const text of reg.endpoints) {
      if (typeof text !== 'string') continue;
      const parsed = parseKafkaEndpoint(text, protocols);
      if (parsed.ok) endpoints.push(parsed.value);
      else endpointErrors.push(parsed.error);
    }
  }
  const legacy =
    typeof reg.host === 'string' && reg.host !== '' && isPort(reg.port)
      ? { listener: 'PLAINTEXT', host: reg.host, port: reg.port, securityProtocol: 'PLAINTEXT' }
      : undefined;

  let chosen: KafkaEndpoint | undefined;
  if (options.listener !== undefined) {
    const wanted = options.listener.toUpperCase();
    chosen = endpoints.find((e) => e.listener.toUpperCase() === wanted);
    if (!chosen && endpoints.length === 0 && wanted === 'PLAINTEXT') chosen = legacy;
    if (!chosen) {
      const known = endpoints.map((e) => e.listener).join(', ') || (legacy ? 'PLAINTEXT (host/port)' : 'none');
      return { ok: false, error: `${what}: no ${options.listener} listener (has ${known})` };
    }
  } else {
    chosen = endpoints.find((e) => e.listener === 'PLAINTEXT') ?? endpoints[0] ?? legacy;
  }
  if (!chosen) {
    const why = endpointErrors.length > 0 ? endpointErrors.join('; ') : 'no endpoints and no host/port';
    return { ok: false, error: `${what}: no usable address (${why})` };
  }

  const broker: KafkaBroker = {
    id: brokerId,
    host: chosen.host,
    port: chosen.port,
    address: hostPort(chosen.host, chosen.port),
    listener: chosen.listener,
    endpoints: endpoints.length > 0 ? endpoints : legacy ? [legacy] : [],
  };
  if (typeof reg.version === 'number') broker.version = reg.version;
  if (typeof reg.rack === 'string') broker.rack = reg.rack;
  const timestamp = typeof reg.timestamp === 'string' ? Number(reg.timestamp) : reg.timestamp;
  if (typeof timestamp === 'number' && Number.isFinite(timestamp)) broker.timestamp = timestamp;
  if (typeof reg.jmx_port === 'number' && reg.jmx_port > 0) broker.jmxPort = reg.jmx_port;
  return { ok: true, value: broker };
}

/** Brokers from the children of `<chroot>/brokers/ids` (`undefined` when that znode is missing). */
export function kafkaBrokersFromNodes(nodes: readonly ZkNode[] | undefined, options: KafkaBrokerOptions = {}): KafkaBrokers {
  const brokers: KafkaBroker[] = [];
  const errors: NodeError[] = [];
  for (const { name, data } of nodes ?? []) {
    const parsed = parseKafkaBrokerRegistration(name, data, options);
    if (parsed.ok) brokers.push(parsed.value);
    else errors.push({ node: name, error: parsed.error });
  }
  brokers.sort((a, b) => a.id - b.id);
  return { brokers, addresses: brokers.map((b) => b.address), errors, registryFound: nodes !== undefined };
}

/** Path of the broker registry under a chroot: `/dcos-service-kafka` → `/dcos-service-kafka/brokers/ids`. */
export function kafkaBrokerIdsPath(chroot: string): string {
  return joinZkPath(chroot, 'brokers', 'ids');
}
