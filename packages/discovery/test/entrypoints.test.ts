// The example entrypoints (examples/entrypoints/) as real processes: the Akka one started by the
// simulator in exec mode (so it gets Marathon's task environment), the Kafka one against a real
// ZooKeeper and an SRV server. baton-env is found on PATH through node_modules/.bin.

import { MarathonSimulator } from '@baton/marathon-sim';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../test/helpers/wait.js';
import {
  startZooKeeper,
  writeKafkaBroker,
  zooKeeperAvailable,
  zooKeeperMissingReason,
  type KafkaBrokerHandle,
  type ZooKeeperServer,
} from '../../../test/helpers/zookeeper-server.js';
import { REPO, cleanEnv, ensureBuilt, runEnv } from './helpers/run.js';
import { startSrvServer } from './helpers/srv-server.js';

const AKKA_SERVICE = join(REPO, 'examples/entrypoints/akka-service.sh');
const KAFKA_CLIENT = join(REPO, 'examples/entrypoints/kafka-client.sh');
const PATH_WITH_BIN = `${join(REPO, 'node_modules/.bin')}:${process.env.PATH}`;

let work: string;
beforeAll(() => {
  ensureBuilt();
  work = mkdtempSync(join(tmpdir(), 'baton-entrypoints-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('akka-service.sh', () => {
  let sim: MarathonSimulator;
  let service: string;
  beforeAll(async () => {
    sim = new MarathonSimulator({ exec: true, heartbeatMs: 0, killGraceMs: 500 });
    await sim.start();
    // Stands in for the JVM: records what the entrypoint gave it, then runs until killed.
    service = join(work, 'fake-service.sh');
    writeFileSync(
      service,
      [
        '#!/bin/sh',
        'out="$OUT/$MESOS_TASK_ID"',
        'printf "%s\\n" "$AKKA_CLUSTER_FOUNDER" "$AKKA_SEED_NODES" "$JAVA_OPTS" > "$out.tmp"',
        'cp "$MESOS_SANDBOX/stdout" "$out.log"',
        'mv "$out.tmp" "$out.env"',
        'exec sleep 600',
        '',
      ].join('\n'),
    );
    chmodSync(service, 0o755);
  });
  afterAll(async () => {
    await sim?.stop();
  });

  const read = (taskId: string) => {
    const [founder, seeds, javaOpts] = readFileSync(join(work, `${taskId}.env`), 'utf8').split('\n');
    return { founder, seeds, javaOpts, log: readFileSync(join(work, `${taskId}.log`), 'utf8') };
  };

  it('three nodes starting at once agree on the seeds; the oldest founds; a restarted node joins', async () => {
    await sim.createApp({
      id: '/meter',
      instances: 3,
      cmd: `${AKKA_SERVICE} ${service}`,
      portDefinitions: [{ port: 0, name: 'http' }, { port: 0, name: 'remoting' }],
      env: { PATH: PATH_WITH_BIN, MARATHON_URL: sim.url, OUT: work, AKKA_SYSTEM: 'meter', AKKA_PORT_NAME: 'remoting', SEED_WAIT: '30s' },
    });
    const tasks = await sim.waitForRunning('/meter');
    await waitFor(() => tasks.every((t) => existsSync(join(work, `${t.id}.env`))), 30_000);
    const byStart = [...tasks].sort(
      (a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!) || Date.parse(a.stagedAt) - Date.parse(b.stagedAt) || (a.id < b.id ? -1 : 1),
    );
    const expectedSeeds = byStart.map((t) => `akka.tcp://meter@${t.host}:${t.ports[1]}`).join(',');
    for (const task of tasks) {
      const seen = read(task.id);
      expect(seen.seeds).toBe(expectedSeeds);
      const founder = task.id === byStart[0].id;
      expect(seen.founder).toBe(String(founder));
      expect(seen.log).toContain(founder ? 'it founds the cluster' : 'joining the cluster of /meter');
      expect(seen.javaOpts).toContain(`-Dakka.cluster.seed-nodes.0=akka.tcp://meter@${byStart[0].host}:${byStart[0].ports[1]}`);
      expect(seen.javaOpts).toContain(`-Dakka.remote.artery.canonical.port=${task.ports[1]}`);
    }

    // The founder dies; Marathon starts a replacement, which must not found a second cluster.
    sim.killTask(byStart[0].id, { state: 'TASK_FAILED' });
    let replacement: string | undefined;
    await waitFor(() => {
      replacement = sim.tasks('/meter').find((t) => t.state === 'TASK_RUNNING' && !tasks.some((old) => old.id === t.id))?.id;
      return replacement !== undefined && existsSync(join(work, `${replacement}.env`));
    }, 30_000);
    const restarted = read(replacement!);
    const newTask = sim.tasks('/meter').find((t) => t.id === replacement)!;
    expect(restarted.founder).toBe('false');
    expect(restarted.seeds.split(',')).toEqual([
      `akka.tcp://meter@${byStart[1].host}:${byStart[1].ports[1]}`,
      `akka.tcp://meter@${byStart[2].host}:${byStart[2].ports[1]}`,
      `akka.tcp://meter@${newTask.host}:${newTask.ports[1]}`,
    ]);
    expect(restarted.log).toContain('joining the cluster');
  });

  it('stops with baton-env\'s message when the app is unknown', async () => {
    const result = await runEnv([], {
      command: [AKKA_SERVICE, 'true'],
      env: cleanEnv({ PATH: PATH_WITH_BIN, MARATHON_URL: sim.url, MARATHON_APP_ID: '/ghost', SEED_WAIT: '0s' }),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('app /ghost does not exist');
  });
});

describe('kafka-client.sh', () => {
  it('gets KAFKA_BROKERS_LIST from an SRV name', async () => {
    const dns = await startSrvServer({ '_broker._tcp.kafka.mesos': [{ port: 1025, target: 'kafka-0-broker.kafka.mesos' }] });
    try {
      const result = await runEnv([], {
        command: [KAFKA_CLIENT, 'sh', '-c', 'echo "bootstrap.servers=$KAFKA_BROKERS_LIST"; exit 4'],
        env: cleanEnv({ PATH: PATH_WITH_BIN, KAFKA_SRV: '_broker._tcp.kafka.mesos', KAFKA_DNS_SERVER: dns.address }),
      });
      expect(result.stdout).toBe('bootstrap.servers=kafka-0-broker.kafka.mesos:1025\n');
      expect(result.code).toBe(4);
    } finally {
      await dns.close();
    }
  });

  it('refuses to start without a source', async () => {
    const result = await runEnv([], { command: [KAFKA_CLIENT, 'true'], env: cleanEnv({ PATH: PATH_WITH_BIN }) });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('KAFKA_ZK');
  });

  describe.skipIf(!zooKeeperAvailable())(`from ZooKeeper ${zooKeeperMissingReason()}`, () => {
    let zk: ZooKeeperServer;
    const brokers: KafkaBrokerHandle[] = [];
    beforeAll(async () => {
      zk = await startZooKeeper();
    }, 90_000);
    afterAll(async () => {
      for (const b of brokers) await b.stop();
      await zk?.destroy();
    });

    it('waits for the brokers Kafka registers, then runs the client with them', async () => {
      const run = runEnv([], {
        command: [KAFKA_CLIENT, 'sh', '-c', 'echo "$KAFKA_BROKERS_LIST"'],
        env: cleanEnv({ PATH: PATH_WITH_BIN, KAFKA_ZK: zk.url('/dcos-service-kafka'), KAFKA_MIN_BROKERS: '2', KAFKA_WAIT: '60s' }),
      });
      brokers.push(await writeKafkaBroker(zk.connectString, '/dcos-service-kafka', 1, { host: '10.0.0.217', port: 10056 }));
      brokers.push(await writeKafkaBroker(zk.connectString, '/dcos-service-kafka', 0, { host: '10.0.0.211', port: 9843 }));
      const result = await run;
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe('10.0.0.211:9843,10.0.0.217:10056\n');
    });
  });
});
