// The HTTP face(s) of the simulator: Marathon's REST API, /v2/events, the Mesos master state and the
// `/_sim/` control API. One handler serves every face; the face index decides leader or standby.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basicAuthMatches } from '@baton/marathon';
import { appNotFound, type ApiError, type SimApp, type SimTask } from './cluster.js';
import type { Json } from './normalize.js';
import { appMatches, groupsJson, labelSelector, parseEmbed, taskJson, appJson, type Embed } from './render.js';
import { SimulatorError, type SimulatorApi } from './simulator-api.js';

const MAX_BODY = 256 * 1024 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, readonly body: Json) {
    super(String(body.message));
  }
}

function send(res: ServerResponse, status: number, body: Json | Json[] | string | null, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const payload = body === null ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.statusCode = status;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  if (body !== null && !res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'application/json; qs=2');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, { message: 'Request body too large' }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, { message: 'Invalid JSON', details: [{ path: '/', errors: [(err as Error).message] }] });
  }
}

function authorized(sim: SimulatorApi, req: IncomingMessage): boolean {
  const auth = sim.options.auth;
  if (sim.dcosLogin?.accepts(req.headers.authorization)) return true;
  if (!auth || (auth.username === undefined && auth.token === undefined)) return sim.dcosLogin === undefined;
  const header = req.headers.authorization ?? '';
  if (auth.token !== undefined && header === `token=${auth.token}`) return true;
  if (auth.username !== undefined && basicAuthMatches(header, `${auth.username}:${auth.password ?? ''}`)) return true;
  return false;
}

function challenge(sim: SimulatorApi): string {
  const auth = sim.options.auth ?? {};
  return auth.username !== undefined ? `Basic realm="${auth.realm ?? 'Mesosphere'}"` : 'acsjwt';
}

