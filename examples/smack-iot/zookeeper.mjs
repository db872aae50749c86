// A standalone ZooKeeper (Debian package `zookeeper`) on 127.0.0.1 with a temporary data dir — the
// same start-up as the test harness (test/helpers/zookeeper-server.ts), kept small.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

const ZOOKEEPER_HOME = '/usr/share/zookeeper';
const JAVA_LIBS = '/usr/share/java';

/** Why ZooKeeper cannot run here, or '' when it can. */
export function zooKeeperMissing() {
  if (!existsSync(join(JAVA_LIBS, 'zookeeper.jar')) || !existsSync(ZOOKEEPER_HOME)) return 'ZooKeeper is not installed (apt-get install zookeeper)';
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) return 'no working `java` on PATH (apt-get install zookeeper default-jre-headless)';
  return '';
}

function classPath() {
  const jars = ['zookeeper.jar', 'zookeeper-jute.jar', 'slf4j-api.jar', 'slf4j-nop.jar', 'netty-handler.jar', 'netty-common.jar',
    'netty-buffer.jar', 'netty-transport.jar', 'netty-transport-native-epoll.jar', 'netty-transport-native-unix-common.jar',
    'netty-codec.jar', 'netty-resolver.jar', 'metrics-core.jar', 'commons-cli.jar', 'commons-io.jar', 'snappy-java.jar',
    'jackson-databind.jar', 'jackson-core.jar', 'jackson-annotations.jar'].map((jar) => join(JAVA_LIBS, jar));
  if (jars.slice(0, 4).every((jar) => existsSync(jar))) return jars.filter((jar) => existsSync(jar)).join(':');
  return `${JAVA_LIBS}/*:${ZOOKEEPER_HOME}/*`;
}

function fourLetterWord(port, word) {
  return new Promise((resolve) => {
    let reply = '';
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = () => {
      socket.destroy();
      resolve(reply);
    };
    socket.setTimeout(1_000, done);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk) => (reply += chunk));
    socket.on('close', done);
    socket.on('error', () => ((reply = ''), done()));
  });
}

/** Starts ZooKeeper on 127.0.0.1:port with its data and log in `dir`; resolves once it serves. */
export async function startZooKeeper({ port, dir, timeoutMs = 60_000 }) {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'zoo.cfg');
  const logPath = join(dir, 'zookeeper.log');
  writeFileSync(config, [
    'tickTime=500', 'initLimit=10', 'syncLimit=5', `dataDir=${join(dir, 'data')}`, `clientPort=${port}`,
    'clientPortAddress=127.0.0.1', 'maxClientCnxns=0', 'admin.enableServer=false', '4lw.commands.whitelist=*', '',
  ].join('\n'));
  const log = openSync(logPath, 'a');
  const child = spawn('java', ['-Xms32m', '-Xmx128m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Dzookeeper.admin.enableServer=false',
    '-cp', classPath(), 'org.apache.zookeeper.server.quorum.QuorumPeerMain', config], { stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (gone) return;
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(killer);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gone) throw new Error(`ZooKeeper exited during start-up; log:\n${readFileSync(logPath, 'utf8').slice(-2_000)}`);
    if ((await fourLetterWord(port, 'srvr')).includes('Mode:')) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`ZooKeeper did not answer on 127.0.0.1:${port} within ${timeoutMs} ms (log: ${logPath})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { child, connectString: `127.0.0.1:${port}`, url: (chroot = '') => `zk://127.0.0.1:${port}${chroot}`, stop, exited };
}
