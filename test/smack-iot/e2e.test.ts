// The SMACK IoT demo end to end: the real launcher (examples/smack-iot/start.mjs) with baton-sim --exec,
// baton-dns, ZooKeeper (when installed), two baton-lb processes and the apps as real processes.
//
// Traffic: web → marathon-lb → meter (by vhost and by service port), simulator →
// marathon-lb-internal (found by its DNS name) → meter. Then meter is scaled up and down and a task
// is killed; DNS, both proxies and the meter cluster view must follow within FOLLOW_MS of the change
// being visible in Marathon, while a client loop through marathon-lb sees no failed request. Last,
// SIGINT must stop everything.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agent, alive, demoMissingReason, getJson, http, pgrep, processesWithTmpdir, startDemo, type Demo } from './demo-process.js';

/** The promise: DNS, proxies and the cluster view follow within a second… */
const FOLLOW_MS = 1_000;
/** …plus this margin for a loaded 2-core CI machine and our own polling (every 25 ms, each poll a few requests). */
const FOLLOW_TOLERANCE_MS = 1_000;
/**
 * A new meter instance has its seed list once its process has started (sh, baton-env's Marathon
 * lookup, node): allowed FOLLOW_MS plus this start-up margin for a loaded machine.
 */
const SEED_TOLERANCE_MS = 4_000;

interface Task {
  id: string;
  host: string;
  port: number;
  startedAt: number;
  stagedAt: number;
}
interface ClusterInfo {
  self: string;
  address: string;
  taskId: string;
  founder: boolean;
  seeds: string[];
  received: number;
}

const reason = demoMissingReason();

