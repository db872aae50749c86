// The demo's addresses and ports (each can be changed through the environment), and a check that
// they are free before anything starts.
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';

/** [env variable, default, what it is] */
const PORTS = {
  marathonPort: ['SMACK_MARATHON_PORT', 18080, 'baton-sim (Marathon) on 127.0.0.1'],
  dnsPort: ['SMACK_DNS_PORT', 8053, 'baton-dns, UDP and TCP on 127.0.0.1'],
  dnsHttpPort: ['SMACK_DNS_HTTP_PORT', 8123, 'baton-dns HTTP API on 127.0.0.1'],
  zkPort: ['SMACK_ZK_PORT', 12181, 'ZooKeeper on 127.0.0.1'],
  externalHttpPort: ['SMACK_EXTERNAL_HTTP_PORT', 10080, 'marathon-lb: vhost HTTP'],
  externalHttpsPort: ['SMACK_EXTERNAL_HTTPS_PORT', 10443, 'marathon-lb: vhost HTTPS'],
  externalAdminPort: ['SMACK_EXTERNAL_ADMIN_PORT', 10090, 'marathon-lb: admin (stats)'],
  externalAppIdPort: ['SMACK_EXTERNAL_APP_ID_PORT', 10091, 'marathon-lb: X-Marathon-App-Id'],
  internalHttpPort: ['SMACK_INTERNAL_HTTP_PORT', 11080, 'marathon-lb-internal: vhost HTTP'],
  internalHttpsPort: ['SMACK_INTERNAL_HTTPS_PORT', 11443, 'marathon-lb-internal: vhost HTTPS'],
  internalAdminPort: ['SMACK_INTERNAL_ADMIN_PORT', 11090, 'marathon-lb-internal: admin (stats)'],
  internalAppIdPort: ['SMACK_INTERNAL_APP_ID_PORT', 11091, 'marathon-lb-internal: X-Marathon-App-Id'],
  webPort: ['SMACK_WEB_PORT', 19000, 'service port of /web'],
  simulatorPort: ['SMACK_SIMULATOR_PORT', 19001, 'service port of /simulator'],
  meterPort: ['SMACK_METER_PORT', 19002, 'service port of /meter'],
};

export class SettingsError extends Error {}

/** Reads the settings from `env`; throws SettingsError naming the variable when one is not a port. */
export function readSettings(env = process.env) {
  const settings = {
    externalIp: env.SMACK_EXTERNAL_IP || '127.0.0.2',
    internalIp: env.SMACK_INTERNAL_IP || '127.0.0.3',
    // SMACK_ZOOKEEPER=off runs the demo as on a machine without ZooKeeper.
    zookeeper: (env.SMACK_ZOOKEEPER ?? 'auto').toLowerCase() !== 'off',
    meterInstances: Number(env.SMACK_METER_INSTANCES || 3),
  };
  for (const [key, [name, fallback]] of Object.entries(PORTS)) {
    const raw = env[name];
    const value = raw === undefined || raw === '' ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > 65535) throw new SettingsError(`${name} must be a port number (1-65535), got ${JSON.stringify(raw)}`);
    settings[key] = value;
  }
  if (!Number.isInteger(settings.meterInstances) || settings.meterInstances < 1) {
    throw new SettingsError(`SMACK_METER_INSTANCES must be a positive integer, got ${JSON.stringify(env.SMACK_METER_INSTANCES)}`);
  }
  return settings;
}

function tryTcp(host, port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error) => resolve(error));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

function tryUdp(host, port) {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', (error) => {
      socket.close();
      resolve(error);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(undefined)));
  });
}

/** Every port the demo will listen on: [host, port, 'tcp'|'udp', env variable, what]. */
export function listeners(s) {
  const ext = s.externalIp;
  const int = s.internalIp;
  const row = (host, key, proto = 'tcp') => [host, s[key], proto, PORTS[key][0], PORTS[key][2]];
  const out = [
    row('127.0.0.1', 'marathonPort'),
    row('127.0.0.1', 'dnsPort', 'udp'),
    row('127.0.0.1', 'dnsPort'),
    row('127.0.0.1', 'dnsHttpPort'),
    row(ext, 'externalHttpPort'), row(ext, 'externalHttpsPort'), row(ext, 'externalAdminPort'), row(ext, 'externalAppIdPort'),
    row(ext, 'webPort'), row(ext, 'simulatorPort'), row(ext, 'meterPort'),
    row(int, 'internalHttpPort'), row(int, 'internalHttpsPort'), row(int, 'internalAdminPort'), row(int, 'internalAppIdPort'),
    row(int, 'meterPort'),
  ];
  if (s.zookeeper) out.push(row('127.0.0.1', 'zkPort'));
  return out;
}

/** Resolves to a list of problems (empty when every port is free), one clear line each. */
export async function checkPorts(settings) {
  const problems = [];
  for (const [host, port, proto, name, what] of listeners(settings)) {
    const error = proto === 'udp' ? await tryUdp(host, port) : await tryTcp(host, port);
    if (!error) continue;
    if (error.code === 'EADDRINUSE') problems.push(`port ${port}/${proto} on ${host} (${what}) is already in use: set ${name} to a free port`);
    else if (error.code === 'EADDRNOTAVAIL') problems.push(`cannot listen on ${host}: this machine does not route all of 127.0.0.0/8 to loopback (on macOS: sudo ifconfig lo0 alias ${host}); or set SMACK_EXTERNAL_IP / SMACK_INTERNAL_IP`);
    else problems.push(`cannot listen on ${host}:${port}/${proto} (${what}): ${error.code ?? error.message}`);
  }
  return [...new Set(problems)];
}
