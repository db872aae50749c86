// The demo's Marathon app definitions, in the order the launcher creates them. Each runs as a real
// local process under baton-sim --exec, with Marathon's task environment (HOST, PORT0…, MARATHON_APP_ID,
// MESOS_TASK_ID, …). `BATON_SIM_HOST` puts a task on another loopback address. Each cmd starts with
// `exec` so that the task's process is the service itself: Marathon's kill (SIGTERM, then SIGKILL) reaches
// it, and the task ends when the service has finished draining.
import { fileURLToPath } from 'node:url';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const shellQuote = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

export const paths = {
  meter: here('./apps/meter.mjs'),
  simulator: here('./apps/simulator.mjs'),
  web: here('./apps/web.mjs'),
  kafka: here('./apps/kafka-broker.mjs'),
  akkaEntrypoint: here('../entrypoints/akka-service.sh'),
  kafkaEntrypoint: here('../entrypoints/kafka-client.sh'),
};

/** Kafka's ZooKeeper chroot, as on DC/OS. */
export const KAFKA_CHROOT = '/dcos-service-kafka';

/**
 * @param s settings (settings.mjs)
 * @param ctx { marathonUrl, dnsServer: 'ip:port', kafkaZk?: zk URL (undefined when there is no ZooKeeper) }
 */
export function demoApps(s, ctx) {
  const lb = (id, group, ip, ports) => ({
    id,
    cmd: [
      'exec', 'baton-lb', '--marathon', ctx.marathonUrl, '--group', group, '--bind-address', ip,
      '--http-port', '$PORT0', '--https-port', '$PORT1', '--admin-port', '$PORT2', '--app-id-port', '$PORT3', '--log-level', 'warn',
    ].join(' '),
    instances: 1,
    cpus: 0.5,
    mem: 256,
    env: { BATON_SIM_HOST: ip, FRAMEWORK_NAME: id.slice(1) },
    requirePorts: true,
    portDefinitions: [
      { port: ports[0], protocol: 'tcp', name: 'http' },
      { port: ports[1], protocol: 'tcp', name: 'https' },
      { port: ports[2], protocol: 'tcp', name: 'admin' },
      { port: ports[3], protocol: 'tcp', name: 'app-id' },
    ],
    healthChecks: [{ protocol: 'HTTP', path: '/_haproxy_health_check', portIndex: 2, intervalSeconds: 2, timeoutSeconds: 2, gracePeriodSeconds: 60, maxConsecutiveFailures: 0 }],
  });
  const httpCheck = (path) => [{ protocol: 'HTTP', path, portIndex: 0, intervalSeconds: 1, timeoutSeconds: 1, gracePeriodSeconds: 60, maxConsecutiveFailures: 0 }];
  const kafkaSource = ctx.kafkaZk
    ? { KAFKA_ZK: ctx.kafkaZk }
    : { KAFKA_SRV: '_kafka._tcp.marathon.mesos', KAFKA_DNS_SERVER: ctx.dnsServer };
  return [
    {
      id: '/kafka',
      cmd: `exec node ${shellQuote(paths.kafka)}`,
      instances: 2,
      cpus: 0.5,
      mem: 128,
      env: ctx.kafkaZk ? { KAFKA_ZK: ctx.kafkaZk } : {},
      portDefinitions: [{ port: 0, protocol: 'tcp', name: 'broker' }],
    },
    lb('/marathon-lb', 'external', s.externalIp, [s.externalHttpPort, s.externalHttpsPort, s.externalAdminPort, s.externalAppIdPort]),
    lb('/marathon-lb-internal', 'internal', s.internalIp, [s.internalHttpPort, s.internalHttpsPort, s.internalAdminPort, s.internalAppIdPort]),
    {
      id: '/meter',
      // examples/entrypoints/akka-service.sh runs `baton-env akka --app $MARATHON_APP_ID …`, exports
      // AKKA_SEED_NODES / AKKA_CLUSTER_FOUNDER, then execs the service.
      cmd: `exec sh ${shellQuote(paths.akkaEntrypoint)} node ${shellQuote(paths.meter)}`,
      instances: s.meterInstances,
      cpus: 0.5,
      mem: 256,
      env: { MARATHON_URL: ctx.marathonUrl, AKKA_SYSTEM: 'meter', SEED_WAIT: '60s', DNS_SERVER: ctx.dnsServer },
      labels: { HAPROXY_GROUP: 'external,internal', HAPROXY_0_VHOST: 'meter.example.com' },
      portDefinitions: [{ port: s.meterPort, protocol: 'tcp', name: 'http' }],
      healthChecks: httpCheck('/health'),
    },
    {
      id: '/simulator',
      // examples/entrypoints/kafka-client.sh runs `baton-env exec kafka --zk … | --srv …`, which sets
      // KAFKA_BROKERS_LIST, then the simulator.
      cmd: `exec sh ${shellQuote(paths.kafkaEntrypoint)} node ${shellQuote(paths.simulator)}`,
      instances: 1,
      cpus: 0.5,
      mem: 128,
      env: {
        METER_HOST: 'marathon-lb-internal.marathon.mesos',
        METER_PORT: String(s.meterPort),
        DNS_SERVER: ctx.dnsServer,
        KAFKA_MIN_BROKERS: '2',
        ...kafkaSource,
      },
      labels: { HAPROXY_GROUP: 'external' },
      portDefinitions: [{ port: s.simulatorPort, protocol: 'tcp', name: 'http' }],
      healthChecks: httpCheck('/health'),
    },
    {
      id: '/web',
      cmd: `exec node ${shellQuote(paths.web)}`,
      instances: 1,
      cpus: 0.2,
      mem: 64,
      env: { METER_URL: `http://${s.externalIp}:${s.meterPort}`, SIMULATOR_URL: `http://${s.externalIp}:${s.simulatorPort}` },
      labels: { HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'web.example.com' },
      portDefinitions: [{ port: s.webPort, protocol: 'tcp', name: 'http' }],
      healthChecks: httpCheck('/health'),
    },
  ];
}
