// Runs the real SMACK IoT launcher (examples/smack-iot/start.mjs) as a process on free ports, for the
// end-to-end and browser tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { request, Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { descendants, running } from '../../tools/proc-tree.mjs';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER = `${ROOT}examples/smack-iot/start.mjs`;

export interface DemoPorts {
  externalIp: string;
  internalIp: string;
  marathonPort: number;
  dnsPort: number;
  dnsHttpPort: number;
  zkPort: number;
  externalHttpPort: number;
  externalHttpsPort: number;
  externalAdminPort: number;
  externalAppIdPort: number;
  internalHttpPort: number;
  internalHttpsPort: number;
  internalAdminPort: number;
  internalAppIdPort: number;
  webPort: number;
  simulatorPort: number;
  meterPort: number;
}

export interface Demo {
  readonly ports: DemoPorts;
  readonly child: ChildProcess;
  readonly marathonUrl: string;
  readonly dnsServer: string;
  /** The launcher's log directory (also TMPDIR of every task it starts). */
  readonly logDir: string;
  output(): string;
  /** PIDs of the launcher and every process below it (read from /proc). */
  processTree(): number[];
  /** SIGINT, then resolves with the exit code (or signal) once the launcher has exited. */
  interrupt(timeoutMs?: number): Promise<number | string | null>;
}

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Distinct ports free on every given host. */
async function freePorts(count: number, hosts: string[]): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count) {
    const port = await ephemeralPort(hosts[0]);
    if (out.includes(port)) continue;
    let ok = true;
    for (const host of hosts) ok = ok && (await portFree(host, port));
    if (ok) out.push(port);
  }
  return out;
}

export async function pickPorts(): Promise<DemoPorts> {
  const externalIp = '127.0.0.2';
  const internalIp = '127.0.0.3';
  const p = await freePorts(17, ['127.0.0.1', externalIp, internalIp]);
  return {
    externalIp,
    internalIp,
    marathonPort: p[0],
    dnsPort: p[1],
    dnsHttpPort: p[2],
    zkPort: p[3],
    externalHttpPort: p[4],
    externalHttpsPort: p[5],
    externalAdminPort: p[6],
    externalAppIdPort: p[7],
    internalHttpPort: p[8],
    internalHttpsPort: p[9],
    internalAdminPort: p[10],
    internalAppIdPort: p[11],
    webPort: p[12],
    simulatorPort: p[13],
    meterPort: p[14],
  };
}

function envFor(ports: DemoPorts): Record<string, string> {
  const env: Record<string, string> = {
    SMACK_EXTERNAL_IP: ports.externalIp,
    SMACK_INTERNAL_IP: ports.internalIp,
  };
  const names: Record<string, keyof DemoPorts> = {
    SMACK_MARATHON_PORT: 'marathonPort',
    SMACK_DNS_PORT: 'dnsPort',
    SMACK_DNS_HTTP_PORT: 'dnsHttpPort',
    SMACK_ZK_PORT: 'zkPort',
    SMACK_EXTERNAL_HTTP_PORT: 'externalHttpPort',
    SMACK_EXTERNAL_HTTPS_PORT: 'externalHttpsPort',
    SMACK_EXTERNAL_ADMIN_PORT: 'externalAdminPort',
    SMACK_EXTERNAL_APP_ID_PORT: 'externalAppIdPort',
    SMACK_INTERNAL_HTTP_PORT: 'internalHttpPort',
    SMACK_INTERNAL_HTTPS_PORT: 'internalHttpsPort',
    SMACK_INTERNAL_ADMIN_PORT: 'internalAdminPort',
    SMACK_INTERNAL_APP_ID_PORT: 'internalAppIdPort',
    SMACK_WEB_PORT: 'webPort',
    SMACK_SIMULATOR_PORT: 'simulatorPort',
    SMACK_METER_PORT: 'meterPort',
  };
  for (const [name, key] of Object.entries(names)) env[name] = String(ports[key]);
  return env;
}

/** Why the demo cannot run here ('' when it can): it needs the packages built (`tsc -b`). */
export function demoMissingReason(): string {
  const missing = ['marathon-sim', 'dns', 'lb', 'discovery'].filter((pkg) => !existsSync(`${ROOT}packages/${pkg}/dist/cli.js`));
  return missing.length ? `(skipped: packages not built — run \`pnpm build\`; missing dist of ${missing.join(', ')})` : '';
}

