// marathon-lb's `HAPROXY_*` app labels → typed per-port settings. Pure.
//
// Unlike marathon-lb, a malformed label never aborts anything beyond the app port it belongs to: the
// port is reported (a RouteProblem naming app, port and label) and left out; the app's other ports and
// every other app keep routing. App-level labels that are malformed are reported and ignored.

import { isIP } from 'node:net';
import type { Balance, BasicAuth, ProxyMode, RouteProblem } from './route-table.js';
import { parseBindOptions } from './bind-options.js';

/** The settings of one app service port n, from the `HAPROXY_{n}_*` labels (defaults applied). */
export interface PortLabels {
  index: number;
  /** HAPROXY_{n}_GROUP, when set (it replaces HAPROXY_GROUP for this port). */
  groups?: string[];
  vhosts: string[];
  paths: string[];
  caseInsensitivePath: boolean;
  /** Explicit HAPROXY_{n}_MODE; the effective mode also depends on vhosts and health checks (see routes). */
  mode?: ProxyMode;
  /** HAPROXY_{n}_PORT: the bind port (and the backend name), instead of the service port. */
  port?: number;
  bindAddr: string;
  bindOptions?: string;
  balance: Balance;
  sticky: boolean;
  redirectToHttps: boolean;
  useHsts: boolean;
  sslCert?: string;
  auth?: BasicAuth;
  /** HAPROXY_{n}_BACKEND_WEIGHT, raised to 1 when a path is set and the weight is 0. */
  weight: number;
  proxyPassPath?: string;
  revProxyPath?: string;
  redirectRootTo?: string;
  allowedNetworks: string[];
  healthCheckPortIndex?: number;
  enabled: boolean;
  /** Labels of this port that are malformed; when not empty the port is not served. */
  badLabels: string[];
}

/** HAPROXY_DEPLOYMENT_* labels (marathon-lb's zdd). */
export interface DeploymentLabels {
  group?: string;
  altPort?: number;
  colour?: string;
  startedAt?: string;
  targetInstances?: number;
  newInstances?: number;
}

export interface AppLabels {
  /** HAPROXY_GROUP, split on commas (empty when unset). */
  groups: string[];
  deployment: DeploymentLabels;
  /** HAPROXY_APP_ID (zdd's original app id; informational for the LB). */
  appIdLabel?: string;
  /** One entry per service port (see `badLabels`: a port with a malformed label is not served). */
  ports: PortLabels[];
  problems: RouteProblem[];
}

export interface LabelOptions {
  /** marathon-lb's --strict-mode: a port is served only with HAPROXY_{n}_ENABLED=true. */
  strictMode: boolean;
}

const TRUE_VALUES = new Set(['true', 't', 'yes', 'y']);

/** marathon-lb's boolean: true for `true|t|yes|y` (any case), false for anything else. */
export function parseBool(value: string): boolean {
  return TRUE_VALUES.has(value.trim().toLowerCase());
}

const INTEGER = /^\s*[+-]?\d+\s*$/;

/** Python's int(): optional sign, digits, surrounding blanks. */
export function parseInteger(value: string): number | undefined {
  return INTEGER.test(value) ? Number.parseInt(value, 10) : undefined;
}

/**
 * `HAPROXY_GROUP` / `HAPROXY_{n}_GROUP` exactly as marathon-lb reads them: `value.split(',')`, nothing
 * trimmed or dropped, so `"internal, external"` names `internal` and ` external` (routes.ts reports
 * the likely typo).
 */
export function splitGroups(value: string): string[] {
  return value.split(',');
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
}

const HOSTNAME = /^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.?$/;

/** A vhost as baton accepts it: a DNS name (lower-cased), optionally `*.` + suffix. */
export function isValidVhost(host: string): boolean {
  return host.length <= 253 && HOSTNAME.test(host);
}

/** `10.0.0.0/8`, `::1/128` or a bare address. Undefined when valid, else what is wrong. */
export function cidrError(cidr: string): string | undefined {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const family = isIP(address);
  if (family === 0) return `${JSON.stringify(address)} is not an IP address`;
  if (slash < 0) return undefined;
  const bits = cidr.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return `prefix length ${JSON.stringify(bits)} is not 0..${max}`;
  return undefined;
}

