// Wrong values in baton-dns config files and in the flags of every bin: the real bins exit with
// status 2 and a one-line error naming the key or flag at fault (never a stack trace).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BINS, ensureBuilt } from './hardening-helpers.js';

let dir: string;
beforeAll(() => {
  ensureBuilt('dns', 'lb', 'discovery', 'marathon-sim');
  dir = mkdtempSync(join(tmpdir(), 'baton-config-errors-'));
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runBin(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // No Marathon, ZooKeeper or DNS is reachable from these environments: a bin that got past its
    // checks would fail differently (exit 1) or hang (killed: status null).
    const child = spawn(process.execPath, [bin, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MARATHON_URL: '', BATON_LOG_LEVEL: 'silent', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    // 'close', not 'exit': the stdio pipes may still hold the message when the process has exited.
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function configFile(name: string, content: unknown): string {
  const file = join(dir, `${name.replace(/[^a-z0-9]+/gi, '_')}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

async function expectUsageError(bin: string, args: string[], names: RegExp): Promise<void> {
  const r = await runBin(bin, args);
  const firstLine = r.stderr.split('\n')[0];
  expect(r.status, `exit status; stderr: ${r.stderr}`).toBe(2);
  expect(firstLine).toMatch(names);
  expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n/); // no stack trace
}

// A valid base for baton-dns so that each case fails on its one bad key only.
const DNS_BASE = { marathon: ['http://127.0.0.1:1'], resolvers: ['127.0.0.1:1'], listener: '127.0.0.1', HTTPListener: '127.0.0.1', port: 0, httpport: 0 };

describe.concurrent('baton-dns config files', () => {
  it.each<[string, unknown, RegExp]>([
    ['ttl not a number', { ttl: 'abc' }, /"ttl"/],
    ['negative ttl', { ttl: -1 }, /"ttl"/],
    ['port out of range', { port: 70000 }, /"port"/],
    ['httpport a string', { httpport: '8123' }, /"httpport"/],
    ['refreshSeconds zero', { refreshSeconds: 0 }, /"refreshSeconds"/],
    ['timeout a float', { timeout: 1.5 }, /"timeout"/],
    ['unknown IP source', { IPSources: ['netinfo', 'bogus'] }, /"IPSources".*bogus/],
    ['duplicate IP source', { IPSources: ['host', 'host'] }, /"IPSources"/],
    ['resolver not an IP', { resolvers: ['dns.example.com'] }, /"resolvers".*dns\.example\.com/],
    ['resolver with a bad port', { resolvers: ['8.8.8.8:99999'] }, /"resolvers"/],
    ['resolvers not an array', { resolvers: '8.8.8.8' }, /"resolvers"/],
    ['zone resolver nesting the domain', { zoneResolvers: { 'x.mesos': ['10.0.0.1'] } }, /"zoneResolvers"/],
    ['zone without resolvers', { zoneResolvers: { 'example.com': [] } }, /"zoneResolvers"/],
    ['master not host:port', { masters: ['10.0.0.1'] }, /"masters"/],
    ['zk not a zk URL', { zk: 'http://zk:2181/mesos' }, /"zk"/],
    ['marathon not a URL', { marathon: ['marathon:8080'] }, /"marathon"/],
    ['domain with a space', { domain: 'my domain' }, /"domain"/],
    ['listener a host name', { listener: 'localhost' }, /"listener"/],
    ['HTTPListener not an IP', { HTTPListener: 'any' }, /"HTTPListener"/],
    ['dnson and httpon off', { dnson: false, httpon: false }, /"dnson"/],
    ['bool as a string', { externalon: 'yes' }, /"externalon"/],
    ['bad forward network', { forwardAllowedNetworks: ['10.0.0.0/99'] }, /"forwardAllowedNetworks"/],
    ['UDP payload below 512', { maxUdpPayload: 100 }, /"maxUdpPayload"/],
    ['unknown auth mechanism', { mesosAuthentication: 'kerberos' }, /"mesosAuthentication"/],
    ['basic auth without a secret', { mesosAuthentication: 'basic', mesosCredentials: { principal: 'p' } }, /"mesosCredentials"/],
    ['credentials not an object', { mesosCredentials: 'p:s' }, /"mesosCredentials"/],
    ['httpAuth without a colon', { httpAuth: 'admin' }, /"httpAuth"/],
    ['httpAuth not a string', { httpAuth: { user: 'a' } }, /"httpAuth"/],
    ['SOARname not a name', { SOARname: 'root ns1.mesos' }, /"SOARname"/],
  ])('%s → exit 2 naming the key', async (name, values, names) => {
    await expectUsageError(BINS.dns, ['--config', configFile(name, { ...DNS_BASE, ...(values as object) })], names);
  });

  it.each<[string, string, RegExp]>([
    ['not JSON', '{"ttl": 5,', /not valid JSON/],
    ['a JSON array', '[1, 2]', /must be a JSON object/],
  ])('a file that is %s → exit 2', async (name, text, names) => {
    await expectUsageError(BINS.dns, ['--config', configFile(name, text)], names);
  });

  it('a missing config file → exit 2 naming the file', async () => {
    await expectUsageError(BINS.dns, ['--config', join(dir, 'absent.json')], /absent\.json/);
  });

  it('with only defaults and no source → exit 2 naming "masters"', async () => {
    await expectUsageError(BINS.dns, [], /"masters"/);
  });
});

describe.concurrent('flags with wrong values', () => {
  const dnsBase = ['--config', 'CONFIG'];
  it.each<[string, string, string[], RegExp]>([
    ['baton-dns', BINS.dns, ['--bogus'], /--bogus/],
    ['baton-dns', BINS.dns, [...dnsBase, '--port', 'abc'], /--port/],
    ['baton-dns', BINS.dns, [...dnsBase, '--port', '65536'], /--port/],
    ['baton-dns', BINS.dns, [...dnsBase, '--http-port', '-1'], /--http-port/],
    ['baton-dns', BINS.dns, [...dnsBase, '--marathon', 'marathon:8080'], /--marathon/],
    ['baton-dns', BINS.dns, [...dnsBase, '--listener', 'not-an-ip'], /"listener"/],
    ['baton-dns', BINS.dns, [...dnsBase, '--log-level', 'loud'], /--log-level/],
    ['baton-dns', BINS.dns, [...dnsBase, '--http-auth', 'nocolon'], /--http-auth/],
    ['baton-dns', BINS.dns, [...dnsBase, '--config'], /--config/],
    ['baton-lb', BINS.lb, ['--marathon', 'http://127.0.0.1:1'], /--group/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--bogus'], /--bogus/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--http-port', '70000'], /--http-port/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--admin-port', 'abc'], /--admin-port/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--marathon', 'ftp://m:8080'], /--marathon/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--admin-auth', 'nocolon'], /--admin-auth/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--auth-credentials', 'nocolon'], /--auth-credentials/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--log-level', 'loud'], /--log-level/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--timeout-http-request', '5x'], /--timeout-http-request/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--lru-cache-capacity', '-3'], /--lru-cache-capacity/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--min-serv-port-ip-per-task', '200', '--max-serv-port-ip-per-task', '100'], /--min-serv-port-ip-per-task/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--marathon-auth-credential-file', '/nonexistent/creds'], /--marathon-auth-credential-file/],
    ['baton-lb', BINS.lb, ['--group', 'external', '--health-check=yes'], /--health-check/],
    ['baton-env', BINS.env, ['akka'], /--app/],
    ['baton-env', BINS.env, ['bogus'], /subcommand "bogus"/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--bogus'], /--bogus/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--port-index', 'abc'], /--port-index/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--format', 'xml'], /--format/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--wait', '5x'], /--wait/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--timeout', '0'], /--timeout/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--min', '-1'], /--min/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--marathon', 'ftp://m:8080'], /--marathon/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--marathon', 'marathon:8080'], /--marathon/],
    ['baton-env', BINS.env, ['akka', '--app', '/x', '--auth-credentials', 'nocolon'], /--auth-credentials/],
    ['baton-env', BINS.env, ['kafka', '--zk', 'http://zk:2181/kafka'], /--zk/],
    ['baton-env', BINS.env, ['service', '--app', '/x'], /--var/],
    ['baton-sim', BINS.sim, ['--port', 'abc'], /--port/],
    ['baton-sim', BINS.sim, ['--port', '0', '--faces', '0'], /--faces/],
    ['baton-sim', BINS.sim, ['--port', '0', '--virtual-health', 'maybe'], /--virtual-health/],
    ['baton-sim', BINS.sim, ['--port', '0', '--id-format', '2.0'], /--id-format/],
    ['baton-sim', BINS.sim, ['--port', '0', '--agents', 'x'], /--agents/],
    ['baton-sim', BINS.sim, ['--port', '0', '--auth', 'nocolon'], /--auth/],
    ['baton-sim', BINS.sim, ['--port', '0', '--log-level', 'loud'], /--log-level/],
    ['baton-sim', BINS.sim, ['--port', '0', '--apps', '/nonexistent/apps.json'], /--apps/],
    ['baton-sim', BINS.sim, ['--port', '0', '--bogus'], /--bogus/],
  ])('%s %j → exit 2 naming the flag', async (_bin, bin, args, names) => {
    const config = configFile('flags-base', DNS_BASE);
    await expectUsageError(bin, args.map((a) => (a === 'CONFIG' ? config : a)), names);
  });

  it('baton-sim --apps with a file that is not app definitions → exit 2', async () => {
    await expectUsageError(BINS.sim, ['--port', '0', '--apps', configFile('apps-not-apps', { hello: 1 })], /--apps/);
  });
});
