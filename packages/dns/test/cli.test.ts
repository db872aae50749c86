// baton-dns on the command line: flags, config errors, and the real bin against the simulator.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resolver } from 'node:dns/promises';
import { silentLogger } from '@baton/marathon';
import { MarathonSimulator } from '@baton/marathon-sim';
import { parseArgs, startBatonDns, UsageError } from '../src/cli.js';
import { parseDnsConfig } from '../src/config.js';
import { waitFor } from '../../../test/helpers/wait.js';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));
const repoDir = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(pkgDir, 'bin', 'baton-dns.js');

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

let sim: MarathonSimulator;
let tmp: string;
beforeAll(async () => {
  sim = new MarathonSimulator({ host: '127.0.0.1', port: 0, heartbeatMs: 200, logger: silentLogger() });
  await sim.start();
  cleanups.push(() => sim.stop());
  tmp = mkdtempSync(join(tmpdir(), 'baton-dns-cli-'));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  await sim.createApp({ id: '/prod/web', instances: 2, cmd: 'sleep 1000', networks: [{ mode: 'container', name: 'dcos' }] });
  await sim.waitForRunning('/prod/web', 2);
});

describe('parseArgs', () => {
  it('reads every flag, --marathon repeated, --flag=value form', () => {
    const o = parseArgs(['--config', 'c.json', '--marathon', 'http://m1:8080', '--marathon=http://m2:8080', '--port', '5353', '--listener', '127.0.0.2', '--http-port=0', '--healthy-only', '--log-level', 'warn']);
    expect(o).toMatchObject({
      configFile: 'c.json',
      logLevel: 'warn',
      overrides: { marathon: ['http://m1:8080', 'http://m2:8080'], port: 5353, listener: '127.0.0.2', httpPort: 0, healthyOnly: true },
    });
    expect(parseArgs(['--cache-size', '5000', '--forward-max-pending=64']).overrides).toEqual({ cacheSize: 5000, forwardMaxPending: 64 });
    expect(parseArgs(['--workers', '4']).overrides).toEqual({ workers: 4 });
    expect(parseArgs(['-config=x.json']).configFile).toBe('x.json');
    expect(parseArgs(['-config', 'y.json', '-version'])).toMatchObject({ configFile: 'y.json', version: true });
    expect(parseArgs(['--log-level', 'WARNING']).logLevel).toBe('warn');
    expect(parseArgs(['--help']).help).toBe(true);
  });

  it.each([
    [['--bogus'], /unknown flag --bogus/],
    [['--port', 'x'], /--port needs a port number/],
    [['--port', '70000'], /--port needs a port number/],
    [['--marathon', 'm1:8080'], /--marathon needs an http\(s\) or zk:\/\/ URL/],
    [['--config'], /--config needs a value/],
    [['--cache-size', '0'], /--cache-size needs a positive integer, got 0/],
    [['--forward-max-pending', 'lots'], /--forward-max-pending needs a positive integer, got lots/],
    [['--workers', '0'], /--workers needs a positive integer, got 0/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('startBatonDns', () => {
  it('serves the apps of Marathon once the first sync is done', async () => {
    const { config } = parseDnsConfig({ marathon: [sim.url], port: 0, listener: '127.0.0.1', httpon: false, resolvers: ['127.0.0.1:1'] });
    const running = await startBatonDns(config!, silentLogger());
    cleanups.push(() => running.close());
    expect(running.addresses).toEqual([expect.stringMatching(/^dns udp\+tcp 127\.0\.0\.1:\d+$/)]);
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([`127.0.0.1:${running.dns!.udpPort}`]);
    // Answered right away: the server starts after the first full sync.
    expect(await resolver.resolve4('web-prod.marathon.mesos')).toHaveLength(2);
    await running.close();
  });

  it('adds the Mesos master source (other frameworks, IPv6 task IPs) and the HTTP API with the DNS metrics', async () => {
    sim.addFramework({ name: 'kafka', tasks: [{ name: 'broker-0', ip: 'fd00::9', ports: [9092] }] });
    const masterHostPort = new URL(sim.url).host;
    const { config, error } = parseDnsConfig({
      marathon: [sim.url],
      masters: [masterHostPort],
      port: 0,
      listener: '127.0.0.1',
      httpport: 0,
      HTTPListener: '127.0.0.1',
      IPSources: ['netinfo', 'host'],
      resolvers: ['127.0.0.1:1'],
    });
    expect(error).toBeUndefined();
    const running = await startBatonDns(config!, silentLogger());
    cleanups.push(() => running.close());
    expect(running.addresses).toEqual([expect.stringMatching(/^dns udp\+tcp 127\.0\.0\.1:\d+$/), expect.stringMatching(/^http 127\.0\.0\.1:\d+$/)]);
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([`127.0.0.1:${running.dns!.udpPort}`]);
    await waitFor(async () => (await resolver.resolve6('broker-0.kafka.mesos').catch(() => [])).length === 1, 15_000);
    expect(await resolver.resolve6('broker-0.kafka.mesos')).toEqual(['fd00::9']);
    expect((await resolver.resolve4('leader.mesos')).length).toBe(1);
    expect(await resolver.resolve4('web-prod.marathon.mesos')).toHaveLength(2);

    const httpBase = `http://${running.addresses[1].slice('http '.length)}`;
    const hosts = (await (await fetch(`${httpBase}/v1/hosts/web-prod.marathon.mesos`)).json()) as { host: string; ip: string }[];
    expect(hosts).toHaveLength(2);
    const metricsText = await (await fetch(`${httpBase}/metrics`)).text();
    expect(metricsText).toMatch(/baton_dns_queries_total\{qtype="AAAA",rcode="NOERROR"\} [1-9]/);
    expect(metricsText).toMatch(/baton_dns_query_duration_seconds_count [1-9]/);
    await running.close();
  });
});

/** Builds the package when dist is missing or older than a source file. */
function ensureBuilt(): void {
  const dist = join(pkgDir, 'dist', 'cli.js');
  const srcDir = join(pkgDir, 'src');
  const newest = Math.max(...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs));
  if (existsSync(dist) && statSync(dist).mtimeMs >= newest) return;
  const r = spawnSync('npx', ['tsc', '-b', 'packages/dns'], { cwd: repoDir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tsc -b packages/dns failed:\n${r.stdout}${r.stderr}`);
}

function runBin(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the baton-dns bin', () => {
  beforeAll(() => ensureBuilt(), 120_000);

  it('prints its usage with --help', () => {
    const r = runBin(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Usage: baton-dns/);
    expect(r.stdout).toMatch(/--marathon <url>/);
  });

  it('exits 2 naming an unknown flag', () => {
    const r = runBin(['--frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^baton-dns: unknown flag --frobnicate\nTry 'baton-dns --help'/);
  });

  it('refuses an invalid config at start, naming the key (exit 2)', () => {
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ marathon: [sim.url], IPSources: ['netinfo', 'bogus'] }));
    const r = runBin(['--config', file]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/IPSources/);
    const none = runBin(['--config', join(tmp, 'missing.json')]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/missing\.json/);
  });

  it('runs against the simulator with a Mesos-DNS config.json, answers, and stops cleanly on SIGTERM', async () => {
    const file = join(tmp, 'config.json');
    // A Mesos-DNS config as found in the wild: its keys and casing, plus the Marathon URL by flag.
    writeFileSync(
      file,
      JSON.stringify({
        zk: '',
        masters: [],
        refreshSeconds: 60,
        ttl: 5,
        domain: 'mesos',
        port: 53,
        resolvers: ['127.0.0.1:1'],
        timeout: 5,
        httpon: true,
        HTTPListener: '127.0.0.1',
        dnson: true,
        httpport: 8123,
        externalon: true,
        listener: '0.0.0.0',
        SOAMname: 'ns1.mesos',
        SOARname: 'root.ns1.mesos',
        SOARefresh: 60,
        SOARetry: 600,
        SOAExpire: 86400,
        SOAMinttl: 60,
        IPSources: ['netinfo', 'mesos', 'host'],
      }),
    );
    const child: ChildProcess = spawn(process.execPath, [bin, '--config', file, '--marathon', sim.url, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--log-level', 'warn'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code))); // after stdio is drained
    cleanups.push(() => child.kill('SIGKILL'));
    await waitFor(() => /listening on/.test(stdout) || child.exitCode !== null, 20_000);
    expect(stdout, stderr).toMatch(/^baton-dns listening on dns udp\+tcp 127\.0\.0\.1:(\d+), http 127\.0\.0\.1:(\d+)\n$/);
    const port = Number(/udp\+tcp 127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
    const httpPort = Number(/http 127\.0\.0\.1:(\d+)/.exec(stdout)![1]);
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    expect(health.status).toBe(200);
    const resolver = new Resolver({ timeout: 3000, tries: 2 });
    resolver.setServers([`127.0.0.1:${port}`]);
    expect(await resolver.resolve4('web-prod.marathon.mesos')).toHaveLength(2);
    const ttl = await resolver.resolve4('web-prod.marathon.mesos', { ttl: true });
    expect(ttl[0].ttl).toBe(5);
    await sim.scaleApp('/prod/web', 3);
    await waitFor(async () => (await resolver.resolve4('web-prod.marathon.mesos')).length === 3, 10_000);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