/**
 * Per-port template overrides of marathon-lb (`HAPROXY_{n}_<TEMPLATE>`) and its registered-but-ignored
 * `MAP_*` labels: accepted, reported once per app as not applicable.
 */
const TEMPLATE_SUFFIX = new RegExp(
  '^(' +
    [
      'FRONTEND_HEAD',
      'BACKEND_HEAD',
      'USERLIST_HEAD',
      'BACKEND_REDIRECT_HTTP_TO_HTTPS(_WITH_PATH)?',
      'HTTPS?_FRONTEND_ACL\\w*',
      'HTTPS?_FRONTEND_ROUTING_ONLY\\w*',
      'HTTP_FRONTEND_APPID_ACL',
      'BACKEND_(HTTP|HSTS|STICKY)_OPTIONS',
      'BACKEND_(HTTP|TCP)_HEALTHCHECK_OPTIONS',
      'BACKEND_SERVER_(HTTP_HEALTHCHECK_|TCP_HEALTHCHECK_)?OPTIONS',
      'HTTP_BACKEND_(PROXYPASS|REVPROXY)_GLUE',
      'FRONTEND_BACKEND_GLUE',
      '(HTTP|TCP)_BACKEND_NETWORK_ALLOWED_ACL',
      'MAP_\\w+',
    ].join('|') +
    ')$',
);

/** Global marathon-lb templates (env/file only there); seen as app labels they do nothing either. */
const GLOBAL_TEMPLATE = /^HAPROXY_(HEAD|HTTPS?_FRONTEND_HEAD|HTTP_FRONTEND_APPID_HEAD|HTTPS_GROUPED_\w+|\w*_ACL_ALLOW_DENY|GLOBAL_DEFAULT_OPTIONS)$/;

const PORT_LABEL = /^HAPROXY_(\d+)_(.+)$/;

const APP_LABELS = new Set([
  'HAPROXY_GROUP',
  'HAPROXY_APP_ID',
  'HAPROXY_DEPLOYMENT_GROUP',
  'HAPROXY_DEPLOYMENT_ALT_PORT',
  'HAPROXY_DEPLOYMENT_COLOUR',
  'HAPROXY_DEPLOYMENT_STARTED_AT',
  'HAPROXY_DEPLOYMENT_TARGET_INSTANCES',
  'HAPROXY_DEPLOYMENT_NEW_INSTANCES',
]);

const PORT_SUFFIXES = new Set([
  'GROUP',
  'VHOST',
  'PATH',
  'MODE',
  'PORT',
  'BIND_ADDR',
  'BIND_OPTIONS',
  'BALANCE',
  'STICKY',
  'REDIRECT_TO_HTTPS',
  'USE_HSTS',
  'SSL_CERT',
  'AUTH',
  'BACKEND_WEIGHT',
  'HTTP_BACKEND_PROXYPASS_PATH',
  'HTTP_BACKEND_REVPROXY_PATH',
  'HTTP_BACKEND_REDIR',
  'BACKEND_NETWORK_ALLOWED_ACL',
  'BACKEND_HEALTHCHECK_PORT_INDEX',
  'ENABLED',
]);

export const NOT_APPLICABLE_MESSAGE = 'not applicable: baton has no HAProxy templates';

/**
 * Parses every `HAPROXY_*` label of an app with `portCount` service ports. Never throws; what is
 * wrong is in `problems` (errors drop only their port; warnings drop nothing).
 */
