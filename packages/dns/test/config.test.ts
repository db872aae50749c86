import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultDnsConfig, loadDnsConfig, parseDnsConfig, resolvConfNameservers, type DnsConfig } from '../src/config.js';

const noSystem = { resolvConfNameservers: () => ['10.9.9.9'] };
const parse = (json: unknown, overrides: Partial<DnsConfig> = {}) => parseDnsConfig(json, overrides, noSystem);

// The sample config.json shipped with Mesos-DNS.
const SAMPLE = {
  zk: 'zk://10.101.160.15:2181/mesos',
  masters: ['10.101.160.15:5050', '10.101.160.16:5050', '10.101.160.17:5050'],
  refreshSeconds: 60,
  ttl: 60,
  domain: 'mesos',
  port: 53,
  resolvers: ['169.254.169.254'],
  timeout: 5,
  httpon: true,
  dnson: true,
  httpport: 8123,
  externalon: true,
  listener: '10.101.160.16',
  SOAMname: 'ns1.mesos',
  SOARname: 'root.ns1.mesos',
  SOARefresh: 60,
  SOARetry: 600,
  SOAExpire: 86400,
  SOAMinttl: 60,
  IPSources: ['mesos', 'host'],
};

describe('parseDnsConfig', () => {
  it('reads the Mesos-DNS sample config unchanged', () => {
    const { config, error, warnings } = parse(SAMPLE);
    expect(error).toBeUndefined();
    expect(warnings).toBeUndefined();
    expect(config).toMatchObject({
      zk: 'zk://10.101.160.15:2181/mesos',
      masters: SAMPLE.masters,
      listener: '10.101.160.16',
      resolvers: ['169.254.169.254'],
      ipSources: ['mesos', 'host'],
      httpPort: 8123,
      timeoutSeconds: 5,
      soaMname: 'ns1.mesos',
      soaRname: 'root.ns1.mesos',
    });
  });

  it('applies the Mesos-DNS defaults', () => {
    const { config } = parse({ masters: ['10.0.0.1:5050'] });
    const expected = { ...defaultDnsConfig(), masters: ['10.0.0.1:5050'], resolvers: ['10.9.9.9'] };
    expect(config).toEqual(expected);
    expect(config).toMatchObject({
      domain: 'mesos', ttl: 60, port: 53, listener: '0.0.0.0', httpListener: '0.0.0.0', httpPort: 8123, refreshSeconds: 60,
      stateTimeoutSeconds: 300, zkDetectionTimeout: 30, timeoutSeconds: 5, soaRefresh: 60, soaRetry: 600, soaExpire: 86400,
      soaMinttl: 60, srvRecordDefaultWeight: 1, ipSources: ['netinfo', 'mesos', 'host'], enforceRfc952: false,
      setTruncateBit: true, enumerationOn: true, dnsOn: true, httpOn: true, externalOn: true, recurseOn: true,
      ptrOn: true, healthyOnly: false, maxUdpPayload: 4096,
    });
  });

  it('matches keys case-insensitively and ignores unknown keys with a warning', () => {
    const { config, warnings } = parse({ MASTERS: ['10.0.0.1:5050'], TTL: 5, DnsOn: true, ipsources: ['host'], enforcerfc952: true, Bogus: 1 });
    expect(config).toMatchObject({ masters: ['10.0.0.1:5050'], ttl: 5, ipSources: ['host'], enforceRfc952: true });
    expect(warnings).toEqual(['config: unknown key "Bogus" ignored']);
  });

  it('normalises the domain and SOA names', () => {
    const { config } = parse({ masters: ['10.0.0.1:5050'], domain: 'Cluster.Local', SOAMname: 'NS1.cluster.local.', SOARname: 'admin@cluster.local' });
    expect(config).toMatchObject({ domain: 'cluster.local', soaMname: 'ns1.cluster.local', soaRname: 'admin.cluster.local' });
  });

  it('reads the mesos credentials and baton additions', () => {
    const { config } = parse({
      marathon: 'http://m1:8080,http://m2:8080',
      mesosAuthentication: 'basic',
      mesosCredentials: { Principal: 'dns', secret: 's3cret' },
      healthyOnly: true,
      ptrOn: false,
      forwardAllowedNetworks: ['10.0.0.0/8', '::1'],
      maxUdpPayload: 1232,
      hostnameResolvers: ['127.0.0.1:5353'],
      minimalAny: false,
      rrlResponsesPerSecond: 20,
      rrlSlip: 0,
      rrlIpv4PrefixLength: 32,
      rrlIpv6PrefixLength: 64,
      cacheSize: 5000,
      forwardMaxPending: 64,
    });
    expect(config).toMatchObject({
      hostnameResolvers: ['127.0.0.1:5353'],
      minimalAny: false,
      rrlResponsesPerSecond: 20,
      rrlSlip: 0,
      rrlIpv4PrefixLength: 32,
      rrlIpv6PrefixLength: 64,
      cacheSize: 5000,
      forwardMaxPending: 64,
      marathon: ['http://m1:8080', 'http://m2:8080'],
      mesosCredentials: { principal: 'dns', secret: 's3cret' },
      healthyOnly: true,
      ptrOn: false,
      forwardAllowedNetworks: ['10.0.0.0/8', '::1'],
      maxUdpPayload: 1232,
    });
  });

  it('takes resolvers from resolv.conf when absent or empty', () => {
    expect(parse({ masters: ['10.0.0.1:5050'], resolvers: [] }).config!.resolvers).toEqual(['10.9.9.9']);
    expect(parse({ masters: ['10.0.0.1:5050'], resolvers: ['1.1.1.1', '[::1]:5353', '127.0.0.1:53'] }).config!.resolvers).toEqual(['1.1.1.1', '[::1]:5353', '127.0.0.1:53']);
  });

  it('makes zk/masters optional when the Marathon source is on (file or flag)', () => {
    expect(parse({}).error).toBe('config: "masters" or "zk" is required (or "marathon" for the Marathon source)');
    expect(parse({ marathon: ['http://127.0.0.1:8080'] }).error).toBeUndefined();
    expect(parse({}, { marathon: ['http://127.0.0.1:8080'] }).error).toBeUndefined();
  });

  it('applies overrides over the file and validates them', () => {
    const { config } = parse({ masters: ['10.0.0.1:5050'], port: 53 }, { port: 5353, httpPort: 0 });
    expect(config).toMatchObject({ port: 5353, httpPort: 0 });
    expect(parse({ masters: ['10.0.0.1:5050'] }, { ipSources: ['bogus'] }).error).toMatch(/^config: "IPSources" has an unknown source "bogus"/);
  });

  const base = { masters: ['10.0.0.1:5050'] };
  it.each([
    [{ ttl: 'abc' }, 'config: "ttl" must be a non-negative integer, got "abc"'],
    [{ ttl: -1 }, 'config: "ttl" must be a non-negative integer, got -1'],
    [{ TTL: 1.5 }, 'config: "TTL" must be a non-negative integer, got 1.5'],
    [{ timeout: 0 }, 'config: "timeout" must be a positive integer, got 0'],
    [{ stateTimeoutSeconds: 0 }, 'config: "stateTimeoutSeconds" must be a positive integer, got 0'],
    [{ refreshSeconds: -5 }, 'config: "refreshSeconds" must be a positive integer, got -5'],
    [{ port: 70000 }, 'config: "port" must be a port number (0-65535), got 70000'],
    [{ dnson: 'yes' }, 'config: "dnson" must be true or false, got "yes"'],
    [{ domain: 'bad_domain' }, 'config: "domain" must be a domain name like "mesos", got "bad_domain"'],
    [{ domain: '' }, 'config: "domain" must be a domain name like "mesos", got ""'],
    [{ dnson: false, httpon: false }, 'config: "dnson" and "httpon" are both false: at least one server must be on'],
    [{ resolvers: ['8.8.8.8', 'dns.google'] }, 'config: "resolvers" has "dns.google", which is not an IP or ip:port'],
    [{ resolvers: ['8.8.8.8:99999'] }, 'config: "resolvers" has "8.8.8.8:99999", which has an invalid port'],
    [{ resolvers: '8.8.8.8' }, 'config: "resolvers" must be an array of strings, got "8.8.8.8"'],
    [{ IPSources: [] }, 'config: "IPSources" must not be empty'],
    [{ IPSources: ['host', 'host'] }, 'config: "IPSources" lists "host" twice'],
    [{ IPSources: ['rkt'] }, 'config: "IPSources" has an unknown source "rkt" (allowed: host, docker, mesos, netinfo)'],
    [{ masters: ['10.0.0.1:5050', '10.0.0.1:5050'] }, 'config: "masters" lists "10.0.0.1:5050" twice'],
    [{ masters: ['10.0.0.1'] }, 'config: "masters" has "10.0.0.1", which is not host:port'],
    [{ zk: 'http://x/mesos' }, 'config: "zk" must be a zk://host:port[,host:port]/path URL, got "http://x/mesos"'],
    [{ zoneResolvers: { mesos: ['1.1.1.1'] } }, 'config: "zoneResolvers" zone "mesos" must not equal or nest with the domain "mesos"'],
    [{ zoneResolvers: { 'a.mesos': ['1.1.1.1'] } }, 'config: "zoneResolvers" zone "a.mesos" must not equal or nest with the domain "mesos"'],
    [{ zoneResolvers: { corp: ['1.1.1.1'], 'x.corp': ['1.1.1.2'] } }, 'config: "zoneResolvers" zones "corp" and "x.corp" must not equal or nest with each other'],
    [{ zoneResolvers: { corp: [] } }, 'config: "zoneResolvers" zone "corp" has no resolvers'],
    [{ zoneResolvers: { corp: ['x'] } }, 'config: "zoneResolvers" zone "corp" has "x", which is not an IP or ip:port'],
    [{ listener: 'localhost' }, 'config: "listener" must be an IP address, got "localhost"'],
    [{ forwardAllowedNetworks: ['10.0.0.0/33'] }, 'config: "forwardAllowedNetworks" has "10.0.0.0/33", which has an invalid prefix length'],
    [{ maxUdpPayload: 100 }, 'config: "maxUdpPayload" must be between 512 and 65535, got 100'],
    [{ cacheSize: 0 }, 'config: "cacheSize" must be a positive integer, got 0'],
    [{ workers: 0 }, 'config: "workers" must be a positive integer, got 0'],
    [{ workers: 1000 }, 'config: "workers" must be between 1 and 256, got 1000'],
    [{ forwardMaxPending: -1 }, 'config: "forwardMaxPending" must be a positive integer, got -1'],
    [{ mesosAuthentication: 'kerberos' }, 'config: "mesosAuthentication" must be "", "basic" or "iam", got "kerberos"'],
    [{ mesosAuthentication: 'basic' }, 'config: "mesosCredentials" needs a principal and a secret when "mesosAuthentication" is "basic"'],
    [{ marathon: ['ftp://x'] }, 'config: "marathon" must be http(s) or zk:// URLs, got "ftp://x"'],
    [{ hostnameResolvers: ['dns.example'] }, 'config: "hostnameResolvers" has "dns.example", which is not an IP or ip:port'],
    [{ minimalAny: 'yes' }, 'config: "minimalAny" must be true or false, got "yes"'],
    [{ rrlResponsesPerSecond: -1 }, 'config: "rrlResponsesPerSecond" must be a non-negative integer, got -1'],
    [{ rrlSlip: 11 }, 'config: "rrlSlip" must be between 0 and 10, got 11'],
    [{ rrlIpv4PrefixLength: 33 }, 'config: "rrlIpv4PrefixLength" must be between 0 and 32, got 33'],
    [{ rrlIpv6PrefixLength: 129 }, 'config: "rrlIpv6PrefixLength" must be between 0 and 128, got 129'],
  ])('refuses %j', (extra, message) => {
    const result = parse({ ...base, ...extra });
    expect(result.config).toBeUndefined();
    expect(result.error).toBe(message);
  });

  it('refuses what is not an object', () => {
    expect(parse([1]).error).toBe('config: must be a JSON object, got [1]');
  });

  it('treats null as absent', () => {
    expect(parse({ ...base, ttl: null }).config!.ttl).toBe(60);
  });
});