function clientIp(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

function canonical(id: string): string {
  return '/' + decodeURIComponent(id).split('/').filter(Boolean).join('/');
}

function flag(params: URLSearchParams, name: string): boolean {
  const value = params.get(name);
  return value !== null && value !== 'false' && value !== '0';
}

function apiError(error: ApiError): HttpError {
  return new HttpError(error.status, error.body);
}

/** `/ping` content negotiation: text/plain for none / `*\/*` / text, a JSON string for application/json, else 204. */
export function pingVariant(accept: string | undefined): 'text' | 'json' | 'none' {
  if (!accept || accept.trim() === '') return 'text';
  const ranges = accept
    .split(',')
    .map((part, i) => {
      const [type, ...params] = part.trim().split(';').map((s) => s.trim());
      const q = params.find((p) => p.startsWith('q='));
      return { type: type.toLowerCase(), q: q ? Number(q.slice(2)) : 1, i };
    })
    .filter((r) => r.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const r of ranges) {
    if (r.type === 'text/plain' || r.type === 'text/*' || r.type === '*/*') return 'text';
    if (r.type === 'application/json' || r.type === 'application/*') return 'json';
  }
  return 'none';
}

export function handleRequest(sim: SimulatorApi, face: number, req: IncomingMessage, res: ServerResponse): void {
  route(sim, face, req, res).catch((err: unknown) => {
    if (err instanceof HttpError) send(res, err.status, err.body);
    else if (err instanceof SimulatorError) send(res, err.status, err.body ?? { message: err.message });
    else {
      sim.logger.error({ err: (err as Error).message, url: req.url }, 'request failed');
      send(res, 500, { message: (err as Error).message });
    }
  });
}

async function route(sim: SimulatorApi, face: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim.invalid');
  const path = url.pathname;
  const method = req.method ?? 'GET';

  if (path.startsWith('/_sim/')) return control(sim, req, res, path, method);
  if (path === '/master/state' || path === '/master/state.json' || path === '/state.json' || path === '/state') {
    return send(res, 200, sim.masterState());
  }

  if (path === '/acs/api/v1/auth/login' && sim.dcosLogin) {
    if (method !== 'POST') return send(res, 405, { message: 'POST a service login token' });
    const answer = sim.dcosLogin.login(await readJson(req));
    const headers: Record<string, string> = answer.token ? { 'Set-Cookie': `dcos-acs-auth-cookie=${answer.token}; Path=/; HttpOnly` } : {};
    return send(res, answer.status, answer.body as Json, headers);
  }
  if (!authorized(sim, req)) {
    return send(res, 401, { message: 'Invalid username or password.' }, { 'WWW-Authenticate': challenge(sim) });
  }

  const leader = sim.leaderHostPort();
  const headers: Record<string, string> = {};
  if (leader) headers['X-Marathon-Leader'] = `http://${leader}`;
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);

  if (path === '/v2/leader') {
    if (method === 'DELETE') {
      sim.setLeader(null);
      return send(res, 200, { message: 'Leadership abdicated' });
    }
    return leader ? send(res, 200, { leader }) : send(res, 404, { message: 'There is no leader' });
  }
  if (path === '/v2/info') return send(res, 200, infoJson(sim, face));

  if (sim.leader !== face) {
    if (!leader) return send(res, 502, { message: 'Could not determine the current leader' });
    if (path === '/v2/events') {
      res.setHeader('Location', `http://${leader}/v2/events${url.search}`);
      return send(res, 302, null);
    }
    // Standbys forward everything else to the leader; in-process, that is serving it as the leader would.
    res.setHeader('X-Marathon-Via', `1.1 ${sim.faceHostPort(face)}`);
  }

  await applyFault(sim, req, res, path, method);
  if (res.headersSent) return;

  if (path === '/ping') {
    const variant = pingVariant(req.headers.accept);
    if (variant === 'text') return send(res, 200, 'pong', { 'Content-Type': 'text/plain;charset=utf-8' });
    if (variant === 'json') return send(res, 200, '"pong"', { 'Content-Type': 'application/json' });
    return send(res, 204, null);
  }
  if (path === '/v2/events') return events(sim, req, res, url, method);
  if (path === '/v2/apps' || path === '/v2/apps/') return appsCollection(sim, req, res, url, method);
  if (path.startsWith('/v2/apps/')) return appResource(sim, req, res, url, method);
  if (path === '/v2/tasks' && method === 'GET') return send(res, 200, { tasks: filterTasks(sim, url) });
  if (path === '/v2/tasks/delete' && method === 'POST') return deleteTasks(sim, req, res, url);
  if (path === '/v2/deployments' && method === 'GET') return send(res, 200, deploymentsJson(sim));
  if (path === '/v2/groups' || path === '/v2/groups/') return send(res, 200, groupsJson(sim.cluster, url.searchParams.getAll('embed').some((e) => e.endsWith('apps'))));
  return send(res, 404, { message: `Resource ${path} not found` });
}

async function applyFault(sim: SimulatorApi, req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
  const fault = sim.currentFault;
  if (fault.status === undefined && !fault.truncate && !fault.delayMs) return;
  const prefixes = fault.paths ?? ['/v2/apps'];
  if (!prefixes.some((p) => path.startsWith(p))) return;
  if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
  if (fault.status !== undefined) return send(res, fault.status, { message: `Simulated fault: HTTP ${fault.status}` });
  if (fault.truncate && method === 'GET') {
    // Render what the request would get, then cut it in half.
    const capture = { body: '' };
    const fake = { headersSent: false, statusCode: 200, setHeader() {}, hasHeader: () => true, getHeader: () => undefined, end: (payload: string) => { capture.body = payload; fake.headersSent = true; } };
    const fakeRes = fake as unknown as ServerResponse;
    if (path.startsWith('/v2/apps/')) await appResource(sim, req, fakeRes, new URL(req.url ?? '/', 'http://sim.invalid'), method);
    else if (path.startsWith('/v2/apps')) await appsCollection(sim, req, fakeRes, new URL(req.url ?? '/', 'http://sim.invalid'), method);
    else capture.body = JSON.stringify({ tasks: filterTasks(sim, new URL(req.url ?? '/', 'http://sim.invalid')) });
    const half = capture.body.slice(0, Math.floor(capture.body.length / 2));
    return send(res, 200, half, { 'Content-Type': 'application/json' });
  }
}