describe.skipIf(reason !== '')(`SMACK IoT demo end to end ${reason}`, () => {
  let demo: Demo;
  const resolver = new Resolver({ timeout: 1_000, tries: 1 });
  const report: string[] = [];

  beforeAll(async () => {
    demo = await startDemo();
    resolver.setServers([demo.dnsServer]);
  }, 300_000);

  afterAll(async () => {
    await demo?.interrupt();
    agent.destroy();
    if (report.length) console.info(`SMACK IoT e2e, observed:\n  ${report.join('\n  ')}`);
  }, 90_000);

  const ext = () => demo.ports.externalIp;
  const int = () => demo.ports.internalIp;
  const akka = (t: { host: string; port: number }) => `akka.tcp://meter@${t.host}:${t.port}`;
  const key = (t: { host: string; port: number }) => `${t.host}:${t.port}`;
  const sorted = (xs: Iterable<string>) => [...xs].sort();

  async function meterTasks(): Promise<Task[]> {
    const { tasks } = await getJson<{ tasks: any[] }>(`${demo.marathonUrl}/v2/apps/meter/tasks`);
    return tasks
      .filter((t) => t.state === 'TASK_RUNNING')
      .map((t) => ({ id: t.id, host: t.host, port: t.ports[0], startedAt: Date.parse(t.startedAt), stagedAt: Date.parse(t.stagedAt) }))
      // Oldest first, as baton-env orders seeds: startedAt, then stagedAt, then task id.
      .sort((a, b) => a.startedAt - b.startedAt || a.stagedAt - b.stagedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async function dnsView(): Promise<string[]> {
    const srv = await resolver.resolveSrv('_meter._tcp.marathon.mesos').catch(() => []);
    const out: string[] = [];
    for (const record of srv) {
      const [ip] = await resolver.resolve4(record.name);
      out.push(`${ip}:${record.port}`);
    }
    return sorted(out);
  }

  async function proxyView(adminHost: string, adminPort: number): Promise<string[]> {
    const status = await getJson<{ backends: { appId: string; servers: { host: string; port: number }[] }[] }>(`http://${adminHost}:${adminPort}/_baton/status`);
    const backend = status.backends.find((b) => b.appId === '/meter');
    return sorted((backend?.servers ?? []).map(key));
  }

  async function clusterView(): Promise<string[]> {
    const view = await getJson<{ members: { member: string }[] }>(`http://${ext()}:${demo.ports.meterPort}/cluster/members`);
    return sorted(view.members.map((m) => m.member));
  }

  /** Polls the four views until each equals `expected`; returns when each first did, in ms after `since`. */
  async function follow(expected: string[], since: number, label: string): Promise<Record<string, number>> {
    const views: Record<string, () => Promise<string[]>> = {
      'baton-dns SRV': dnsView,
      'marathon-lb': () => proxyView(ext(), demo.ports.externalAdminPort),
      'marathon-lb-internal': () => proxyView(int(), demo.ports.internalAdminPort),
      'meter cluster view': clusterView,
    };
    const seen: Record<string, number> = {};
    const last: Record<string, string[]> = {};
    const deadline = Date.now() + 30_000;
    while (Object.keys(seen).length < Object.keys(views).length && Date.now() < deadline) {
      await Promise.all(
        Object.entries(views)
          .filter(([name]) => !(name in seen))
          .map(async ([name, view]) => {
            last[name] = await view().catch((error) => [`error: ${error.message}`]);
            if (JSON.stringify(last[name]) === JSON.stringify(expected)) seen[name] = Date.now() - since;
          }),
      );
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const name of Object.keys(views)) {
      expect(last[name], `${label}: ${name} never showed the running tasks ${expected.join(', ')}`).toEqual(expected);
    }
    report.push(`${label}: ${Object.entries(seen).map(([name, ms]) => `${name} ${ms} ms`).join(', ')}`);
    for (const [name, ms] of Object.entries(seen)) {
      expect(ms, `${label}: ${name} followed after ${ms} ms`).toBeLessThanOrEqual(FOLLOW_MS + FOLLOW_TOLERANCE_MS);
    }
    return seen;
  }

  /** Waits for Marathon to run exactly `count` meter tasks that pass `accept`; returns them and when that was first seen. */
  async function waitForMeter(count: number, accept: (tasks: Task[]) => boolean = () => true): Promise<{ tasks: Task[]; seenAt: number }> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const tasks = await meterTasks();
      if (tasks.length === count && accept(tasks)) return { tasks, seenAt: Date.now() };
      if (Date.now() > deadline) throw new Error(`meter did not reach ${count} running tasks: ${tasks.map(key).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Each new instance's own /cluster: its seed list, read once at start as Akka does. */
  async function seedsOf(task: Task): Promise<{ info: ClusterInfo; delayMs: number }> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        const info = await getJson<ClusterInfo>(`http://${key(task)}/cluster`, { timeoutMs: 1_000 });
        return { info, delayMs: Date.now() - task.startedAt };
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`meter ${key(task)} never answered /cluster: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async function checkNewInstances(newTasks: Task[], runningBefore: Task[], label: string): Promise<void> {
    for (const task of newTasks) {
      const { info, delayMs } = await seedsOf(task);
      report.push(`${label}: ${key(task)} has its seed list ${delayMs} ms after TASK_RUNNING`);
      expect(info.taskId).toBe(task.id);
      expect(info.founder, `${key(task)} joins an existing cluster`).toBe(false);
      expect(info.seeds).toContain(akka(task));
      // Every task that was already running is a seed, the oldest of them first.
      expect(info.seeds[0]).toBe(akka(runningBefore[0]));
      for (const old of runningBefore) expect(info.seeds).toContain(akka(old));
      expect(delayMs).toBeLessThanOrEqual(FOLLOW_MS + SEED_TOLERANCE_MS);
    }
  }

  it('serves web and meter through marathon-lb by vhost and by service port, and web → marathon-lb → meter works', async () => {
    const { externalHttpPort, webPort, meterPort, simulatorPort } = demo.ports;
    const page = await http(`http://${ext()}:${webPort}/`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('SMACK IoT on baton');
    const byVhost = await http(`http://${ext()}:${externalHttpPort}/`, { host: 'web.example.com' });
    expect(byVhost.status).toBe(200);
    expect(byVhost.body).toBe(page.body);

    // What the page's script does: read config.json, then call meter and simulator through the external proxy.
    const config = await getJson<{ meterUrl: string; simulatorUrl: string }>(`http://${ext()}:${webPort}/config.json`);
    expect(config).toEqual({ meterUrl: `http://${ext()}:${meterPort}`, simulatorUrl: `http://${ext()}:${simulatorPort}` });
    const tasks = await meterTasks();
    expect(tasks).toHaveLength(3);
    const members = await getJson<{ members: (ClusterInfo & { member: string; ok: boolean })[] }>(`${config.meterUrl}/cluster/members`);
    expect(sorted(members.members.map((m) => m.member))).toEqual(sorted(tasks.map(key)));
    // Exactly the oldest task founded the cluster; every instance lists it first.
    for (const m of members.members) {
      expect(m.ok).toBe(true);
      expect(m.seeds[0]).toBe(akka(tasks[0]));
      expect(m.founder).toBe(m.member === key(tasks[0]));
    }
    const viaVhost = await getJson<ClusterInfo>(`http://${ext()}:${externalHttpPort}/cluster`, { host: 'meter.example.com' });
    expect(tasks.map(key)).toContain(viaVhost.address);
    const cors = await http(`${config.meterUrl}/cluster`);
    expect(cors.headers['access-control-allow-origin']).toBe('*');
    const simulator = await http(`${config.simulatorUrl}/status`);
    expect(simulator.status).toBe(200);
    expect(simulator.headers['access-control-allow-origin']).toBe('*');
  });

  it('sends readings simulator → marathon-lb-internal (by its baton-dns name) → meter, continuously', async () => {
    expect(await resolver.resolve4('marathon-lb-internal.marathon.mesos')).toEqual([int()]);
    expect(await resolver.resolve4('marathon-lb.marathon.mesos')).toEqual([ext()]);

    const status = () => getJson<any>(`http://${ext()}:${demo.ports.simulatorPort}/status`);
    const received = async () => (await getJson<{ members: ClusterInfo[] }>(`http://${ext()}:${demo.ports.meterPort}/cluster/members`)).members.reduce((sum, m) => sum + m.received, 0);
    const internalRequests = async () => {
      const csv = (await http(`http://${int()}:${demo.ports.internalAdminPort}/haproxy?stats;csv`)).body.split('\n');
      const header = csv[0].replace(/^# /, '').split(',');
      const row = csv.find((line) => /^meter_\d+,BACKEND,/.test(line))!.split(',');
      return Number(row[header.indexOf('hrsp_2xx')]);
    };

    const first = await status();
    expect(first.meter).toMatchObject({ host: 'marathon-lb-internal.marathon.mesos', port: demo.ports.meterPort, resolvedTo: int() });
    const [sent1, received1, internal1] = [first.sent, await received(), await internalRequests()];
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const second = await status();
    const [received2, internal2] = [await received(), await internalRequests()];
    expect(second.sent).toBeGreaterThan(sent1);
    expect(received2).toBeGreaterThan(received1);
    expect(internal2).toBeGreaterThan(internal1);
    // Every running meter instance gets readings from the internal proxy's round robin.
    const tasks = await meterTasks();
    for (const task of tasks) expect(second.servedBy[key(task)], `readings served by ${key(task)}`).toBeGreaterThan(0);
    report.push(`readings: simulator sent ${second.sent - sent1}, meter received ${received2 - received1}, marathon-lb-internal answered ${internal2 - internal1} requests in ~1.5 s`);

    // KAFKA_BROKERS_LIST, from `baton-env kafka` (ZooKeeper registrations, or DNS SRV without ZooKeeper): the two brokers.
    // With ZooKeeper they are the registered host:port; by SRV they are baton-dns names of the tasks.
    const { tasks: brokers } = await getJson<{ tasks: any[] }>(`${demo.marathonUrl}/v2/apps/kafka/tasks`);
    const listed = await Promise.all(
      (second.kafka.brokers as string[]).map(async (broker) => {
        const [name, port] = [broker.slice(0, broker.lastIndexOf(':')), broker.slice(broker.lastIndexOf(':') + 1)];
        const [ip] = isIP(name) ? [name] : await resolver.resolve4(name);
        return `${ip}:${port}`;
      }),
    );
    expect(sorted(listed)).toEqual(sorted(brokers.map((t) => `${t.host}:${t.ports[0]}`)));
    report.push(`KAFKA_BROKERS_LIST=${second.kafka.brokers.join(',')} (from ${second.kafka.source})`);
  });

  it('follows meter scaling up and down and a killed task in DNS, both proxies and the seed lists, with no failed request', async () => {
    // A client that keeps calling meter and web through marathon-lb during every change.
    const failures: string[] = [];
    let ok = 0;
    let running = true;
    const { externalHttpPort, meterPort, webPort } = demo.ports;
    const requests = [
      () => http(`http://${ext()}:${meterPort}/cluster`, { timeoutMs: 3_000 }),
      () => http(`http://${ext()}:${externalHttpPort}/health`, { host: 'meter.example.com', timeoutMs: 3_000 }),
      () => http(`http://${ext()}:${webPort}/config.json`, { timeoutMs: 3_000 }),
    ];
    const worker = async (offset: number) => {
      for (let i = offset; running; i++) {
        const started = Date.now();
        try {
          const res = await requests[i % requests.length]();
          if (res.status === 200) ok++;
          else failures.push(`HTTP ${res.status} ${res.body.slice(0, 100)} after ${Date.now() - started} ms`);
        } catch (error) {
          failures.push(`${(error as Error).message} after ${Date.now() - started} ms`);
        }
      }
    };
    const workers = [worker(0), worker(1)];
    try {
      const sentBefore = (await getJson<any>(`http://${ext()}:${demo.ports.simulatorPort}/status`)).sent;

      // Scale up to 5.
      const before = await meterTasks();
      expect(before).toHaveLength(3);
      await http(`${demo.marathonUrl}/v2/apps/meter`, { method: 'PUT', body: JSON.stringify({ instances: 5 }) });
      const up = await waitForMeter(5);
      const added = up.tasks.filter((t) => !before.some((b) => b.id === t.id));
      expect(added).toHaveLength(2);
      await follow(sorted(up.tasks.map(key)), Math.max(...added.map((t) => t.startedAt)), 'scale 3 → 5');
      await checkNewInstances(added, before, 'scale 3 → 5');

      // Scale down to 2.
      await http(`${demo.marathonUrl}/v2/apps/meter`, { method: 'PUT', body: JSON.stringify({ instances: 2 }) });
      const down = await waitForMeter(2);
      await follow(sorted(down.tasks.map(key)), down.seenAt, 'scale 5 → 2');

      // Kill the oldest task: Marathon replaces it.
      const victim = down.tasks[0];
      const survivor = down.tasks[1];
      const killed = await http(`${demo.marathonUrl}/v2/apps/meter/tasks/${encodeURIComponent(victim.id)}`, { method: 'DELETE' });
      expect(killed.status).toBe(200);
      const replaced = await waitForMeter(2, (tasks) => !tasks.some((t) => t.id === victim.id));
      const replacement = replaced.tasks.find((t) => t.id !== survivor.id)!;
      await follow(sorted(replaced.tasks.map(key)), Math.max(replaced.seenAt - 25, replacement.startedAt), 'kill a task');
      await checkNewInstances([replacement], [survivor], 'kill a task');
      const { info } = await seedsOf(replacement);
      expect(info.seeds).not.toContain(akka(victim));

      const sentAfter = (await getJson<any>(`http://${ext()}:${demo.ports.simulatorPort}/status`)).sent;
      expect(sentAfter).toBeGreaterThan(sentBefore);
    } finally {
      running = false;
      await Promise.all(workers);
    }
    const simulator = await getJson<any>(`http://${ext()}:${demo.ports.simulatorPort}/status`);
    report.push(`client loop through marathon-lb: ${ok} requests, ${failures.length} failed; simulator: ${simulator.retriedBatches} batches retried, ${simulator.failedBatches} failed`);
    expect(ok).toBeGreaterThan(50);
    expect(failures).toEqual([]);
  }, 180_000);

  it('stops on SIGINT and leaves no process behind', async () => {
    const tree = demo.processTree();
    const logDir = demo.logDir;
    expect(logDir).toMatch(/smack-iot-/);
    // launcher, baton-sim, baton-dns, the two proxies, meter ×2, simulator, web, kafka ×2 (+ ZooKeeper, shells).
    expect(tree.length).toBeGreaterThanOrEqual(11);
    expect(processesWithTmpdir(logDir).length).toBeGreaterThanOrEqual(8);

    const exit = await demo.interrupt();
    expect(exit).toBe(0);
    expect(demo.output()).toContain('smack-iot: stopped');

    expect(tree.filter(alive)).toEqual([]);
    expect(processesWithTmpdir(logDir)).toEqual([]);
    const { marathonPort, dnsPort } = demo.ports;
    expect(pgrep(`baton-sim.js .*--port ${marathonPort}`)).toEqual([]);
    expect(pgrep(`baton-dns.js .*--port ${dnsPort}`)).toEqual([]);
    expect(pgrep(`baton-lb.js --marathon http://127.0.0.1:${marathonPort}`)).toEqual([]);
    expect(pgrep(`${logDir}/zookeeper/zoo.cfg`)).toEqual([]);
    expect(pgrep(`${logDir}`)).toEqual([]);
  }, 90_000);
});
