// DC/OS service-account login (`--dcos-auth-credentials` / DCOS_SERVICE_ACCOUNT_CREDENTIAL): baton-lb,
// baton-dns, baton-env and baton-zdd (the bins) against a simulator that requires the login on every Marathon
// path and checks the login JWT's signature with the account's public key. Tokens expire after 2 s:
// the bins log in again, before expiry and after a 401 (revoked tokens). A wrong key or malformed
// credentials get an error naming the cause.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarathonSimulator } from '@baton/marathon-sim';
import { waitFor } from '../helpers/wait.js';
import { ensureBuilt, getJson, http, lookupA, repoDir, resolverFor, startBin, startWebBackends, type Bin } from './fault-helpers.js';

const UID = 'baton-principal';
const TOKEN_TTL_MS = 2_000;
let dir: string;
let sim: MarathonSimulator;
let credentials: string;
let wrongKeyCredentials: string;
const bins: Bin[] = [];

function keyPair() {
  return generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
}

beforeAll(async () => {
  ensureBuilt('lb', 'dns', 'discovery', 'marathon-sim');
  const account = keyPair();
  const other = keyPair();
  ({ dir, sim } = await startWebBackends('dcos-login', 2, { dcosLogin: { accounts: { [UID]: account.publicKey }, tokenTtlMs: TOKEN_TTL_MS } }));
  const login = `${sim.url}/acs/api/v1/auth/login`;
  credentials = JSON.stringify({ scheme: 'RS256', uid: UID, private_key: account.privateKey, login_endpoint: login });
  wrongKeyCredentials = JSON.stringify({ scheme: 'RS256', uid: UID, private_key: other.privateKey, login_endpoint: login });
}, 90_000);