export function parseAppLabels(
  appId: string,
  labels: Readonly<Record<string, string>>,
  portCount: number,
  options: LabelOptions,
): AppLabels {
  const problems: RouteProblem[] = [];
  const perPort = new Map<number, Map<string, string>>();
  const templateLabels: string[] = [];
  const deployment: DeploymentLabels = {};
  let groups: string[] = [];
  let appIdLabel: string | undefined;

  const warn = (label: string, kind: string, message: string, portIndex?: number): void => {
    const problem: RouteProblem = { appId, label, kind, message, severity: 'warning' };
    if (portIndex !== undefined) problem.portIndex = portIndex;
    problems.push(problem);
  };
  const deploymentInteger = (label: string, value: string): number | undefined => {
    const parsed = parseInteger(value);
    if (parsed === undefined) warn(label, 'bad-label', `${label}=${JSON.stringify(value)} is not an integer; ignored`);
    return parsed;
  };

  for (const label of Object.keys(labels)) {
    if (!label.startsWith('HAPROXY_')) continue;
    const value = labels[label];
    const indexed = PORT_LABEL.exec(label);
    if (indexed) {
      const index = Number(indexed[1]);
      const suffix = indexed[2];
      if (TEMPLATE_SUFFIX.test(suffix)) {
        templateLabels.push(label);
      } else if (!PORT_SUFFIXES.has(suffix)) {
        warn(label, 'unknown-label', `${label} is not a marathon-lb label; ignored`, index);
      } else if (index >= portCount) {
        warn(label, 'unused-label', `${label}: the app has no service port ${index} (it has ${portCount}); ignored`, index);
      } else {
        let bucket = perPort.get(index);
        if (!bucket) perPort.set(index, (bucket = new Map()));
        bucket.set(suffix, value);
      }
      continue;
    }
    switch (label) {
      case 'HAPROXY_GROUP':
        groups = splitGroups(value);
        break;
      case 'HAPROXY_APP_ID':
        appIdLabel = value;
        break;
      case 'HAPROXY_DEPLOYMENT_GROUP':
        if (value.trim() !== '') deployment.group = value.trim();
        break;
      case 'HAPROXY_DEPLOYMENT_COLOUR':
        deployment.colour = value;
        break;
      case 'HAPROXY_DEPLOYMENT_STARTED_AT':
        deployment.startedAt = value;
        break;
      case 'HAPROXY_DEPLOYMENT_ALT_PORT':
        deployment.altPort = deploymentInteger(label, value);
        break;
      case 'HAPROXY_DEPLOYMENT_TARGET_INSTANCES':
        deployment.targetInstances = deploymentInteger(label, value);
        break;
      case 'HAPROXY_DEPLOYMENT_NEW_INSTANCES':
        deployment.newInstances = deploymentInteger(label, value);
        break;
      default:
        if (GLOBAL_TEMPLATE.test(label)) templateLabels.push(label);
        else if (!APP_LABELS.has(label)) warn(label, 'unknown-label', `${label} is not a marathon-lb label; ignored`);
    }
  }

  if (templateLabels.length > 0) {
    templateLabels.sort();
    problems.push({
      appId,
      label: templateLabels[0],
      kind: 'template-label',
      message: `${templateLabels.join(', ')}: ${NOT_APPLICABLE_MESSAGE}`,
      severity: 'warning',
    });
  }

  const ports: PortLabels[] = [];
  for (let index = 0; index < portCount; index++) {
    ports.push(parsePortLabels(appId, index, perPort.get(index) ?? new Map(), options, problems));
  }
  const result: AppLabels = { groups, deployment, ports, problems };
  if (appIdLabel !== undefined) result.appIdLabel = appIdLabel;
  return result;
}