function events(sim: SimulatorApi, req: IncomingMessage, res: ServerResponse, url: URL, method: string): void {
  // Jetty's EventSourceServlet: only an Accept value exactly equal to text/event-stream opens a stream.
  const accepts = (req.headers.accept ?? '').split(',').map((s) => s.trim());
  const exact = req.headers.accept !== undefined && (req.headers.accept === 'text/event-stream' || accepts.includes('text/event-stream') && accepts.length === 1);
  if (method !== 'GET' || !exact) {
    return send(res, 405, 'HTTP method GET is not supported by this URL', { 'Content-Type': 'text/html;charset=iso-8859-1' });
  }
  const types = url.searchParams.getAll('event_type').flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
  const leader = sim.leaderHostPort();
  sim.streams.attach(req, res, types.length > 0 ? new Set(types) : null, leader ? { 'X-Marathon-Leader': `http://${leader}` } : {});
}

function embedOf(url: URL): Embed {
  return parseEmbed(url.searchParams.getAll('embed').flatMap((e) => e.split(',')).map((e) => e.trim()));
}

async function appsCollection(sim: SimulatorApi, req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
  if (method === 'GET') {
    const embed = embedOf(url);
    const filter = { id: url.searchParams.get('id') ?? undefined, cmd: url.searchParams.get('cmd') ?? undefined };
    const label = url.searchParams.get('label');
    const selector = label ? labelSelector(label) : undefined;
    const parts: string[] = [];
    for (const app of sim.cluster.apps.values()) {
      if (appMatches(app, filter, selector)) parts.push(sim.jsonCache.get(sim.cluster, app, embed));
    }
    return send(res, 200, `{"apps":[${parts.join(',')}]}`, { 'Content-Type': 'application/json' });
  }
  if (method === 'POST') {
    const body = await readJson(req);
    const result = sim.cluster.createApp(body, { clientIp: clientIp(req), uri: '/v2/apps' });
    if (!result.ok) throw apiError(result.error);
    const app = result.value;
    return send(res, 201, appJson(sim.cluster, app, { tasks: true, lastTaskFailure: false, readiness: false, taskStats: false }), {
      Location: `${sim.url}/v2/apps${app.id}`,
      'Marathon-Deployment-Id': app.deployment?.id ?? '',
    });
  }
  if (method === 'PUT' || method === 'PATCH') {
    // Bulk update: an array of (partial) app definitions.
    const body = await readJson(req);
    if (!Array.isArray(body)) throw new HttpError(422, { message: 'Object is not valid', details: [{ path: '/', errors: ['error.expected.jsarray'] }] });
    let last: { deploymentId: string; version: string } | undefined;
    for (const item of body) {
      const id = typeof (item as Json)?.id === 'string' ? canonical((item as Json).id as string) : '';
      const result = sim.cluster.updateApp(id, item, { partial: url.searchParams.get('partialUpdate') !== 'false', ctx: { clientIp: clientIp(req), uri: '/v2/apps' } });
      if (!result.ok) throw apiError(result.error);
      last = result.value;
    }
    return send(res, 200, last ? { deploymentId: last.deploymentId, version: last.version } : {});
  }
  return send(res, 405, { message: `HTTP method ${method} is not supported by this URL` });
}

const TASKS_PATH = /^\/v2\/apps(\/.+)\/tasks(?:\/([^/]+))?\/?$/;

