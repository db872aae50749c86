// kafka: a stand-in for a Kafka broker (ZooKeeper mode). It listens on its Marathon port and, when
// KAFKA_ZK (zk://host:port/chroot) is set, registers itself as a Kafka broker does: from its own
// session, an EPHEMERAL znode <chroot>/brokers/ids/<id> holding the version-4 registration JSON. The
// broker id is the lowest free one. When the process stops, its session closes and the znode goes.
// Without KAFKA_ZK clients find the brokers through DNS SRV instead (_kafka._tcp.marathon.mesos).
import { createServer } from 'node:net';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT0 ?? process.env.PORT ?? 0);

const server = createServer((socket) => socket.end());
await new Promise((resolve) => server.listen(port, host, resolve));

let session;
let registered;
if (process.env.KAFKA_ZK) {
  const { ZkSession, parseZkUrl } = await import('@baton/zookeeper');
  const { connectString, chroot } = parseZkUrl(process.env.KAFKA_ZK);
  session = new ZkSession({ connectString, sessionTimeoutMs: 6_000 }).start();
  await session.ready(30_000);
  const ids = `${chroot === '/' ? '' : chroot}/brokers/ids`;
  await session.mkdirp(ids);
  // Kafka's BrokerIdZNode.encode, version 4.
  const registration = JSON.stringify({
    listener_security_protocol_map: { PLAINTEXT: 'PLAINTEXT' },
    endpoints: [`PLAINTEXT://${host}:${port}`],
    jmx_port: -1,
    host,
    timestamp: String(Date.now()),
    port,
    version: 4,
  });
  for (let id = 0; !registered; id++) {
    try {
      registered = await session.create(`${ids}/${id}`, registration, 'ephemeral');
    } catch (error) {
      if (error.code !== 'NODE_EXISTS') throw error;
    }
  }
  process.stdout.write(`kafka: broker ${host}:${port} registered at ${registered} in ${process.env.KAFKA_ZK}\n`);
} else {
  process.stdout.write(`kafka: broker ${host}:${port} (no KAFKA_ZK: not registered in ZooKeeper)\n`);
}

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  if (session) {
    if (registered) await session.remove(registered).catch(() => undefined);
    await session.close().catch(() => undefined);
  }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