afterAll(async () => {
  for (const bin of bins) {
    bin.kill('SIGKILL');
    await bin.exited;
  }
  await sim?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const logins = () => sim.dcosLogin!.logins.get(UID) ?? 0;

function startLb(creds: string): Bin {
  const bin = startBin('lb', 'baton-lb', [
    '--marathon', sim.url, '--group', 'external', '--bind-address', '127.0.0.1', '--dcos-auth-credentials', creds,
    '--http-port', '0', '--https-port', '0', '--app-id-port', '0', '--admin-port', '0', '--log-level', 'info',
  ]);
  bins.push(bin);
  return bin;
}

async function routes(base: string, host: string): Promise<boolean> {
  return (await http(`${base}/`, { headers: { host } }).catch(() => ({ status: 0 }))).status === 200;
}

async function addApp(id: string, vhost: string) {
  await sim.createApp({ id, cmd: 'sleep 1000', instances: 1, portDefinitions: [{ port: 0 }], labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: vhost } });
}

describe('DC/OS service-account login', () => {
  it('the simulator refuses Marathon calls without a token and logins with a wrong key', async () => {
    expect((await http(`${sim.url}/v2/apps`)).status).toBe(401);
    const bad = await http(`${sim.url}/acs/api/v1/auth/login`, { method: 'POST' });
    expect(bad.status).toBe(400);
  });

  it('baton-lb logs in, routes, and logs in again after the token expires and after a 401', async () => {
    const before = logins();
    const lb = startLb(credentials);
    const [, httpPort, adminPort] = await lb.line(/listening on 127\.0\.0\.1: http=(\d+) https=\d+ app-id=\d+ admin=(\d+)/);
    const base = `http://127.0.0.1:${httpPort}`;
    const routed = async (appId: string) =>
      ((await getJson<{ backends: { appId: string }[] }>(`http://127.0.0.1:${adminPort}/_baton/status`)).body.backends ?? []).some((b) => b.appId === appId);
    await waitFor(() => routes(base, 'web.test'), 20_000, 100);
    expect(logins()).toBeGreaterThan(before);

    // Expired: the stream is cut; reconnecting and resyncing need a new token.
    await new Promise((resolve) => setTimeout(resolve, TOKEN_TTL_MS + 500));
    const afterExpiry = logins();
    sim.dropStreams();
    await addApp('/expired', 'expired.test');
    await waitFor(() => routed('/expired'), 20_000, 100);
    expect(logins()).toBeGreaterThan(afterExpiry);

    // Revoked before expiry: Marathon answers 401; the client logs in again and retries.
    const afterRevoke = logins();
    sim.dcosLogin!.revokeTokens();
    sim.dropStreams();
    await addApp('/revoked', 'revoked.test');
    await waitFor(() => routed('/revoked'), 20_000, 100);
    expect(logins()).toBeGreaterThan(afterRevoke);
    expect(await routes(base, 'web.test')).toBe(true);
  }, 60_000);

  it('baton-lb with a key the account does not have says the login was refused and why', async () => {
    const lb = startLb(wrongKeyCredentials);
    await lb.line(/listening on/);
    await waitFor(() => /DC\/OS login of service account baton-principal .* refused \(HTTP 401\).*ERR_INVALID_SIGNATURE/.test(lb.stderr()), 20_000, 100);
  }, 30_000);

  it('baton-lb refuses malformed credentials at start, naming the field', async () => {
    const lb = startLb(JSON.stringify({ uid: UID, login_endpoint: 'http://127.0.0.1:1/acs/api/v1/auth/login' }));
    expect((await lb.exited).code).toBe(1);
    expect(lb.stderr()).toContain('"private_key" is missing');
  }, 30_000);

  it('baton-dns logs in and serves the Marathon names', async () => {
    const cfg = join(dir, 'dns.json');
    writeFileSync(cfg, JSON.stringify({ domain: 'mesos', masters: [], refreshSeconds: 60 }));
    const dns = startBin('dns', 'baton-dns', [
      '--marathon', sim.url, '--dcos-auth-credentials', credentials, '--port', '0', '--listener', '127.0.0.1', '--http-port', '0', '--log-level', 'info',
    ]);
    bins.push(dns);
    const [, dnsPort] = await dns.line(/listening on dns udp\+tcp 127\.0\.0\.1:(\d+)/);
    expect(await lookupA(resolverFor(Number(dnsPort)), 'web.marathon.mesos')).toEqual(['127.0.0.1']);
  }, 30_000);

  it('baton-dns refuses credentials that are not JSON', async () => {
    const dns = startBin('dns', 'baton-dns', ['--marathon', sim.url, '--dcos-auth-credentials', '{uid', '--port', '0']);
    bins.push(dns);
    expect((await dns.exited).code).toBe(2);
    expect(dns.stderr()).toContain('credentials are not JSON');
  });

  // Asynchronous: the simulator answering baton-env runs in this process.
  const env = (extra: NodeJS.ProcessEnv, ...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(repoDir, 'packages/discovery/bin/baton-env.js'), 'service', '--app', '/web', '--var', 'WEB', '--marathon', sim.url, ...args],
        { encoding: 'utf8', env: { PATH: process.env.PATH, ...extra }, timeout: 20_000 },
        (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
      );
    });

  it('baton-env logs in with DCOS_SERVICE_ACCOUNT_CREDENTIAL or --dcos-auth-credentials', async () => {
    const fromEnv = await env({ DCOS_SERVICE_ACCOUNT_CREDENTIAL: credentials });
    expect(fromEnv.stderr).toBe('');
    expect(fromEnv.status).toBe(0);
    expect(fromEnv.stdout).toMatch(/export WEB_HOSTS='127\.0\.0\.1:\d+,127\.0\.0\.1:\d+'/);
    const fromFlag = await env({}, '--dcos-auth-credentials', credentials);
    expect(fromFlag.status).toBe(0);
    expect(fromFlag.stdout).toContain('WEB_HOST=');
    const without = await env({});
    expect(without.status).toBe(1);
    expect(without.stderr).toContain('401');
  });

  it('baton-sim --dcos-login-key: the bin emulates the login too; a bad key file is a usage error', async () => {
    const pem = join(dir, 'svc.pub.pem');
    const account = keyPair();
    writeFileSync(pem, account.publicKey);
    const bin = startBin('marathon-sim', 'baton-sim', ['--port', '0', '--dcos-login-key', `svc=${pem}`, '--dcos-token-ttl-ms', '60000', '--log-level', 'warn']);
    bins.push(bin);
    const url = (await bin.line(/listening on (http:\/\/\S+)/))[1];
    expect((await http(`${url}/v2/apps`)).status).toBe(401);
    const creds = JSON.stringify({ uid: 'svc', private_key: account.privateKey, login_endpoint: `${url}/acs/api/v1/auth/login` });
    const r = await new Promise<{ status: number | null; stdout: string }>((resolve) =>
      execFile(process.execPath, [join(repoDir, 'packages/discovery/bin/baton-env.js'), 'service', '--app', '/none', '--var', 'X', '--marathon', url, '--dcos-auth-credentials', creds],
        { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stdout: stdout + stderr })),
    );
    expect(r.stdout).toContain('/none'); // logged in: Marathon answered 404 for the app, not 401
    expect(r.stdout).not.toContain('401');
    for (const [args, message] of [
      [['--dcos-login-key', `svc=${join(dir, 'absent.pem')}`], /--dcos-login-key svc=.*absent\.pem: ENOENT/],
      [['--dcos-login-key', 'svc'], /--dcos-login-key needs uid=public-key\.pem/],
      [['--dcos-token-ttl-ms', '1000'], /--dcos-token-ttl-ms needs --dcos-login-key/],
    ] as const) {
      const bad = startBin('marathon-sim', 'baton-sim', ['--port', '0', ...args]);
      bins.push(bad);
      expect((await bad.exited).code).toBe(2);
      expect(bad.stderr()).toMatch(message);
    }
  }, 30_000);

  it('baton-zdd logs in with --dcos-auth-credentials; without credentials it exits 6 (Marathon refused)', async () => {
    const appFile = join(dir, 'zdd-app.json');
    writeFileSync(appFile, JSON.stringify({ id: '/shop', instances: 2, cmd: 'sleep 100', portDefinitions: [{ port: 10080 }], labels: { HAPROXY_DEPLOYMENT_GROUP: 'shop', HAPROXY_DEPLOYMENT_ALT_PORT: '10081' } }));
    const run = (...extra: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(repoDir, 'packages/lb/bin/baton-zdd.js'), '-m', sim.url, '-l', 'http://127.0.0.1:1', '-j', appFile, '--dry-run', ...extra],
          { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH } },
          (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr })),
      );
    const before = logins();
    const ok = await run('--dcos-auth-credentials', credentials);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).id).toBe('/shop-blue');
    expect(logins()).toBe(before + 1);
    const refused = await run();
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain('401');
  }, 30_000);

  it('baton-env with a wrong key exits 1 naming the refused login', async () => {
    const r = await env({ DCOS_SERVICE_ACCOUNT_CREDENTIAL: wrongKeyCredentials });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/DC\/OS login of service account baton-principal .* refused \(HTTP 401\).*ERR_INVALID_SIGNATURE/);
  });
});