async function appResource(sim: SimulatorApi, req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
  const path = url.pathname;
  const tasksMatch = path.match(TASKS_PATH);
  if (tasksMatch) return appTasks(sim, req, res, url, method, canonical(tasksMatch[1]), tasksMatch[2] ? decodeURIComponent(tasksMatch[2]) : undefined);
  const raw = path.slice('/v2/apps'.length);
  if (raw.endsWith('/*') && method === 'GET') {
    const group = canonical(raw.slice(0, -2));
    const apps = [...sim.cluster.apps.values()].filter((a) => a.id.startsWith(group === '/' ? '/' : group + '/'));
    return send(res, 200, { '*': apps.map((a) => appJson(sim.cluster, a, { tasks: true, lastTaskFailure: true, readiness: false, taskStats: false })) });
  }
  if (raw.endsWith('/restart') && method === 'POST') {
    const id = canonical(raw.slice(0, -'/restart'.length));
    const result = sim.cluster.restartApp(id);
    if (!result.ok) throw apiError(result.error);
    return send(res, 200, { deploymentId: result.value.deploymentId, version: result.value.version });
  }
  const id = canonical(raw);
  if (method === 'GET') {
    const app = requireApp(sim, id);
    return send(res, 200, { app: appJson(sim.cluster, app, { tasks: true, lastTaskFailure: true, readiness: false, taskStats: false }) });
  }
  if (method === 'PUT' || method === 'PATCH') {
    const body = await readJson(req);
    const partial = method === 'PATCH' || url.searchParams.get('partialUpdate') !== 'false';
    const result = sim.cluster.updateApp(id, body, { partial, ctx: { clientIp: clientIp(req), uri: path } });
    if (!result.ok) throw apiError(result.error);
    const { deploymentId, version, created } = result.value;
    return send(res, created ? 201 : 200, { deploymentId, version }, { 'Marathon-Deployment-Id': deploymentId });
  }
  if (method === 'DELETE') {
    const result = sim.cluster.deleteApp(id);
    if (!result.ok) throw apiError(result.error);
    return send(res, 200, { ...result.value }, { 'Marathon-Deployment-Id': result.value.deploymentId });
  }
  return send(res, 405, { message: `HTTP method ${method} is not supported by this URL` });
}

function requireApp(sim: SimulatorApi, id: string): SimApp {
  const app = sim.cluster.getApp(id);
  if (!app) throw apiError(appNotFound(id));
  return app;
}

async function appTasks(sim: SimulatorApi, _req: IncomingMessage, res: ServerResponse, url: URL, method: string, appId: string, taskId?: string): Promise<void> {
  const app = requireApp(sim, appId);
  const scale = flag(url.searchParams, 'scale');
  if (method === 'GET') {
    if (taskId === undefined) return send(res, 200, { tasks: [...app.tasks.values()].map((t) => taskJson(sim.cluster, app, t, true)) });
    const task = app.tasks.get(taskId);
    if (!task) return send(res, 404, { message: `Task '${taskId}' does not exist` });
    return send(res, 200, { task: taskJson(sim.cluster, app, task, true) });
  }
  if (method !== 'DELETE') return send(res, 405, { message: `HTTP method ${method} is not supported by this URL` });
  let victims: SimTask[];
  if (taskId !== undefined) {
    const task = app.tasks.get(taskId);
    if (!task) return send(res, 404, { message: `Task '${taskId}' does not exist` });
    victims = [task];
  } else {
    const host = url.searchParams.get('host');
    victims = [...app.tasks.values()].filter((t) => !host || t.host === host);
  }
  return killTasks(sim, res, victims, scale, taskId !== undefined);
}

function killTasks(sim: SimulatorApi, res: ServerResponse, victims: SimTask[], scale: boolean, single: boolean): void {
  const rendered = victims.map((t) => taskJson(sim.cluster, sim.cluster.getApp(t.appId)!, t, true));
  for (const task of victims) sim.cluster.killTask(task.id, { scale });
  if (scale) {
    const app = victims.length > 0 ? sim.cluster.getApp(victims[0].appId) : undefined;
    return send(res, 200, { deploymentId: app?.deployment?.id ?? cryptoId(), version: app?.version ?? new Date().toISOString() });
  }
  return send(res, 200, single ? { task: rendered[0] } : { tasks: rendered });
}

function cryptoId(): string {
  return globalThis.crypto.randomUUID();
}