/** True while `pid` exists and is not a zombie. */
export const alive = running;

/** Command lines of live processes whose command line matches `pattern` (pgrep -f). */
export function pgrep(pattern: string): string[] {
  const result = spawnSync('pgrep', ['-a', '-f', pattern], { encoding: 'utf8' });
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .filter((line) => Number(line.split(' ')[0]) !== process.pid && alive(Number(line.split(' ')[0])));
}

/** PIDs of live processes whose environment has `TMPDIR=<dir>` (every task the demo's Marathon runs). */
export function processesWithTmpdir(dir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`TMPDIR=${dir}`) && alive(Number(entry))) out.push(Number(entry));
    } catch {
      // not ours to read, or gone
    }
  }
  return out;
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => (socket.close(), resolve(false)));
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

/** The launcher's default ports where they are free here, free ephemeral ports for the others. */
async function defaultPortsWhereFree(): Promise<DemoPorts> {
  const settingsModule = new URL('../../examples/smack-iot/settings.mjs', import.meta.url).href;
  const { readSettings } = (await import(settingsModule)) as { readSettings(env: object): Record<string, unknown> };
  const defaults = readSettings({});
  const ports = await pickPorts();
  const hosts = ['127.0.0.1', ports.externalIp, ports.internalIp];
  const chosen = ports as unknown as Record<string, number>;
  for (const key of Object.keys(ports).filter((k) => typeof chosen[k] === 'number')) {
    const port = defaults[key];
    if (typeof port !== 'number' || Object.values(chosen).includes(port)) continue;
    let free = true;
    for (const host of hosts) free = free && (await portFree(host, port));
    if (key === 'dnsPort') free = free && (await udpFree('127.0.0.1', port));
    if (free) chosen[key] = port;
  }
  return ports;
}

/**
 * Starts the launcher and resolves once it printed that it is ready. Ports are free ephemeral ones, or
 * with `defaultPorts` the launcher's defaults where they are free (for a screenshot that shows them).
 */
export async function startDemo(options: { readyTimeoutMs?: number; env?: Record<string, string>; defaultPorts?: boolean } = {}): Promise<Demo> {
  const ports = options.defaultPorts ? await defaultPortsWhereFree() : await pickPorts();
  let output = '';
  const child = spawn(process.execPath, [LAUNCHER], {
    cwd: ROOT,
    env: { ...process.env, ...envFor(ports), SMACK_START_TIMEOUT_MS: String(options.readyTimeoutMs ?? 240_000), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));

  const demo: Demo = {
    ports,
    child,
    marathonUrl: `http://127.0.0.1:${ports.marathonPort}`,
    dnsServer: `127.0.0.1:${ports.dnsPort}`,
    get logDir() {
      return /logs in (\S+?)\)/.exec(output)?.[1] ?? '';
    },
    output: () => output,
    processTree: () => (child.pid ? descendants(child.pid) : []),
    interrupt: async (timeoutMs = 60_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 240_000) + 10_000;
  while (!output.includes('SMACK IoT demo is ready')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the demo exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      await demo.interrupt();
      throw new Error(`the demo was not ready in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return demo;
}

// ---- small HTTP client (node:http, so that Host can be set) ---------------------------------------

export const agent = new Agent({ keepAlive: true, maxSockets: 8 });

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function http(url: string, opts: { method?: string; host?: string; body?: string; timeoutMs?: number; agent?: Agent | false } = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (opts.host) headers.host = opts.host;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(Buffer.byteLength(opts.body));
    }
    const req = request(url, { method: opts.method ?? 'GET', headers, agent: opts.agent ?? agent, timeout: opts.timeoutMs ?? 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? 5_000} ms: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export async function getJson<T = any>(url: string, opts: { host?: string; timeoutMs?: number } = {}): Promise<T> {
  const res = await http(url, opts);
  if (res.status !== 200) throw new Error(`GET ${url}: HTTP ${res.status} ${res.body.slice(0, 200)}`);
  return JSON.parse(res.body) as T;
}
