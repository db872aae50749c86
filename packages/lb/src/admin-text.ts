// Text renditions of a RouteTable for the admin endpoints (marathon-lb's /_haproxy_get* paths). Pure.

import type { Backend, HttpRule, RouteTable, Server } from './route-table.js';

function ruleText(rule: HttpRule): string {
  const paths = rule.paths.length > 0 ? ` path_beg${rule.caseInsensitivePath ? ' -i' : ''} ${rule.paths.join(' ')}` : '';
  return `use_backend ${rule.backend} if host ${rule.host}${paths}   # weight ${rule.weight}`;
}

function serverText(server: Server): string {
  const parts = [`server ${server.name} ${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`];
  parts.push(`id ${server.id}`);
  if (server.draining) parts.push('draining');
  if (server.checkPort !== undefined) parts.push(`check-port ${server.checkPort}`);
  parts.push(`cookie ${server.cookie}`);
  return parts.join(' ');
}

function backendText(backend: Backend, listening: string[]): string[] {
  const lines = [`backend ${backend.name}`];
  const app = backend.memberAppIds && backend.memberAppIds.length > 1 ? `${backend.appId} (${backend.memberAppIds.join(', ')})` : backend.appId;
  lines.push(`  app ${app} port-index ${backend.portIndex}${backend.groups ? ` groups ${backend.groups.join(',') || '-'}` : ''}`);
  lines.push(`  bind ${backend.bindAddr}:${backend.servicePort}${backend.bindOptions ? ` ${backend.bindOptions}` : ''}${listening.length > 0 ? '' : '   # no listener'}`);
  lines.push(`  mode ${backend.mode}`);
  lines.push(`  balance ${backend.balance}`);
  if (backend.sticky) lines.push('  cookie mesosphere_server_id insert indirect nocache');
  if (backend.vhosts.length > 0) lines.push(`  vhost ${backend.vhosts.join(',')}`);
  if (backend.paths.length > 0) lines.push(`  path ${backend.caseInsensitivePath ? '-i ' : ''}${backend.paths.join(' ')}`);
  if (backend.weight !== 0) lines.push(`  weight ${backend.weight}`);
  if (backend.redirectToHttps) lines.push('  redirect-to-https');
  if (backend.useHsts) lines.push('  hsts max-age=15768000');
  if (backend.auth) lines.push(`  auth realm ${JSON.stringify(backend.auth.realm)} user ${backend.auth.user}`);
  if (backend.proxyPassPath !== undefined) lines.push(`  proxypass-path ${backend.proxyPassPath}`);
  if (backend.revProxyPath !== undefined) lines.push(`  revproxy-path ${backend.revProxyPath}`);
  if (backend.redirectRootTo !== undefined) lines.push(`  redirect / ${backend.redirectRootTo}`);
  if (backend.allowedNetworks.length > 0) lines.push(`  allow ${backend.allowedNetworks.join(' ')}`);
  if (backend.sslCert !== undefined) lines.push(`  ssl crt ${backend.sslCert}`);
  if (backend.deploymentGroup !== undefined) lines.push(`  deployment-group ${backend.deploymentGroup}`);
  const check = backend.healthCheck;
  if (check) {
    lines.push(
      `  check ${check.protocol}${check.path ? ` ${check.path}` : ''} inter ${check.intervalSeconds}s timeout ${check.timeoutSeconds}s fall ${check.maxConsecutiveFailures + 1}${check.port !== undefined ? ` port ${check.port}` : ''}`,
    );
  }
  if (backend.servers.length === 0) lines.push('  # no server: no rules and no listener (as marathon-lb)');
  for (const server of backend.servers) lines.push(`  ${serverText(server)}`);
  return lines;
}

/**
 * `/_haproxy_getconfig`: the live route table as readable text, in HAProxy-like sections — the
 * :80/:443 rules in evaluation order, the :9091 app-id map, every service-port listener, every backend
 * with its options and servers, and the problems found while building.
 */
export function renderConfig(table: RouteTable): string {
  const out: string[] = [`# baton-lb route table, Marathon state version ${table.stateVersion}`, ''];
  out.push(`frontend marathon_http_in / marathon_https_in   # ${table.httpRules.length} rules, first match wins`);
  for (const rule of table.httpRules) out.push(`  ${ruleText(rule)}`);
  out.push('');
  out.push(`frontend marathon_http_appid_in   # ${table.appIdIndex.size} apps, by X-Marathon-App-Id`);
  for (const [appId, backend] of table.appIdIndex) out.push(`  use_backend ${backend} if app-id ${appId}`);
  out.push('');
  const listeners = table.listeners ?? [...table.servicePorts].map(([port, backend]) => ({ port, bindAddr: '*', backend }));
  const listenersOf = new Map<string, string[]>();
  out.push(`# service-port listeners (${listeners.length})`);
  for (const listener of listeners) {
    const backend = table.backends.get(listener.backend);
    out.push(`frontend ${listener.backend}   bind ${listener.bindAddr}:${listener.port} mode ${backend?.mode ?? '?'}`);
    const list = listenersOf.get(listener.backend) ?? [];
    list.push(`${listener.bindAddr}:${listener.port}`);
    listenersOf.set(listener.backend, list);
  }
  out.push('');
  for (const backend of table.backends.values()) {
    out.push(...backendText(backend, listenersOf.get(backend.name) ?? []), '');
  }
  out.push(`# problems (${table.problems.length})`);
  for (const problem of table.problems) {
    const where = `${problem.appId}${problem.portIndex !== undefined ? ` port ${problem.portIndex}` : ''}`;
    out.push(`# ${problem.severity ?? 'error'} ${problem.kind} ${where}${problem.label ? ` ${problem.label}` : ''}: ${problem.message}`);
  }
  return out.join('\n') + '\n';
}

/**
 * `/_haproxy_getvhostmap`: `host backend` lines, like marathon-lb's domain2backend.map — for each
 * host, the backend that serves its root (rules without a path), wildcards included, in rule order.
 */
export function renderVhostMap(table: RouteTable): string {
  const seen = new Set<string>();
  let out = '';
  for (const rule of table.httpRules) {
    if (rule.paths.length > 0 || seen.has(rule.host)) continue;
    seen.add(rule.host);
    out += `${rule.host} ${rule.backend}\n`;
  }
  return out;
}

/** `/_haproxy_getappmap`: `appid backend` lines, like marathon-lb's app2backend.map. */
export function renderAppMap(table: RouteTable): string {
  let out = '';
  for (const [appId, backend] of table.appIdIndex) out += `${appId} ${backend}\n`;
  return out;
}

/** A JSON-ready plain object of the table (Maps as objects), e.g. for `/_baton/status`. */
export function routeTableToJSON(table: RouteTable): Record<string, unknown> {
  return {
    stateVersion: table.stateVersion,
    listeners: table.listeners ?? [...table.servicePorts].map(([port, backend]) => ({ port, bindAddr: '*', backend })),
    httpRules: table.httpRules,
    appIdIndex: Object.fromEntries(table.appIdIndex),
    backends: [...table.backends.values()].map((backend) => ({
      ...backend,
      auth: backend.auth ? { realm: backend.auth.realm, user: backend.auth.user } : undefined,
    })),
    certificateFiles: table.certificateFiles,
    problems: table.problems,
  };
}