describe('loadDnsConfig and resolv.conf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-dns-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file, records its path, and names unreadable or invalid files', () => {
    const path = join(dir, 'config.json');
    writeFileSync(path, JSON.stringify(SAMPLE));
    const { config } = loadDnsConfig(path, { port: 5353 }, noSystem);
    expect(config).toMatchObject({ file: path, port: 5353, listener: '10.101.160.16' });

    expect(loadDnsConfig(join(dir, 'missing.json')).error).toBe(`config: cannot read ${join(dir, 'missing.json')}: ENOENT`);
    writeFileSync(join(dir, 'bad.json'), '{"ttl": ');
    expect(loadDnsConfig(join(dir, 'bad.json')).error).toMatch(/^config: .*bad\.json is not valid JSON/);
    expect(loadDnsConfig(undefined, { marathon: ['http://127.0.0.1:8080'] }, noSystem).config!.marathon).toEqual(['http://127.0.0.1:8080']);
  });

  it('takes the non-local nameservers of resolv.conf', () => {
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, '# comment\nsearch example.com\nnameserver 10.1.1.1\nnameserver 127.0.0.1\nnameserver fe80::1%eth0\nnameserver 10.1.1.1\n');
    // 127.0.0.1 is an address of this host (loopback), so it is dropped like Mesos-DNS does
    expect(resolvConfNameservers(path)).toEqual(['10.1.1.1', 'fe80::1']);
    expect(resolvConfNameservers(join(dir, 'nope'))).toEqual([]);
  });
});
