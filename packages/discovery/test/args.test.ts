import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/args.js';
import { marathonAuth, marathonUrls, parseDuration, selfFromEnv } from '../src/config.js';
import { UsageError } from '../src/errors.js';

describe('parseArgs', () => {
  it('parses an akka lookup with every option', () => {
    const request = parseArgs([
      'akka', '--app', '/meter', '--marathon', 'http://m1:8080', '--marathon=http://m2:8080', '--port-name', 'remoting',
      '--system', 'meter', '--protocol', 'akka', '--healthy-only', '--wait', '60s', '--min', '3', '--format', 'json',
    ]);
    expect(request).toEqual({
      kind: 'run',
      subcommand: 'akka',
      flags: {
        marathon: ['http://m1:8080', 'http://m2:8080'], app: '/meter', portName: 'remoting', system: 'meter', protocol: 'akka',
        healthyOnly: true, waitMs: 60_000, min: 3, format: 'json',
      },
    });
  });

  it('splits exec flags from the command after --', () => {
    const request = parseArgs(['exec', 'kafka', '--zk', 'zk://zk:2181/kafka', '--', 'java', '--', '-jar', 'app.jar']);
    expect(request).toMatchObject({ kind: 'run', subcommand: 'kafka', exec: ['java', '--', '-jar', 'app.jar'], flags: { zk: 'zk://zk:2181/kafka' } });
  });

  it.each([
    [['akka', '--app', '/meter', '--bogus'], '--bogus'],
    [['akka'], '--app'],
    [['akka', '--app', '/meter', '--port-index', '-1'], '--port-index'],
    [['akka', '--app', '/meter', '--port-index', '1', '--port-name', 'x'], '--port-name'],
    [['akka', '--app', '/meter', '--wait', 'soon'], '--wait'],
    [['akka', '--app', '/meter', '--min', 'two'], '--min'],
    [['akka', '--app', '/meter', '--format', 'yaml'], '--format'],
    [['akka', '--app', '/meter', '--form', 'uri'], '--system'],
    [['akka', '--app', '/meter', '--protocol', 'akka'], '--system'],
    [['akka', '--app', '/meter', '--protocol', 'http', '--system', 's'], '--protocol'],
    [['akka', '--app', 'Meter!'], '--app'],
    [['akka', '--app', '/meter', '--app', '/other'], '--app'],
    [['akka', '--app', '/meter', '--auth-credentials', 'nocolon'], '--auth-credentials'],
    [['akka', '--app'], '--app'],
    [['akka', '--app', '/meter', '--zk', 'zk://x/y'], '--zk'],
    [['service', '--app', '/meter'], '--var'],
    [['service', '--app', '/meter', '--var', 'bad-name'], '--var'],
    [['service', '--app', '/meter', '--var', 'M', '--form', 'uri'], '--form'],
    [['kafka'], '--zk'],
    [['kafka', '--zk', 'zk://a:1/k', '--srv', '_b._tcp.k'], '--srv'],
    [['kafka', '--zk', 'http://a:1/k'], '--zk'],
    [['kafka', '--zk', 'zk://a:1/k', '--dns-server', '1.1.1.1'], '--dns-server'],
    [['kafka', '--zk', 'zk://a:1/k', '--port-index', '1'], '--port-index'],
    [['--bogus'], '--bogus'],
    [['exec', 'akka', '--app', '/meter'], '--'],
    [['exec', 'akka', '--app', '/meter', '--'], '--'],
    [['exec', 'nope', '--', 'x'], 'nope'],
    [['frobnicate'], 'frobnicate'],
  ])('%j is a usage error naming %s', (argv, flag) => {
    let error: unknown;
    try {
      parseArgs(argv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).exitCode).toBe(2);
    expect((error as Error).message).toContain(flag);
  });

  it.each([[[]], [['--help']], [['akka', '--help']], [['exec', '--help']], [['exec', 'akka', '--app', '/m', '-h', '--', 'x']], [['help', 'kafka']]])(
    '%j asks for help',
    (argv) => expect(parseArgs(argv).kind).toBe('help'),
  );
});

describe('configuration from flags and environment', () => {
  it('takes Marathon URLs from flags first, else MARATHON_URL, comma lists allowed', () => {
    expect(marathonUrls(['http://a:8080,http://b:8080', 'http://c:8080'], { MARATHON_URL: 'http://x' })).toEqual([
      'http://a:8080', 'http://b:8080', 'http://c:8080',
    ]);
    expect(marathonUrls([], { MARATHON_URL: 'http://x:8080, http://y:8080' })).toEqual(['http://x:8080', 'http://y:8080']);
    expect(marathonUrls([], {})).toEqual([]);
  });

  it('takes credentials from flags first, then DCOS_AUTH_TOKEN, then MARATHON_USER/PASSWORD', () => {
    const env = { DCOS_AUTH_TOKEN: 'envtoken', MARATHON_USER: 'u', MARATHON_PASSWORD: 'p' };
    expect(marathonAuth({ credentials: 'me:pa:ss' }, env)).toEqual({ username: 'me', password: 'pa:ss' });
    expect(marathonAuth({ token: 't' }, env)).toEqual({ token: 't' });
    expect(marathonAuth({}, env)).toEqual({ token: 'envtoken' });
    expect(marathonAuth({}, { MARATHON_USER: 'u', MARATHON_PASSWORD: 'p' })).toEqual({ username: 'u', password: 'p' });
    expect(marathonAuth({}, {})).toBeUndefined();
  });

  it('finds this node from MESOS_TASK_ID, else HOST and the port variable Marathon sets', () => {
    expect(selfFromEnv({ MESOS_TASK_ID: 'meter.instance-1._app.1', HOST: 'h', PORT0: '1' })).toEqual({ taskId: 'meter.instance-1._app.1' });
    expect(selfFromEnv({ HOST: 'h', PORT0: '31000' })).toEqual({ host: 'h', port: 31000 });
    expect(selfFromEnv({ HOST: 'h', PORT: '31000' })).toEqual({ host: 'h', port: 31000 });
    expect(selfFromEnv({ HOST: 'h', PORT1: '31001' }, { portIndex: 1 })).toEqual({ host: 'h', port: 31001 });
    expect(selfFromEnv({ HOST: 'h', 'PORT_HTTP-API': '31002' }, { portName: 'http-api' })).toEqual({ host: 'h', port: 31002 });
    expect(selfFromEnv({ HOST: 'h' })).toBeUndefined();
    expect(selfFromEnv({})).toBeUndefined();
  });

  it.each([
    ['60s', 60_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['30', 30_000],
    ['soon', undefined],
    ['-1s', undefined],
  ])('duration %s = %s ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
});
