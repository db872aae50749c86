// Shared by the fault tests: bins built and spawned, HTTP and DNS probes, backends run as simulator tasks.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request as httpRequest, Agent } from 'node:http';
import { Resolver } from 'node:dns/promises';
import { basename, join } from 'node:path';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator, type SimulatorOptions } from '@baton/marathon-sim';

export const repoDir = join(import.meta.dirname, '../..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Builds the packages whose dist is missing or older than a source (CI builds first; this is for local runs). */
export function ensureBuilt(...pkgs: string[]): void {
  const stale = pkgs.filter((pkg) => {
    const dist = join(repoDir, 'packages', pkg, 'dist', 'cli.js');
    if (!existsSync(dist)) return true;
    const built = statSync(dist).mtimeMs;
    return ['marathon', 'zookeeper', pkg].some((dep) => newestMtime(join(repoDir, 'packages', dep, 'src')) > built);
  });
  if (stale.length === 0) return;
  const r = spawnSync('npx', ['tsc', '-b', ...stale.map((pkg) => `packages/${pkg}`)], { cwd: repoDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc -b failed:\n${r.stdout}${r.stderr}`);
}

export interface Bin {
  child: ChildProcess;
  stdout(): string;
  /** The last 200 kB of stderr (a noisy process must not grow the test's memory). */
  stderr(): string;
  /** Resolves with the first stdout line matching `pattern`. */
  line(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns `packages/<pkg>/bin/<name>.js`. */
export function startBin(pkg: string, name: string, args: string[]): Bin {
  return spawnBin(join(repoDir, 'packages', pkg, 'bin', `${name}.js`), args);
}

/** Spawns a bin script with Node, from the repository root, with `env` added to this process's. */
export function spawnBin(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Bin {
  const name = basename(script, '.js');
  const child = spawn(process.execPath, [script, ...args], { cwd: repoDir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (err = (err + chunk.toString('utf8')).slice(-200_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })), // after stdio is drained
  );
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (running()) child.kill(signal);
    },
    async line(pattern, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = out.match(pattern);
        if (match) return match;
        if (!running()) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}; stderr:\n${err.slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`${name} did not print ${pattern} within ${timeoutMs} ms; stderr:\n${err.slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async stop() {
      if (running()) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One HTTP request with node:http (so connection errors show as their codes). */
export function http(
  url: string,
  options: { method?: string; headers?: Record<string, string>; agent?: Agent | false; timeoutMs?: number } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 20_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export async function getJson<T = Record<string, unknown>>(url: string, headers?: Record<string, string>): Promise<{ status: number; body: T }> {
  const r = await http(url, { headers });
  return { status: r.status, body: JSON.parse(r.body) as T };
}

export async function getText(url: string): Promise<string> {
  return (await http(url)).body;
}

/** A resolver that asks only the given server. */
export function resolverFor(port: number, host = '127.0.0.1'): Resolver {
  const resolver = new Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([`${host}:${port}`]);
  return resolver;
}

/** A4 lookup that returns [] for NXDOMAIN/NODATA and throws on anything else (timeouts, SERVFAIL). */
export async function lookupA(resolver: Resolver, name: string): Promise<string[]> {
  try {
    return (await resolver.resolve4(name)).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') return [];
    throw err;
  }
}

/** A Prometheus sample value (first line matching `name` exactly, with optional labels). */
export function metric(text: string, name: string, labels = ''): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels} `) || (labels === '' && line.startsWith(`${name} `))) return Number(line.split(' ').pop());
  }
  return undefined;
}

/**
 * A backend for simulator tasks run with `exec`: listens on $HOST:$PORT0 and answers `<task id>`;
 * `/slow?ms=N` answers after N ms; `/pid` answers its pid. On SIGTERM it stops accepting, finishes
 * what is in flight and exits (as a well-behaved service does when Marathon kills it).
 */
export function writeBackendScript(dir: string): string {
  const path = join(dir, 'backend.cjs');
  writeFileSync(
    path,
    `const http = require('node:http');
const id = process.env.MESOS_TASK_ID || 'local';
const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/pid') return res.end(String(process.pid));
  const ms = Number(url.searchParams.get('ms') || 0);
  const reply = () => { res.setHeader('content-type', 'text/plain'); res.end(id); };
  if (url.pathname === '/slow' && ms > 0) setTimeout(reply, ms); else reply();
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT0), process.env.HOST || '127.0.0.1');
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  const idle = setInterval(() => server.closeIdleConnections(), 20);
  setTimeout(() => process.exit(0), 5000).unref();
  idle.unref();
});
`,
  );
  return path;
}

/** A client loop: one request after another on each of `concurrency` keep-alive connections. */
export function requestLoop(url: string, options: { concurrency?: number; agent?: Agent; host?: string } = {}) {
  const agent = options.agent ?? new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 4 });
  const results: { start: number; end: number; status: number; error?: string; body?: string }[] = [];
  let running = true;
  const workers = Array.from({ length: options.concurrency ?? 4 }, async () => {
    while (running) {
      const start = Date.now();
      try {
        const r = await http(url, { agent, timeoutMs: 10_000, headers: options.host ? { host: options.host } : undefined });
        results.push({ start, end: Date.now(), status: r.status, body: r.body });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        results.push({ start, end: Date.now(), status: 0, error: e.code ?? e.message });
      }
    }
  });
  return {
    results,
    failures: () => results.filter((r) => r.status !== 200),
    async stop() {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return results;
    },
  };
}

/**
 * A simulator in exec mode running `/web` (vhost `web.test`, group external) as real backend processes
 * from writeBackendScript, in a fresh temp dir; resolves once the instances are running.
 */
export async function startWebBackends(
  name: string,
  instances: number,
  simOptions: Partial<SimulatorOptions> = {},
  appOptions: Record<string, unknown> = {},
): Promise<{ dir: string; sim: MarathonSimulator }> {
  const dir = mkdtempSync(join(tmpdir(), `baton-faults-${name}-`));
  const script = writeBackendScript(dir);
  const sim = new MarathonSimulator({ heartbeatMs: 200, exec: true, logger: silentLogger(), ...simOptions });
  await sim.start();
  await sim.createApp({
    id: '/web',
    cmd: `${process.execPath} ${script}`,
    instances,
    portDefinitions: [{ port: 0 }],
    labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.test' },
    ...appOptions,
  });
  await sim.waitForRunning('/web', instances);
  return { dir, sim };
}