async function deleteTasks(sim: SimulatorApi, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const body = (await readJson(req)) as { ids?: unknown };
  if (!Array.isArray(body.ids)) throw new HttpError(422, { message: 'Object is not valid', details: [{ path: '/ids', errors: ['error.path.missing'] }] });
  const victims = body.ids.map((id) => sim.cluster.getTask(String(id))).filter((t): t is SimTask => t !== undefined);
  return killTasks(sim, res, victims, flag(url.searchParams, 'scale'), false);
}

const STATUS_FILTER: Record<string, string> = {
  running: 'TASK_RUNNING', staging: 'TASK_STAGING', starting: 'TASK_STARTING', killing: 'TASK_KILLING',
};

function filterTasks(sim: SimulatorApi, url: URL): Json[] {
  const wanted = [...url.searchParams.getAll('status'), ...url.searchParams.getAll('status[]')]
    .map((s) => STATUS_FILTER[s.toLowerCase()] ?? s.toUpperCase());
  const out: Json[] = [];
  for (const app of sim.cluster.apps.values()) {
    for (const task of app.tasks.values()) {
      if (wanted.length > 0 && !wanted.includes(task.state)) continue;
      out.push(taskJson(sim.cluster, app, task, true));
    }
  }
  return out;
}

function deploymentsJson(sim: SimulatorApi): Json[] {
  return [...sim.cluster.deployments.values()].map((d) => ({
    id: d.id,
    version: d.version,
    affectedApps: [d.appId],
    affectedPods: [],
    steps: d.plan.steps,
    currentActions: d.plan.steps[d.finalStep].actions.map((a) => ({ action: a.action, app: a.app, readinessCheckResults: [] })),
    currentStep: d.finalStep + 1,
    totalSteps: d.plan.steps.length,
  }));
}

export function infoJson(sim: SimulatorApi, face: number): Json {
  const self = sim.faceHostPort(face);
  const [hostname, port] = [self.slice(0, self.lastIndexOf(':')), Number(self.slice(self.lastIndexOf(':') + 1))];
  const leader = sim.leaderHostPort();
  return {
    name: 'marathon',
    version: '1.11.24',
    buildref: 'baton-sim',
    elected: sim.leader === face,
    leader: leader ?? null,
    frameworkId: sim.cluster.frameworkId,
    marathon_config: {
      access_control_allow_origin: ['*'],
      checkpoint: true,
      decline_offer_duration: 120000,
      default_network_name: 'dcos',
      env_vars_prefix: '',
      executor: '//cmd',
      failover_timeout: 604800,
      features: [],
      framework_name: 'marathon',
      ha: true,
      hostname,
      http_port: port,
      launch_token: 100,
      launch_token_refresh_interval: 30000,
      leader_proxy_connection_timeout_ms: 5000,
      leader_proxy_read_timeout_ms: 10000,
      local_port_max: 20000,
      local_port_min: 10000,
      master: `zk://${sim.options.host}:2181/mesos`,
      max_instances_per_offer: 5,
      mesos_bridge_name: 'mesos-bridge',
      mesos_heartbeat_failure_threshold: 5,
      mesos_heartbeat_interval: 15000,
      mesos_leader_ui_url: `http://${sim.options.host}:5050/`,
      mesos_role: '*',
      mesos_user: 'root',
      min_revive_offers_interval: 5000,
      offer_matching_timeout: 3000,
      on_elected_prepare_timeout: 180000,
      reconciliation_initial_delay: 15000,
      reconciliation_interval: 600000,
      scale_apps_initial_delay: 15000,
      scale_apps_interval: 300000,
      store_cache: true,
      task_launch_confirm_timeout: 300000,
      task_launch_timeout: 300000,
      task_lost_expunge_initial_delay: 300000,
      task_lost_expunge_interval: 30000,
      task_reservation_timeout: 20000,
      webui_url: leader ? `http://${leader}` : null,
    },
    zookeeper_config: {
      zk: `zk://${sim.options.host}:2181/marathon`,
      zk_compression: true,
      zk_compression_threshold: 65536,
      zk_connection_timeout: 10000,
      zk_max_node_size: 1024000,
      zk_max_versions: 50,
      zk_session_timeout: 10000,
      zk_timeout: 10000,
    },
    http_config: { http_port: port, https_port: 8443 },
  };
}

