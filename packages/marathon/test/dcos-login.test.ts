import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MarathonSimulator } from '@baton/marathon-sim';
import { DcosLogin, DcosLoginError, MarathonClient, jwtExpiry, parseDcosCredentials, serviceLoginJwt } from '../src/index.js';

const keys = () => generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
const account = keys();
let sim: MarathonSimulator;
let clock = Date.now();

beforeAll(async () => {
  sim = new MarathonSimulator({ dcosLogin: { accounts: { svc: account.publicKey }, tokenTtlMs: 60_000, now: () => clock } });
  await sim.start();
  await sim.createApp({ id: '/web', cmd: 'sleep 100', instances: 1 });
});
afterAll(() => sim.stop());

const credentials = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ scheme: 'RS256', uid: 'svc', private_key: account.privateKey, login_endpoint: `${sim.url}/acs/api/v1/auth/login`, ...extra });

describe('parseDcosCredentials', () => {
  it('reads the DC/OS JSON and names what is wrong', () => {
    expect(parseDcosCredentials(credentials()).uid).toBe('svc');
    expect(parseDcosCredentials(credentials({ extra: null })).loginEndpoint).toMatch(/\/acs\/api\/v1\/auth\/login$/);
    expect(() => parseDcosCredentials('nope')).toThrow(/not JSON/);
    expect(() => parseDcosCredentials(credentials({ uid: 5 }))).toThrow(/"uid" is missing or not a string/);
    expect(() => parseDcosCredentials(credentials({ private_key: 'garbage' }))).toThrow(/"private_key" is not a PEM private key/);
    expect(() => parseDcosCredentials(credentials({ scheme: 'HS256' }))).toThrow(/scheme "HS256" is not supported/);
    expect(() => parseDcosCredentials(credentials({ login_endpoint: 'ftp://x/login' }))).toThrow(/must be http or https/);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    expect(() => parseDcosCredentials(credentials({ private_key: ec.privateKey }))).toThrow(/RS256 needs an RSA key/);
  });

  it('signs a login JWT the simulator verifies, valid for 60 s', () => {
    const jwt = serviceLoginJwt('svc', parseDcosCredentials(credentials()).privateKey, 1000);
    expect(jwtExpiry(jwt)).toBe(1060);
    expect(sim.dcosLogin!.login({ uid: 'svc', token: jwt }).status).toBe(401); // long expired (t = 1000 s)
    const now = Math.floor(clock / 1000);
    expect(sim.dcosLogin!.login({ uid: 'svc', token: serviceLoginJwt('svc', parseDcosCredentials(credentials()).privateKey, now) }).status).toBe(200);
  });
});

describe('MarathonClient with a DcosLogin', () => {
  it('logs in once, renews before expiry, and logs in again and retries after a 401', async () => {
    const login = new DcosLogin({ account: parseDcosCredentials(credentials()), now: () => clock });
    const client = new MarathonClient({ urls: [sim.url], login });
    try {
      const before = sim.dcosLogin!.logins.get('svc') ?? 0;
      expect(await client.getApp('/web')).not.toBeNull();
      expect(await client.getApp('/web')).not.toBeNull();
      expect(sim.dcosLogin!.logins.get('svc')).toBe(before + 1);
      expect(client.requestHeaders().authorization).toMatch(/^token=/);

      clock += 55_000; // 5 s before the 60 s token expires: inside the renewal margin
      expect(await client.getApp('/web')).not.toBeNull();
      expect(sim.dcosLogin!.logins.get('svc')).toBe(before + 2);

      sim.dcosLogin!.revokeTokens();
      expect(await client.getApp('/web')).not.toBeNull();
      expect(sim.dcosLogin!.logins.get('svc')).toBe(before + 3);
    } finally {
      await client.close();
    }
  });

  it('a key the account does not have: DcosLoginError with DC/OS\'s reason', async () => {
    const other = keys();
    const login = new DcosLogin({ account: parseDcosCredentials(credentials({ private_key: other.privateKey })) });
    const client = new MarathonClient({ urls: [sim.url], login });
    try {
      const err = await client.getApps().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DcosLoginError);
      expect((err as DcosLoginError).status).toBe(401);
      expect((err as Error).message).toMatch(/DC\/OS login of service account svc at .* refused \(HTTP 401\): Unauthorized: .*ERR_INVALID_SIGNATURE/);
    } finally {
      await client.close();
    }
  });

  it('concurrent requests share one login', async () => {
    const login = new DcosLogin({ account: parseDcosCredentials(credentials()), now: () => clock });
    const before = sim.dcosLogin!.logins.get('svc') ?? 0;
    await Promise.all([login.authorization(), login.authorization(), login.authorization()]);
    expect(sim.dcosLogin!.logins.get('svc')).toBe(before + 1);
  });
});