function parsePortLabels(
  appId: string,
  index: number,
  raw: Map<string, string>,
  options: LabelOptions,
  problems: RouteProblem[],
): PortLabels {
  const badLabels: string[] = [];
  const fail = (suffix: string, message: string): void => {
    const label = `HAPROXY_${index}_${suffix}`;
    badLabels.push(label);
    problems.push({ appId, portIndex: index, label, kind: 'bad-label', message: `${label}: ${message}`, severity: 'error' });
  };
  const warn = (suffix: string, kind: string, message: string): void => {
    const label = `HAPROXY_${index}_${suffix}`;
    problems.push({ appId, portIndex: index, label, kind, message: `${label}: ${message}`, severity: 'warning' });
  };
  const text = (suffix: string): string | undefined => {
    const value = raw.get(suffix);
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const bool = (suffix: string, fallback: boolean): boolean => {
    const value = raw.get(suffix);
    return value === undefined ? fallback : parseBool(value);
  };
  const integer = (suffix: string): number | undefined => {
    const value = raw.get(suffix);
    if (value === undefined) return undefined;
    const parsed = parseInteger(value);
    if (parsed === undefined) fail(suffix, `${JSON.stringify(value)} is not an integer`);
    return parsed;
  };

  const port: PortLabels = {
    index,
    vhosts: [],
    paths: [],
    caseInsensitivePath: false,
    bindAddr: text('BIND_ADDR') ?? '*',
    balance: 'roundrobin',
    sticky: bool('STICKY', false),
    redirectToHttps: bool('REDIRECT_TO_HTTPS', false),
    useHsts: bool('USE_HSTS', false),
    weight: 0,
    allowedNetworks: [],
    enabled: bool('ENABLED', !options.strictMode),
    badLabels,
  };

  const group = raw.get('GROUP');
  if (group !== undefined) port.groups = splitGroups(group);

  const vhost = raw.get('VHOST');
  if (vhost !== undefined) {
    port.vhosts = splitList(vhost.toLowerCase());
    const bad = port.vhosts.filter((host) => !isValidVhost(host));
    if (bad.length > 0) fail('VHOST', `${bad.map((h) => JSON.stringify(h)).join(', ')} is not a host name (or *.suffix)`);
  }

  const mode = raw.get('MODE');
  if (mode !== undefined) {
    const m = mode.trim().toLowerCase();
    if (m === 'http' || m === 'tcp') port.mode = m;
    else fail('MODE', `${JSON.stringify(mode)} is not tcp or http`);
  }

  const bindPort = integer('PORT');
  if (bindPort !== undefined) {
    if (bindPort < 1 || bindPort > 65535) fail('PORT', `${bindPort} is not a port (1..65535)`);
    else port.port = bindPort;
  }

  const bindOptions = text('BIND_OPTIONS');
  if (bindOptions !== undefined) {
    port.bindOptions = bindOptions;
    for (const problem of parseBindOptions(bindOptions).problems) warn('BIND_OPTIONS', 'bind-option', problem);
  }

  const balance = raw.get('BALANCE');
  if (balance !== undefined) {
    const b = balance.trim().toLowerCase();
    if (b === 'roundrobin' || b === 'leastconn' || b === 'source') port.balance = b;
    else fail('BALANCE', `${JSON.stringify(balance)} is not roundrobin, leastconn or source`);
  }

  const sslCert = text('SSL_CERT');
  if (sslCert !== undefined) port.sslCert = sslCert;

  const auth = raw.get('AUTH');
  if (auth !== undefined) {
    const parts = auth.split(':');
    if (parts.length !== 3 || parts.some((part) => part === '')) {
      fail('AUTH', 'must be realm:user:cryptpasswd (exactly three non-empty parts separated by ":")');
    } else {
      port.auth = { realm: parts[0], user: parts[1], passwordHash: parts[2] };
    }
  }

  const weight = integer('BACKEND_WEIGHT');
  if (weight !== undefined) port.weight = weight;

  const path = raw.get('PATH');
  if (path !== undefined) {
    for (const token of path.trim().split(/\s+/)) {
      if (token === '') continue;
      if (token === '-i') port.caseInsensitivePath = true;
      else if (token === '--') continue;
      else if (token.startsWith('-')) fail('PATH', `flag ${JSON.stringify(token)} is not supported (only -i)`);
      else port.paths.push(token);
    }
    if (port.vhosts.length === 0) {
      warn('PATH', 'path-without-vhost', 'has no effect without HAPROXY_' + index + '_VHOST');
      port.paths = [];
      port.caseInsensitivePath = false;
    } else if (port.paths.length > 0 && port.weight === 0) {
      port.weight = 1;
    }
  }

  const proxyPass = text('HTTP_BACKEND_PROXYPASS_PATH');
  if (proxyPass !== undefined) port.proxyPassPath = proxyPass;
  const revProxy = text('HTTP_BACKEND_REVPROXY_PATH');
  if (revProxy !== undefined) port.revProxyPath = revProxy;
  const redirect = text('HTTP_BACKEND_REDIR');
  if (redirect !== undefined) port.redirectRootTo = redirect;

  const acl = raw.get('BACKEND_NETWORK_ALLOWED_ACL');
  if (acl !== undefined) {
    const cidrs = acl.trim().split(/\s+/).filter((c) => c !== '');
    const errors = cidrs.map(cidrError).filter((e): e is string => e !== undefined);
    if (errors.length > 0) fail('BACKEND_NETWORK_ALLOWED_ACL', errors.join('; '));
    else port.allowedNetworks = cidrs;
  }

  const checkIndex = integer('BACKEND_HEALTHCHECK_PORT_INDEX');
  if (checkIndex !== undefined) {
    if (checkIndex < 0) fail('BACKEND_HEALTHCHECK_PORT_INDEX', `${checkIndex} is negative`);
    else port.healthCheckPortIndex = checkIndex;
  }

  return port;
}
