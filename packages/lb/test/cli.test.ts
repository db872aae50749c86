// The baton-lb command line: flag parsing (marathon-lb's flags), and the real bin against the
// simulator: ready line, routing, and SIGTERM letting an in-flight request finish before exit 0.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { MarathonSimulator } from '@baton/marathon-sim';
import { silentLogger } from '@baton/marathon';
import { CliError, parseArgs } from '../src/cli.js';
import { defaultWorkers } from '../src/cpu-limit.js';
import { tempDir, waitFor } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const bin = join(root, 'packages/lb/bin/baton-lb.js');

describe('parseArgs', () => {
  it("takes marathon-lb's flags", () => {
    const o = parseArgs([
      '-m', 'http://m1:8080', '--marathon=http://m2:8080', '--group', 'external', '--group', 'internal',
      '-H', '--strict-mode', '-s', '--ssl-certs', '/a.pem,/b.pem', '--dont-bind-http-https',
      '--auth-credentials', 'u:p', '--min-serv-port-ip-per-task', '11000', '--max-serv-port-ip-per-task', '11100',
      '--lru-cache-capacity', '50', '--log-level', 'WARNING', '--http-port', '8080', '--admin-port', '0', '--bind-address', '127.0.0.1',
    ]);
    expect(o).toMatchObject({
      marathon: ['http://m1:8080', 'http://m2:8080'],
      groups: ['external', 'internal'],
      healthCheck: true,
      strictMode: true,
      sslCerts: ['/a.pem', '/b.pem'],
      dontBindHttpHttps: true,
      authCredentials: 'u:p',
      minServPortIpPerTask: 11000,
      maxServPortIpPerTask: 11100,
      lruCacheCapacity: 50,
      logLevel: 'warn',
      httpPort: 8080,
      adminPort: 0,
      bindAddress: '127.0.0.1',
    });
    expect(parseArgs(['--group', '*']).marathon).toEqual(['http://master.mesos:8080']);
  });

  it('rejects unknown flags, missing values and bad values, naming the flag', () => {
    expect(() => parseArgs(['--group', 'x', '--haproxy-conf', 'f'])).toThrow(/unknown flag --haproxy-conf/);
    expect(() => parseArgs(['--marathon', 'http://m'])).toThrow(/--group is required/);
    expect(() => parseArgs(['--group'])).toThrow(/--group needs a value/);
    expect(() => parseArgs(['--group', 'x', '--http-port', 'eighty'])).toThrow(/--http-port/);
    expect(() => parseArgs(['--group', 'x', '--http-port', '70000'])).toThrow(/--http-port/);
    expect(() => parseArgs(['--group', 'x', '--admin-auth', 'nocolon'])).toThrow(CliError);
    expect(() => parseArgs(['--group', 'x', '--log-level', 'loud'])).toThrow(/--log-level/);
    expect(() => parseArgs(['--group', 'x', '--timeout-server', 'soon'])).toThrow(/--timeout-server: not a duration like 500ms, 5s or 1m: soon/);
    expect(() => parseArgs(['--group', 'x', '--timeout-connect', '0'])).toThrow(/--timeout-connect: must be more than 0/);
  });

  it("accepts marathon-lb's HAProxy-only flags with a warning saying why, so a migration keeps its command line", () => {
    const o = parseArgs([
      'sse', '--marathon', 'http://m1:8080', '--group', 'external', '--haproxy-config', '/etc/haproxy/haproxy.cfg',
      '-c', 'sv reload haproxy', '--max-reload-retries=3', '--skip-validation', '--haproxy-map', '--group-https-by-vhost',
      '--max-backoff', '60', '--syslog-socket', '/dev/null', '--dry', '--http-port', '8080',
    ]);
    expect(o.groups).toEqual(['external']);
    expect(o.httpPort).toBe(8080);
    expect(o.ignored).toEqual([
      'sse: events are always streamed',
      '--haproxy-config: there is no HAProxy config file: routes live in memory',
      '-c: there is no reload command: routes change in place',
      '--max-reload-retries: nothing is reloaded',
      '--skip-validation: there is no HAProxy config to validate',
      '--haproxy-map: vhosts are always looked up in a map',
      '--group-https-by-vhost: :443 always picks the certificate by SNI and routes by Host',
      "--max-backoff: reconnects use baton's jittered backoff (30 s cap)",
      '--dry: there is no config file to print instead of writing',
    ]);
    expect(() => parseArgs(['--group', 'x', '--haproxy-config'])).toThrow('--haproxy-config needs a value');
  });

  it("takes marathon-lb's --syslog-socket and --log-format for the access log; /dev/null = none", () => {
    expect(parseArgs(['--group', 'x', '--syslog-socket', '/dev/null', '--access-log', 'json'])).toMatchObject({ syslog: { kind: 'off' }, accessLog: 'json' });
    expect(parseArgs(['--group', 'x', '--syslog-socket', '/dev/log', '--log-format', '%(message)s'])).toMatchObject({
      syslog: { kind: 'unix', path: '/dev/log' },
      accessLog: 'syslog',
      logFormat: '%(message)s',
    });
    expect(parseArgs(['--group', 'x', '--syslog-socket', 'udp://127.0.0.1:514']).syslog).toEqual({ kind: 'udp', host: '127.0.0.1', port: 514 });
    expect(parseArgs(['--group', 'x', '--access-log', 'off']).accessLog).toBe('off');
    expect(() => parseArgs(['--group', 'x', '--syslog-socket', 'log-host'])).toThrow('--syslog-socket: not a socket path');
    expect(() => parseArgs(['--group', 'x', '--access-log', 'syslog'])).toThrow('--access-log syslog needs --syslog-socket');
    expect(() => parseArgs(['--group', 'x', '--access-log', 'loud'])).toThrow('--access-log: expected json, syslog or off');
    expect(parseArgs(['--group', 'x', '--no-active-checks', '--max-concurrent-checks', '50'])).toMatchObject({ activeChecks: false, maxConcurrentChecks: 50 });
  });

  it('takes a DC/OS token for Marathon, but not together with basic credentials', () => {
    expect(parseArgs(['--group', 'x', '--dcos-token', 'abc']).dcosToken).toBe('abc');
    expect(() => parseArgs(['--group', 'x', '--dcos-token', 'abc', '--auth-credentials', 'u:p'])).toThrow(CliError);
    expect(parseArgs(['--group', 'x', '--dcos-auth-credentials', '{}']).dcosAuthCredentials).toBe('{}');
    expect(() => parseArgs(['--group', 'x', '--dcos-auth-credentials', '{}', '--auth-credentials', 'u:p'])).toThrow(/give one kind of Marathon credentials/);
  });

  it("takes HAProxy's timeouts, the shutdown grace and a state file", () => {
    const o = parseArgs([
      '--group', 'x', '--timeout-connect', '500ms', '--timeout-client', '1m', '--timeout-server=2s', '--timeout-tunnel', '1h',
      '--timeout-http-request', '1500', '--shutdown-grace', '0', '--state-file', '/var/lib/baton/lb.json',
    ]);
    expect(o.timeouts).toEqual({ connectMs: 500, clientMs: 60_000, serverMs: 2_000, tunnelMs: 3_600_000, httpRequestMs: 1_500 });
    expect(o.shutdownGraceMs).toBe(0);
    expect(o.stateFile).toBe('/var/lib/baton/lb.json');
    expect(parseArgs(['--group', 'x'])).toMatchObject({ timeouts: {}, shutdownGraceMs: 10_000 });
  });

  it('takes --workers N (default: one per core it may use, the cgroup CPU limit counted; at least 1)', () => {
    expect(parseArgs(['--group', 'x']).workers).toBe(defaultWorkers());
    expect(parseArgs(['--group', 'x', '--workers', '1']).workers).toBe(1);
    expect(parseArgs(['--group', 'x', '--workers', '16']).workers).toBe(16);
    expect(() => parseArgs(['--group', 'x', '--workers', '0'])).toThrow(/--workers/);
    expect(() => parseArgs(['--group', 'x', '--workers', 'all'])).toThrow(/--workers/);
  });
});

