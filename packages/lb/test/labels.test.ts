import { describe, expect, it } from 'vitest';
import { NOT_APPLICABLE_MESSAGE, cidrError, isValidVhost, parseAppLabels, parseBool, parseInteger } from '../src/labels.js';

const parse = (labels: Record<string, string>, ports = 2, strictMode = false) =>
  parseAppLabels('/web', labels, ports, { strictMode });

describe('HAPROXY_{n}_BIND_OPTIONS', () => {
  it('options baton-lb does not apply are warnings of that port, the port still served', () => {
    const result = parse({ HAPROXY_1_BIND_OPTIONS: 'accept-proxy maxconn 100 v4v6' });
    expect(result.ports[1]).toMatchObject({ bindOptions: 'accept-proxy maxconn 100 v4v6', badLabels: [] });
    expect(result.problems).toEqual([
      // An option's arguments cannot be told from the next unknown option: named together, up to a known one.
      { appId: '/web', portIndex: 1, label: 'HAPROXY_1_BIND_OPTIONS', kind: 'bind-option', message: 'HAPROXY_1_BIND_OPTIONS: maxconn 100 v4v6: not applied by baton-lb; ignored', severity: 'warning' },
    ]);
    expect(parse({ HAPROXY_0_BIND_OPTIONS: 'accept-proxy ssl crt /a.pem ssl-min-ver TLSv1.2' }).problems).toEqual([]);
  });
});

describe('parseBool (marathon-lb: true|t|yes|y, any case)', () => {
  it.each([
    ['true', true],
    ['T', true],
    ['Yes', true],
    [' y ', true],
    ['1', false],
    ['on', false],
    ['false', false],
    ['', false],
  ])('%j → %s', (value, expected) => {
    expect(parseBool(value)).toBe(expected);
  });
});

describe('parseInteger (Python int())', () => {
  it.each([
    ['10', 10],
    [' -1 ', -1],
    ['+3', 3],
    ['1.5', undefined],
    ['ten', undefined],
    ['', undefined],
    ['0x10', undefined],
  ])('%j → %s', (value, expected) => {
    expect(parseInteger(value)).toBe(expected);
  });
});

describe('defaults of a port without labels', () => {
  it('are marathon-lb defaults', () => {
    const { ports, groups, problems } = parse({});
    expect(groups).toEqual([]);
    expect(problems).toEqual([]);
    expect(ports).toHaveLength(2);
    expect(ports[0]).toMatchObject({
      index: 0,
      vhosts: [],
      paths: [],
      bindAddr: '*',
      balance: 'roundrobin',
      sticky: false,
      redirectToHttps: false,
      useHsts: false,
      weight: 0,
      allowedNetworks: [],
      enabled: true,
      badLabels: [],
    });
    expect(ports[0].mode).toBeUndefined();
    expect(ports[0].port).toBeUndefined();
  });

  it('strict mode disables ports unless HAPROXY_{n}_ENABLED is true', () => {
    const { ports } = parse({ HAPROXY_1_ENABLED: 'yes' }, 2, true);
    expect(ports.map((p) => p.enabled)).toEqual([false, true]);
    expect(parse({ HAPROXY_0_ENABLED: 'false' }).ports[0].enabled).toBe(false);
  });
});