// ---- control API ---------------------------------------------------------------------------------

const TASK_CONTROL = /^\/_sim\/tasks\/([^/]+)\/(health|kill)$/;

async function control(sim: SimulatorApi, req: IncomingMessage, res: ServerResponse, path: string, method: string): Promise<void> {
  if (method === 'GET' && path === '/_sim/state') {
    return send(res, 200, {
      urls: sim.urls, leader: sim.leader, streams: sim.streams.size, stalled: sim.streams.isStalled, fault: sim.currentFault,
      apps: sim.cluster.apps.size, tasks: sim.cluster.taskIndex.size,
    });
  }
  if (method !== 'POST') return send(res, 405, { message: 'control endpoints take POST' });
  const body = (await readJson(req)) as Json;
  const taskMatch = path.match(TASK_CONTROL);
  if (taskMatch) {
    const taskId = decodeURIComponent(taskMatch[1]);
    if (!sim.cluster.getTask(taskId)) return send(res, 404, { message: `Task '${taskId}' does not exist` });
    if (taskMatch[2] === 'health') {
      if (typeof body.healthy !== 'boolean') throw new HttpError(422, { message: 'body must be {"healthy": true|false}' });
      sim.setTaskHealth(taskId, body.healthy);
      return send(res, 200, { ok: true });
    }
    const state = body.state === undefined ? 'TASK_KILLED' : String(body.state);
    const task = sim.killTask(taskId, { state, replace: body.replace !== false });
    return send(res, 200, { ok: true, task: task.id, state });
  }
  switch (path) {
    case '/_sim/streams/stall': sim.stallStreams(); return send(res, 200, { ok: true });
    case '/_sim/streams/resume': sim.resumeStreams(); return send(res, 200, { ok: true });
    case '/_sim/streams/drop': sim.dropStreams(); return send(res, 200, { ok: true });
    case '/_sim/streams/order': {
      if (typeof body.shuffle !== 'boolean') throw new HttpError(422, { message: 'body must be {"shuffle": true|false}' });
      sim.shuffleEvents(body.shuffle);
      return send(res, 200, { ok: true, shuffle: body.shuffle });
    }
    case '/_sim/leader': {
      if (!('face' in body) || (body.face !== null && typeof body.face !== 'number')) {
        throw new HttpError(422, { message: 'body must be {"face": <index> | null}' });
      }
      sim.setLeader(body.face as number | null);
      return send(res, 200, { ok: true, leader: sim.leader });
    }
    case '/_sim/faults': {
      const fault: Json = {};
      if (body.status !== undefined) {
        if (typeof body.status !== 'number' || body.status < 100 || body.status > 599) throw new HttpError(422, { message: 'status must be an HTTP status code' });
        fault.status = body.status;
      }
      if (body.truncate !== undefined) fault.truncate = body.truncate === true;
      if (body.delayMs !== undefined) fault.delayMs = Number(body.delayMs);
      if (Array.isArray(body.paths)) fault.paths = body.paths.map(String);
      sim.setFault(fault);
      return send(res, 200, { ok: true, fault });
    }
    case '/_sim/apps/load': {
      const defs = Array.isArray(body) ? body : Array.isArray(body.apps) ? body.apps : undefined;
      if (!defs) throw new HttpError(422, { message: 'body must be an array of app definitions or {"apps": [...]}' });
      return send(res, 200, sim.loadApps(defs));
    }
    case '/_sim/frameworks': {
      if (typeof body.name !== 'string') throw new HttpError(422, { message: 'body must be {"name": string, "tasks": [...]}' });
      const id = sim.addFramework(body as never);
      return send(res, 200, { ok: true, id });
    }
    default:
      return send(res, 404, { message: `Unknown control endpoint ${path}` });
  }
}
