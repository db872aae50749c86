// Every file in fixtures/marathon/ is read here and goes through the code that consumes its kind
// of payload; none may throw. Files that belong to later packages (ZooKeeper, DC/OS Kafka) are only
// JSON-parsed and checked for their key field.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeTask, tryNormalizeApp, tryNormalizeTask } from '../src/normalize.js';
import { isEventError, parseMarathonEvent, parseSse } from '../src/sse.js';
import { ClusterState, type ApplyResult } from '../src/state.js';
import type { MarathonEvent } from '../src/types.js';

const FIXTURES = new URL('../../../fixtures/marathon/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const json = (name: string): any => JSON.parse(read(name));
const allFiles = readdirSync(FIXTURES).sort();

// ------------------------------------------------------------------------------ REST app lists

const appLists: Record<string, (state: ClusterState) => void> = {
  'rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json': (state) => {
    const app = state.getApp('/pywebserver')!;
    expect(app.networkMode).toBe('container/bridge');
    expect(app.ports).toEqual([{ index: 0, servicePort: 10101, containerPort: 80, hostPort: 0, name: 'test', protocol: 'tcp', labels: {} }]);
    expect(app.labels).toEqual({ HAPROXY_GROUP: 'external', HAPROXY_0_VHOST: 'myvhost.com' });
    const tasks = state.tasksOf('/pywebserver');
    expect(tasks.length).toBe(1);
    expect(tasks[0]).toMatchObject({
      id: 'pywebserver.8cad6a69-6ca8-11e7-beb2-0e2beceebfcc',
      state: 'TASK_RUNNING',
      host: '10.0.2.148',
      ports: [1565],
      servicePorts: [10101],
      ipAddresses: [{ ipAddress: '172.17.0.2', protocol: 'IPv4' }],
      health: 'unknown',
    });
  },
  'rest-v2-apps-embed-tasks-marathon1.5-healthchecks-real.json': (state) => {
    const app = state.getApp('/nginx-green')!;
    expect(app.networkMode).toBe('container/bridge');
    expect(app.ports.map((p) => [p.servicePort, p.containerPort])).toEqual([[10000, 8080]]);
    expect(app.healthChecks).toEqual([{ protocol: 'MESOS_HTTP', path: '/', portIndex: 0, gracePeriodSeconds: 15, intervalSeconds: 3, timeoutSeconds: 15, maxConsecutiveFailures: 10 }]);
    expect(app.labels.HAPROXY_DEPLOYMENT_GROUP).toBe('nginx');
    const tasks = state.tasksOf('/nginx-green');
    expect(tasks.map((t) => t.ports[0])).toEqual([16916, 31184, 23336]);
    expect(tasks.every((t) => t.health === 'healthy' && t.host === '10.0.6.25')).toBe(true);
  },
  'rest-v2-apps-embed-tasks-pre1.4-legacy-docker-portMappings-real.json': (state) => {
    expect([...state.apps()].map((a) => a.id)).toEqual(['/nginx-green', '/nginx-blue']);
    const green = state.getApp('/nginx-green')!;
    expect(green.networkMode).toBe('container/bridge');
    expect(green.ports.map((p) => [p.servicePort, p.containerPort, p.hostPort])).toEqual([[10000, 8080, 0]]);
    expect(state.getApp('/nginx-blue')!.ports.map((p) => p.servicePort)).toEqual([10001]);
    // No `state` in these 2016 tasks: they have started, so they are running; health comes from
    // results keyed by `taskId`.
    const tasks = state.tasksOf('/nginx-green');
    expect(tasks.map((t) => [t.state, t.health])).toEqual([
      ['TASK_RUNNING', 'healthy'],
      ['TASK_RUNNING', 'healthy'],
      ['TASK_RUNNING', 'healthy'],
    ]);
    expect(state.getTask('nginx-blue.3a58a46a-c937-11e5-9836-026ee08d9f6f')).toMatchObject({
      ipAddresses: [{ ipAddress: '172.17.0.45', protocol: 'IPv4' }],
      ports: [25724],
      servicePorts: [10001],
      health: 'healthy',
    });
  },
  'rest-v2-apps-list-old-format.json': (state) => {
    const app = state.getApp('/myapp')!;
    expect(app.networkMode).toBe('host');
    expect(app.ports.map((p) => p.servicePort)).toEqual([10013, 10015]);
    expect(app.env).toEqual({ LD_LIBRARY_PATH: '/usr/local/lib/myLib' });
    expect(state.tasksOf('/myapp')).toEqual([]); // not embedded
  },
};

describe('REST app lists go through replaceAll', () => {
  it.each(Object.keys(appLists))('%s', (name) => {
    const state = new ClusterState();
    const change = state.replaceAll(json(name).apps);
    expect(change?.full).toBe(true);
    expect(state.lastSyncReport?.skipped).toEqual([]);
    appLists[name](state);
    // Applying the same payload again changes nothing.
    expect(state.replaceAll(json(name).apps)).toBeUndefined();
    // The response text, parsed app by app, gives the same state.
    const fromText = new ClusterState();
    expect(fromText.replaceAllFromJson(read(name)).error).toBeUndefined();
    expect([...fromText.apps()]).toEqual([...state.apps()]);
    for (const app of state.apps()) expect(fromText.tasksOf(app.id)).toEqual(state.tasksOf(app.id));
  });

  it('rest-v2-groups.json: the group tree goes through replaceGroup', () => {
    const apps: unknown[] = [];
    const walk = (group: any): void => {
      apps.push(...(group.apps ?? []));
      for (const sub of group.groups ?? []) walk(sub);
    };
    const tree = json('rest-v2-groups.json');
    walk(tree);
    const state = new ClusterState();
    expect(state.replaceGroup(tree.id, apps)?.appIds.sort()).toEqual(['/tools/datadog-agent', '/tools/docker/registry', '/tools/oauth-server']);
    expect(state.getApp('/tools/oauth-server')).toMatchObject({ networkMode: 'host', ports: [{ servicePort: 1980 }] });
    expect(state.getApp('/tools/docker/registry')).toMatchObject({ networkMode: 'container/bridge', ports: [{ servicePort: 5000, containerPort: 5000 }] });
  });

  it('app-definition-full.json (a request body mixing shapes) normalises', () => {
    const { app, tasks, error } = tryNormalizeApp(json('app-definition-full.json'));
    expect(error).toBeUndefined();
    expect(tasks).toBeUndefined();
    expect(app).toMatchObject({ id: '/foo', instances: 2, env: { XPS1: 'Test', XPS2: 'Rest' }, labels: { owner: 'zeus' } });
    // Legacy ipAddress makes it IP-per-task; the docker portMappings carry the ports.
    expect(app?.networkMode).toBe('container');
    expect(app?.ports).toEqual([{ index: 0, servicePort: 10019, containerPort: 80, hostPort: 0, name: 'http', protocol: 'tcp', labels: { vip: '192.168.0.1:80' } }]);
    expect(app?.healthChecks[0]).toMatchObject({ protocol: 'HTTP', intervalSeconds: 20, gracePeriodSeconds: 300 });
  });

  it('pod-definition.json is not an app but does not throw', () => {
    const pod = json('pod-definition.json');
    expect(pod.id).toBe('/foo');
    expect(Array.isArray(pod.containers)).toBe(true);
    expect(tryNormalizeApp(pod).app?.ports).toEqual([]);
  });

  it('rest-v2-deployments.json: its plan names the apps to refetch, not the pods', () => {
    const [deployment] = json('rest-v2-deployments.json');
    const state = new ClusterState();
    const result = state.applyEvent({ eventType: 'deployment_info', plan: deployment, currentStep: { actions: deployment.currentActions } });
    expect(result).toEqual({ refetch: ['/foo'], refetchGroups: [] });
  });

  it('rest-v2-info.json: the leader', () => {
    const info = json('rest-v2-info.json');
    const state = new ClusterState();
    expect(state.setLeader(info.leader)?.reason).toBe('leader');
    expect(state.leader).toBe('localhost:8080');
  });
});

// ------------------------------------------------------------------------------------ tasks

describe('task payloads go through normalizeTask', () => {
  it('rest-v2-tasks.json', () => {
    const tasks = json('rest-v2-tasks.json').tasks.map((t: any) => normalizeTask(t));
    expect(tasks.map((t: any) => [t.appId, t.state, t.host, t.ports, t.servicePorts])).toEqual([
      ['/frontend-foosball', 'TASK_RUNNING', 'srv4.example.com', [31292], [10019]],
      ['/tools/docker/registry', 'TASK_RUNNING', 'srv2.example.com', [31721], [5000]],
    ]);
  });

  it('rest-v2-apps-id-tasks.json', () => {
    const [task] = json('rest-v2-apps-id-tasks.json').tasks.map((t: any) => normalizeTask(t));
    expect(task).toMatchObject({ appId: '/minecraft/survival-world', state: 'TASK_STAGING', slaveId: 'agent0', ports: [31756], ipAddresses: [] });
  });

  it('rest-v2-apps-id-tasks-taskid.json', () => {
    const { task, error } = tryNormalizeTask(json('rest-v2-apps-id-tasks-taskid.json').task);
    expect(error).toBeUndefined();
    expect(task).toMatchObject({ id: 'minecraft_survival-world.instance-564bd685-4c30-11e5-98c1-be5b2935a987', host: 'srv7.hw.ca1.mesosphere.com' });
  });
});

// ----------------------------------------------------------------------------------- events

const MY_APP_TASK = 'my-app.instance-c7c311a4-b669-11e6-a48f-0ea4f4b1778c._app.1';
const FOO_TASK = 'foo.0664256e-6771-11e5-94e1-be5b2935a987';
const BLA_TASK = 'asgard-dev_bla.0139427f-b042-11e8-9638-0242ac12001f';

/** Apps and tasks the events in the fixtures talk about. */
function fixtureState(): ClusterState {
  const state = new ClusterState();
  state.replaceAll([
    { id: '/my-app', portDefinitions: [{ port: 10001 }], healthChecks: [{ protocol: 'HTTP' }], tasks: [{ id: MY_APP_TASK, host: 'a1', state: 'TASK_RUNNING', healthCheckResults: [{ alive: false }] }] },
    { id: '/foo', tasks: [{ id: FOO_TASK, host: 'srv5', state: 'TASK_STAGING' }] },
    { id: '/asgard-dev/bla', tasks: [{ id: BLA_TASK, host: '172.18.0.51', state: 'TASK_RUNNING' }] },
  ]);
  return state;
}

const nothing = (_state: ClusterState, result: ApplyResult): void => {
  expect(result).toEqual({ refetch: [], refetchGroups: [] });
};
const refetches = (...ids: string[]) => (_state: ClusterState, result: ApplyResult): void => {
  expect(result).toEqual({ refetch: ids, refetchGroups: [] });
};
const appliesAndRefetches = (id: string) => (state: ClusterState, result: ApplyResult): void => {
  expect(result.refetch).toEqual([id]);
  expect(result.change?.appIds).toEqual([id]);
  expect(state.getApp(id)?.id).toBe(id);
};
const removes = (taskId: string, appId: string) => (state: ClusterState, result: ApplyResult): void => {
  expect(result.change?.appIds).toEqual([appId]);
  expect(state.getTask(taskId)).toBeUndefined();
};
const makesHealthy = (state: ClusterState, result: ApplyResult): void => {
  expect(result.change?.appIds).toEqual(['/my-app']);
  expect(state.getTask(MY_APP_TASK)?.health).toBe('healthy');
};

const events: Record<string, (state: ClusterState, result: ApplyResult) => void> = {
  'event-bus-doc-add_health_check_event.json': nothing,
  'event-bus-doc-api_post_event.json': appliesAndRefetches('/my-app'),
  'event-bus-doc-app_terminated_event.json': refetches('/my-app'),
  'event-bus-doc-deployment_failed.json': nothing, // the docs' version carries no plan
  'event-bus-doc-deployment_info.json': refetches('/my-app'),
  'event-bus-doc-deployment_step_failure.json': refetches('/my-app'),
  'event-bus-doc-deployment_step_success.json': refetches('/my-app'),
  'event-bus-doc-deployment_success.json': nothing,
  'event-bus-doc-event_stream_attached.json': nothing,
  'event-bus-doc-event_stream_detached.json': nothing,
  'event-bus-doc-failed_health_check_event.json': nothing,
  'event-bus-doc-framework_message_event.json': nothing,
  'event-bus-doc-group_change_failed.json': nothing,
  'event-bus-doc-group_change_success.json': (_state, result) => {
    expect(result).toEqual({ refetch: [], refetchGroups: ['/product-a/backend'] });
  },
  'event-bus-doc-health_status_changed_event.json': makesHealthy,
  'event-bus-doc-instance_changed_event.json': nothing, // condition Running
  // runSpecId `/app-id` disagrees with the instance id in the docs; the instance id's app is used.
  'event-bus-doc-instance_health_changed_event.json': makesHealthy,
  'event-bus-doc-pod_created_event.json': nothing,
  'event-bus-doc-pod_deleted_event.json': nothing,
  'event-bus-doc-pod_updated_event.json': nothing,
  'event-bus-doc-remove_health_check_event.json': nothing,
  'event-bus-doc-status_update_event.json': (state, result) => {
    expect(result).toMatchObject({ change: { appIds: ['/my-app'] }, refetch: [] });
    expect(state.getTask('my-app_0-1396592784349')).toMatchObject({
      appId: '/my-app',
      state: 'TASK_RUNNING',
      host: 'slave-1234.acme.org',
      ports: [31372],
      servicePorts: [10001],
      startedAt: '2014-03-01T23:29:30.158Z',
    });
  },
  'event-bus-doc-subscribe_event.json': nothing,
  'event-bus-doc-unhealthy_instance_kill_event.json': nothing,
  'event-bus-doc-unhealthy_task_kill_event.json': nothing,
  'event-bus-doc-unknown_instance_terminated_event.json': nothing,
  'event-bus-doc-unsubscribe_event.json': nothing,
  'event-docs-event_stream_attached.json': nothing,
  'event-docs-status_update_event-TASK_FAILED.json': removes(FOO_TASK, '/foo'),
  'event-docs-status_update_event-TASK_RUNNING.json': (state, result) => {
    // /test-app is not known: the task is recorded and the app refetched.
    expect(result.refetch).toEqual(['/test-app']);
    expect(state.getTask('test-app.5dd78972-6771-11e5-94e1-be5b2935a987')?.host).toBe('srv4.hw.ca1.mesosphere.com');
  },
  'event-real-api_post_event.json': appliesAndRefetches('/asgard-dev/bla'),
  'event-real-event_stream_attached.json': nothing,
  'event-real-group_change_success.json': (_state, result) => {
    expect(result).toEqual({ refetch: [], refetchGroups: ['/asgard-dev'] });
  },
  'event-real-instance_changed_event-Killed.json': removes(BLA_TASK, '/asgard-dev/bla'),
  'event-real-pod-instance_changed_event-Created.json': nothing,
  'event-real-pod-instance_changed_event-Failed.json': nothing,
  'event-real-pod-status_update_event-TASK_KILLING.json': nothing, // pods are not served
  'event-real-status_update_event-TASK_KILLED.json': removes(BLA_TASK, '/asgard-dev/bla'),
};

describe('event fixtures go through applyEvent', () => {
  it.each(Object.keys(events))('%s', (name) => {
    const state = fixtureState();
    const result = state.applyEvent(json(name) as MarathonEvent);
    expect(result.error).toBeUndefined();
    events[name](state, result);
  });

  it("the real api_post_event's app definition (1.4 style, BRIDGE without mappings) normalises", () => {
    const { app } = tryNormalizeApp(json('event-real-api_post_event.json').appDefinition);
    expect(app).toMatchObject({ id: '/asgard-dev/bla', instances: 0, networkMode: 'container/bridge', ports: [{ servicePort: 10006, name: 'default' }] });
  });
});

// -------------------------------------------------------------------------------- SSE captures

const sseCaptures: Record<string, string[]> = {
  'sse-stream-docs-events.txt': ['event_stream_attached', 'status_update_event', 'status_update_event'],
  'sse-stream-real-async-worker-single-event.txt': ['event_stream_attached'],
  'sse-stream-real-async-worker-multi-event.txt': ['group_change_success', 'api_post_event', 'status_update_event', 'instance_changed_event'],
};

describe('SSE captures (parsed by ./sse.js) go through applyEvent', () => {
  it.each(Object.keys(sseCaptures))('%s', (name) => {
    const state = fixtureState();
    const parsed = parseSse(read(name)).map(parseMarathonEvent);
    const events = parsed.filter((e): e is MarathonEvent => !isEventError(e));
    expect(events.length).toBe(parsed.length);
    expect(events.map((e) => e.eventType)).toEqual(sseCaptures[name]);
    const results = events.map((e) => state.applyEvent(e));
    expect(results.map((r) => r.error)).toEqual(results.map(() => undefined));
  });

  it('the multi-event capture refetches /asgard-dev and removes the killed task', () => {
    const state = fixtureState();
    const results = parseSse(read('sse-stream-real-async-worker-multi-event.txt'))
      .map(parseMarathonEvent)
      .map((e) => state.applyEvent(e as MarathonEvent));
    expect(results.flatMap((r) => r.refetchGroups)).toEqual(['/asgard-dev']);
    expect(results.flatMap((r) => r.refetch)).toEqual(['/asgard-dev/bla']);
    expect(state.getTask(BLA_TASK)).toBeUndefined();
  });
});

// ------------------------------------------------------------------ files for later packages

const otherFiles: Record<string, (text: string) => void> = {
  'dcos-kafka-1.x-connection.json': (text) => expect(JSON.parse(text).zookeeper).toBe('master.mesos:2181/dcos-service-kafka'),
  'dcos-kafka-2.x-endpoints-broker-autoip.json': (text) => expect(JSON.parse(text).dns[0]).toBe('kafka-0-broker.kafka.autoip.dcos.thisdcos.directory:1028'),
  'dcos-kafka-2.x-endpoints-broker-mesos-dns.json': (text) => expect(JSON.parse(text).address).toHaveLength(3),
  'dcos-kafka-2.x-endpoints-zookeeper.txt': (text) => expect(text.trim()).toBe('master.mesos:2181/dcos-service-kafka'),
  'zk-kafka-brokers-ids-0-v4-two-listeners.json': (text) => expect(JSON.parse(text).endpoints).toEqual(['PLAINTEXT://kafka:443', 'INTERNAL://localhost:9093']),
  'zk-kafka-brokers-ids-0-v4.json': (text) => expect(JSON.parse(text)).toMatchObject({ version: 4, port: 9093 }),
  'zk-kafka-controller.json': (text) => expect(JSON.parse(text).brokerid).toBe(0),
  'zk-mesos-json.info_0000000000-mesos1.0.1.json': (text) => expect(JSON.parse(text)).toMatchObject({ ip: 3892422848, version: '1.0.1' }),
  'zk-mesos-json.info_0000000017-mesos1.4.0.json': (text) => expect(JSON.parse(text)).toMatchObject({ ip: 16777343, pid: 'master@127.0.0.1:5050' }),
  'SOURCES.md': (text) => {
    for (const name of ['rest-v2-tasks.json', 'app-definition-full.json', 'pod-definition.json']) expect(text).toContain(name);
  },
};

describe('files for later packages are parsed', () => {
  it.each(Object.keys(otherFiles))('%s', (name) => {
    otherFiles[name](read(name));
  });
});

describe('coverage', () => {
  it('every fixture file is handled by a test above', () => {
    const handled = new Set([
      ...Object.keys(appLists),
      'rest-v2-groups.json',
      'app-definition-full.json',
      'pod-definition.json',
      'rest-v2-deployments.json',
      'rest-v2-info.json',
      'rest-v2-tasks.json',
      'rest-v2-apps-id-tasks.json',
      'rest-v2-apps-id-tasks-taskid.json',
      ...Object.keys(events),
      ...Object.keys(sseCaptures),
      ...Object.keys(otherFiles),
    ]);
    expect(allFiles.length).toBeGreaterThan(50);
    expect(allFiles.filter((name) => !handled.has(name))).toEqual([]);
  });
});