describe('each label', () => {
  it.each<[string, Record<string, string>, Record<string, unknown>]>([
    ['GROUP replaces the app group for its port', { HAPROXY_GROUP: 'external', HAPROXY_0_GROUP: 'internal,x' }, { groups: ['internal', 'x'] }],
    ['GROUP is split on commas, nothing trimmed (as marathon-lb)', { HAPROXY_0_GROUP: ' internal , x,' }, { groups: [' internal ', ' x', ''] }],
    ['VHOST: comma list, lower-cased, trimmed', { HAPROXY_0_VHOST: 'A.example.com, b.EXAMPLE.com,,' }, { vhosts: ['a.example.com', 'b.example.com'] }],
    ['VHOST: *.suffix wildcards', { HAPROXY_0_VHOST: '*.Apps.example.com' }, { vhosts: ['*.apps.example.com'] }],
    ['PATH: path_beg args, -i, weight 0 → 1', { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '-i /api /v2' }, { paths: ['/api', '/v2'], caseInsensitivePath: true, weight: 1 }],
    ['PATH keeps an explicit weight', { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '/api', HAPROXY_0_BACKEND_WEIGHT: '5' }, { paths: ['/api'], caseInsensitivePath: false, weight: 5 }],
    ['MODE http', { HAPROXY_0_MODE: 'HTTP' }, { mode: 'http' }],
    ['MODE tcp', { HAPROXY_0_MODE: 'tcp' }, { mode: 'tcp' }],
    ['PORT', { HAPROXY_0_PORT: '8080' }, { port: 8080 }],
    ['BIND_ADDR', { HAPROXY_0_BIND_ADDR: '127.0.0.2' }, { bindAddr: '127.0.0.2' }],
    ['BIND_OPTIONS', { HAPROXY_0_BIND_OPTIONS: 'accept-proxy' }, { bindOptions: 'accept-proxy' }],
    ['BALANCE leastconn', { HAPROXY_0_BALANCE: 'leastconn' }, { balance: 'leastconn' }],
    ['BALANCE source', { HAPROXY_0_BALANCE: 'source' }, { balance: 'source' }],
    ['STICKY', { HAPROXY_0_STICKY: 'true' }, { sticky: true }],
    ['REDIRECT_TO_HTTPS', { HAPROXY_0_REDIRECT_TO_HTTPS: 't' }, { redirectToHttps: true }],
    ['USE_HSTS', { HAPROXY_0_USE_HSTS: 'YES' }, { useHsts: true }],
    ['SSL_CERT', { HAPROXY_0_SSL_CERT: '/etc/ssl/a.pem' }, { sslCert: '/etc/ssl/a.pem' }],
    ['AUTH', { HAPROXY_0_AUTH: 'My Realm:alice:$1$abc$def' }, { auth: { realm: 'My Realm', user: 'alice', passwordHash: '$1$abc$def' } }],
    ['BACKEND_WEIGHT -1', { HAPROXY_0_BACKEND_WEIGHT: '-1' }, { weight: -1 }],
    ['HTTP_BACKEND_PROXYPASS_PATH', { HAPROXY_0_HTTP_BACKEND_PROXYPASS_PATH: '/api' }, { proxyPassPath: '/api' }],
    ['HTTP_BACKEND_REVPROXY_PATH', { HAPROXY_0_HTTP_BACKEND_REVPROXY_PATH: '/api' }, { revProxyPath: '/api' }],
    ['HTTP_BACKEND_REDIR', { HAPROXY_0_HTTP_BACKEND_REDIR: '/home' }, { redirectRootTo: '/home' }],
    ['BACKEND_NETWORK_ALLOWED_ACL', { HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/8  127.0.0.1 ::1/128' }, { allowedNetworks: ['10.0.0.0/8', '127.0.0.1', '::1/128'] }],
    ['BACKEND_HEALTHCHECK_PORT_INDEX', { HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX: '1' }, { healthCheckPortIndex: 1 }],
    ['ENABLED false', { HAPROXY_0_ENABLED: 'no' }, { enabled: false }],
  ])('%s', (_name, labels, expected) => {
    const result = parse(labels);
    expect(result.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(result.ports[0]).toMatchObject({ ...expected, badLabels: [] });
    // Port 1 is untouched by port-0 labels.
    expect(result.ports[1]).toMatchObject({ vhosts: [], weight: 0, balance: 'roundrobin', badLabels: [] });
  });

  it('app-level labels: HAPROXY_GROUP, deployment and app id', () => {
    const result = parse({
      HAPROXY_GROUP: 'external,internal',
      HAPROXY_DEPLOYMENT_GROUP: 'nginx',
      HAPROXY_DEPLOYMENT_ALT_PORT: '10001',
      HAPROXY_DEPLOYMENT_COLOUR: 'blue',
      HAPROXY_DEPLOYMENT_STARTED_AT: '2016-02-01T14:57:54.371005',
      HAPROXY_DEPLOYMENT_TARGET_INSTANCES: '3',
      HAPROXY_DEPLOYMENT_NEW_INSTANCES: '1',
      HAPROXY_APP_ID: 'nginx',
    });
    expect(result.problems).toEqual([]);
    expect(result.groups).toEqual(['external', 'internal']);
    expect(result.appIdLabel).toBe('nginx');
    expect(result.deployment).toEqual({
      group: 'nginx',
      altPort: 10001,
      colour: 'blue',
      startedAt: '2016-02-01T14:57:54.371005',
      targetInstances: 3,
      newInstances: 1,
    });
  });

  it('PATH without VHOST has no effect and is reported as a warning', () => {
    const result = parse({ HAPROXY_0_PATH: '/api' });
    expect(result.ports[0]).toMatchObject({ paths: [], weight: 0, badLabels: [] });
    expect(result.problems).toMatchObject([{ appId: '/web', portIndex: 0, label: 'HAPROXY_0_PATH', severity: 'warning' }]);
  });
});

describe('malformed labels drop only their port', () => {
  it.each<[string, Record<string, string>]>([
    ['HAPROXY_0_PORT', { HAPROXY_0_PORT: 'eighty' }],
    ['HAPROXY_0_PORT', { HAPROXY_0_PORT: '70000' }],
    ['HAPROXY_0_PORT', { HAPROXY_0_PORT: '0' }],
    ['HAPROXY_0_BACKEND_WEIGHT', { HAPROXY_0_BACKEND_WEIGHT: '1.5' }],
    ['HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX', { HAPROXY_0_BACKEND_HEALTHCHECK_PORT_INDEX: 'first' }],
    ['HAPROXY_0_AUTH', { HAPROXY_0_AUTH: 'realm:user' }],
    ['HAPROXY_0_AUTH', { HAPROXY_0_AUTH: 'realm:user:hash:extra' }],
    ['HAPROXY_0_AUTH', { HAPROXY_0_AUTH: 'realm::hash' }],
    ['HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL', { HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: '10.0.0.0/8 10.0.0.0/33' }],
    ['HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL', { HAPROXY_0_BACKEND_NETWORK_ALLOWED_ACL: 'not-an-ip' }],
    ['HAPROXY_0_MODE', { HAPROXY_0_MODE: 'udp' }],
    ['HAPROXY_0_BALANCE', { HAPROXY_0_BALANCE: 'random' }],
    ['HAPROXY_0_VHOST', { HAPROXY_0_VHOST: 'bad host.com' }],
    ['HAPROXY_0_PATH', { HAPROXY_0_VHOST: 'a.com', HAPROXY_0_PATH: '-m reg ^/x' }],
  ])('%s in %j', (label, labels) => {
    const result = parse({ ...labels, HAPROXY_1_VHOST: 'ok.example.com' });
    expect(result.ports[0].badLabels).toEqual([label]);
    expect(result.ports[1].badLabels).toEqual([]);
    expect(result.ports[1].vhosts).toEqual(['ok.example.com']);
    const errors = result.problems.filter((p) => p.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ appId: '/web', portIndex: 0, label, kind: 'bad-label' });
    expect(errors[0].message).toContain(label);
  });

  it('bad deployment integers are warnings and ignored', () => {
    const result = parse({ HAPROXY_DEPLOYMENT_TARGET_INSTANCES: 'many' });
    expect(result.deployment.targetInstances).toBeUndefined();
    expect(result.problems).toMatchObject([{ label: 'HAPROXY_DEPLOYMENT_TARGET_INSTANCES', severity: 'warning' }]);
    expect(result.ports.every((p) => p.badLabels.length === 0)).toBe(true);
  });
});

describe('template overrides and unknown labels', () => {
  it('template labels are accepted and reported once per app as not applicable', () => {
    const result = parse({
      HAPROXY_0_FRONTEND_HEAD: 'frontend x',
      HAPROXY_1_BACKEND_HEAD: 'backend y',
      HAPROXY_0_HTTP_FRONTEND_ACL_WITH_PATH: '...',
      HAPROXY_0_BACKEND_SERVER_OPTIONS: '...',
      HAPROXY_0_MAP_HTTP_FRONTEND_ACL: '...',
      HAPROXY_0_VHOST: 'a.com',
    });
    const templates = result.problems.filter((p) => p.kind === 'template-label');
    expect(templates).toHaveLength(1);
    expect(templates[0].severity).toBe('warning');
    expect(templates[0].message).toContain(NOT_APPLICABLE_MESSAGE);
    for (const label of ['HAPROXY_0_FRONTEND_HEAD', 'HAPROXY_1_BACKEND_HEAD', 'HAPROXY_0_HTTP_FRONTEND_ACL_WITH_PATH']) {
      expect(templates[0].message).toContain(label);
    }
    expect(result.problems).toHaveLength(1);
    expect(result.ports[0].vhosts).toEqual(['a.com']);
    expect(result.ports.every((p) => p.badLabels.length === 0)).toBe(true);
  });

  it('a misspelt label and a label for a missing port are warnings', () => {
    const result = parse({ HAPROXY_0_VHOTS: 'a.com', HAPROXY_5_VHOST: 'b.com', OTHER_LABEL: 'x' });
    expect(result.problems.map((p) => [p.kind, p.label, p.severity])).toEqual([
      ['unknown-label', 'HAPROXY_0_VHOTS', 'warning'],
      ['unused-label', 'HAPROXY_5_VHOST', 'warning'],
    ]);
  });
});

describe('validators', () => {
  it.each([
    ['a.example.com', true],
    ['*.example.com', true],
    ['localhost', true],
    ['*', false],
    ['a.*.com', false],
    ['a b', false],
    ['-a.com', false],
  ])('vhost %j valid: %s', (host, ok) => {
    expect(isValidVhost(host)).toBe(ok);
  });

  it.each([
    ['10.0.0.0/8', true],
    ['192.168.1.1', true],
    ['fd00::/8', true],
    ['10.0.0.0/', false],
    ['10.0.0.0/33', false],
    ['::/129', false],
    ['10.0.0/8', false],
  ])('cidr %j valid: %s', (cidr, ok) => {
    expect(cidrError(cidr) === undefined).toBe(ok);
  });
});
