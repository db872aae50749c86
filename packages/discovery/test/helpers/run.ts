// Runs baton-env (the built bin) as a real process, and small helpers shared by the process tests.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/baton-env.js', import.meta.url));
const DIST_CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

/** The bin imports dist/: build it once if a plain `vitest run` comes before `tsc -b`. */
export function ensureBuilt(): void {
  if (existsSync(DIST_CLI)) return;
  const result = spawnSync('npx', ['tsc', '-b', 'packages/discovery'], { cwd: REPO, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`tsc -b packages/discovery failed:\n${result.stdout}${result.stderr}`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment without anything a developer's shell may have set that baton-env reads. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^(MARATHON_|DCOS_|MESOS_|HOST$|PORT)/.test(key)) continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export function runEnv(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number; command?: string[] } = {},
): Promise<RunResult> & { pid?: number; output: () => string } {
  const [file, ...prefix] = options.command ?? [process.execPath, BIN];
  const child = spawn(file, [...prefix, ...args], { env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const done = new Promise<RunResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return Object.assign(done, { pid: child.pid, output: () => stdout });
}

/** Reads `export NAME='value'` lines back through a real sh. */
export function evalShell(text: string, names: string[]): Record<string, string> {
  const script = `${text}\n${names.map((n) => `printf '%s\\0' "$${n}"`).join('\n')}`;
  const result = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`sh failed: ${result.stderr}`);
  const values = result.stdout.split('\0');
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

/** A pass-through HTTP proxy that counts the requests it forwarded (to know a poll has happened). */
export async function countingProxy(target: string): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let count = 0;
  const upstream = new URL(target);
  const server: Server = createServer((req, res) => {
    count++;
    const forward = request(
      { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A TCP port on 127.0.0.1 with nothing listening (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