describe('the baton-lb bin', () => {
  let sim: MarathonSimulator;
  let dir: string;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-b', 'packages/lb'], { cwd: root, stdio: 'pipe' });
    dir = tempDir();
    writeFileSync(
      join(dir, 'backend.mjs'),
      `import http from 'node:http';
const server = http.createServer((req, res) => setTimeout(() => res.end(process.env.MESOS_TASK_ID), req.url.startsWith('/slow') ? 1500 : 0));
server.listen(Number(process.env.PORT0), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`,
    );
    sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, exec: true, heartbeatMs: 500, logger: silentLogger() });
    await sim.start();
    await sim.createApp({ id: '/cli/web', instances: 1, cmd: `exec ${process.execPath} ${join(dir, 'backend.mjs')}`, labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.test' }, portDefinitions: [{ port: 0 }] });
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await sim?.stop();
  });

  function runBin(args: string[]) {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))); // after stdio is drained
    return { child, stdout: () => stdout, stderr: () => stderr, exited };
  }

  it('--help prints usage; an unknown flag exits 2 naming it', async () => {
    const help = runBin(['--help']);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toContain('--group');
    const bad = runBin(['--group', 'x', '--bogus']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('--bogus');
  });

  it('serves the simulator apps, then on SIGTERM finishes the in-flight request and exits 0', async () => {
    const lb = runBin(['--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'warn']);
    await waitFor(() => lb.stdout().includes('\n'), 20_000);
    const ready = lb.stdout();
    expect(ready).toMatch(/^baton-lb listening on 127\.0\.0\.1: http=\d+ https=\d+ app-id=\d+ admin=\d+\n$/);
    const http = Number(/http=(\d+)/.exec(ready)![1]);
    const admin = Number(/admin=(\d+)/.exec(ready)![1]);
    await waitFor(async () => {
      const res = await request(`http://127.0.0.1:${http}/`, { headers: { host: 'web.test' } }).catch(() => undefined);
      if (res === undefined) return false;
      const body = await res.body.text();
      return res.statusCode === 200 && body.startsWith('cli_web.');
    }, 20_000, 50);
    expect((await request(`http://127.0.0.1:${admin}/_haproxy_health_check`)).statusCode).toBe(200);

    const slow = request(`http://127.0.0.1:${http}/slow`, { headers: { host: 'web.test' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    lb.child.kill('SIGTERM');
    const res = await slow;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toMatch(/^cli_web\./);
    expect(await lb.exited).toBe(0);
  });
});
