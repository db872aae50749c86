import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from 'node:net';
import { MarathonSimulator } from '../src/index.js';
import { http, openEvents, waitFor, type SseConnection } from './helpers.js';

describe('/v2/events', () => {
  let sim: MarathonSimulator;
  const open: SseConnection[] = [];
  const track = (c: SseConnection) => (open.push(c), c);
  beforeAll(async () => {
    sim = new MarathonSimulator({ faces: 3, heartbeatMs: 50, taskStartDelayMs: 5 });
    await sim.start();
  });
  afterAll(() => sim.stop());
  afterEach(async () => {
    for (const c of open.splice(0)) c.close();
    sim.resumeStreams();
    sim.shuffleEvents(false);
    sim.setLeader(0);
    for (const id of [...sim.cluster.apps.keys()]) await sim.deleteApp(id);
  });

  it('answers 405 unless Accept is exactly text/event-stream', async () => {
    for (const accept of ['text/event-stream, */*', '*/*', 'application/json']) {
      const res = await http('GET', `${sim.url}/v2/events`, undefined, { Accept: accept });
      expect(res.status, accept).toBe(405);
    }
    expect((await http('GET', `${sim.url}/v2/events`)).status).toBe(405);
  });

  it('streams CRLF frames with one data line, event_stream_attached first, with Marathon headers', async () => {
    const stream = track(await openEvents(`${sim.url}/v2/events?plan-format=light`));
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream;charset=UTF-8');
    expect(stream.headers.connection).toBe('close');
    expect(stream.headers['transfer-encoding']).toBeUndefined();
    expect(stream.headers['x-marathon-leader']).toBe(sim.url);
    await waitFor(() => stream.events().length > 0, 10_000, 'first event');
    const first = stream.events()[0];
    expect(first.event).toBe('event_stream_attached');
    expect(first.data).toMatchObject({ remoteAddress: '127.0.0.1', eventType: 'event_stream_attached' });
    expect(Object.keys(first.data)).toEqual(['remoteAddress', 'eventType', 'timestamp']);

    await sim.createApp({ id: '/sse' });
    await waitFor(() => stream.events().some((e) => e.event === 'deployment_success'), 10_000, 'deployment_success');
    const raw = stream.raw();
    // Every line ends with CRLF; frames are `event:`, one `data:`, blank.
    expect(raw.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
    for (const block of raw.split('\r\n\r\n').filter((b) => b.includes('event: '))) {
      const lines = block.split('\r\n').filter(Boolean);
      expect(lines[0]).toMatch(/^event: \w+$/);
      expect(lines.filter((l) => l.startsWith('data: '))).toHaveLength(1);
      expect(lines.some((l) => l.startsWith('id:') || l.startsWith('retry:'))).toBe(false);
    }
    const types = stream.events().map((e) => e.event);
    expect(types).toEqual(expect.arrayContaining(['group_change_success', 'api_post_event', 'deployment_info', 'status_update_event', 'instance_changed_event', 'deployment_step_success', 'deployment_success']));
    expect(types.indexOf('api_post_event')).toBeLessThan(types.indexOf('status_update_event'));
  });

  it('filters by repeated event_type parameters', async () => {
    const stream = track(await openEvents(`${sim.url}/v2/events?event_type=status_update_event&event_type=app_terminated_event`));
    await sim.createApp({ id: '/filtered' });
    await sim.waitForRunning('/filtered');
    await sim.deleteApp('/filtered');
    await waitFor(() => stream.events().some((e) => e.event === 'app_terminated_event'), 10_000, 'app_terminated_event');
    const types = new Set(stream.events().map((e) => e.event));
    expect([...types].sort()).toEqual(['app_terminated_event', 'status_update_event']);
  });

  it('orders status_update_event, instance_changed_event, then health events on a health change', async () => {
    await sim.createApp({ id: '/health', healthChecks: [{ protocol: 'HTTP', path: '/' }] });
    const [task] = await sim.waitForRunning('/health');
    await waitFor(() => sim.cluster.instanceHealthy(task) === true, 10_000, 'healthy');
    const stream = track(await openEvents(`${sim.url}/v2/events`));
    await waitFor(() => stream.events().length > 0, 10_000, 'attached');
    // Unhealthy through the control API, then kill it: the replacement starts and turns healthy.
    expect((await http('POST', `${sim.url}/_sim/tasks/${task.id}/health`, { healthy: false })).status).toBe(200);
    await waitFor(() => stream.events().some((e) => e.event === 'health_status_changed_event'), 10_000, 'unhealthy event');
    const unhealthy = stream.events().filter((e) => e.event.includes('health'));
    expect(unhealthy.map((e) => e.event)).toEqual(['instance_health_changed_event', 'health_status_changed_event']);
    expect(unhealthy[0].data).toMatchObject({ instanceId: task.instanceId, healthy: false, runSpecId: '/health' });
    expect(unhealthy[1].data).toMatchObject({ instanceId: task.instanceId, alive: false, appId: '/health' });
    const app = (await http('GET', `${sim.url}/v2/apps/health`)).json().app;
    expect(app).toMatchObject({ tasksHealthy: 0, tasksUnhealthy: 1 });
    expect(app.tasks[0].healthCheckResults[0]).toMatchObject({ alive: false, instanceId: task.instanceId });

    sim.killTask(task.id);
    await waitFor(() => stream.events().filter((e) => e.event === 'instance_health_changed_event').length === 2, 10_000, 'replacement healthy');
    const sequence = stream.events().map((e) => e.event);
    const running = sequence.findIndex((_, i) => stream.events()[i].event === 'status_update_event' && stream.events()[i].data.taskStatus === 'TASK_RUNNING');
    expect(sequence.slice(running, running + 4)).toEqual(['status_update_event', 'instance_changed_event', 'instance_health_changed_event', 'health_status_changed_event']);
  });

  it('can shuffle the order of events published together', async () => {
    expect((await http('POST', `${sim.url}/_sim/streams/order`, { shuffle: true })).status).toBe(200);
    const stream = track(await openEvents(`${sim.url}/v2/events?event_type=status_update_event&event_type=instance_changed_event`));
    await sim.createApp({ id: '/shuffled', instances: 20 });
    await sim.waitForRunning('/shuffled');
    await waitFor(() => stream.events().filter((e) => e.event === 'instance_changed_event' && e.data.condition === 'Running').length === 20, 10_000, 'all running');
    const events = stream.events();
    const swapped = sim.tasks('/shuffled').some((task) => {
      const status = events.findIndex((e) => e.event === 'status_update_event' && e.data.taskId === task.id && e.data.taskStatus === 'TASK_RUNNING');
      const changed = events.findIndex((e) => e.event === 'instance_changed_event' && e.data.instanceId === task.instanceId && e.data.condition === 'Running');
      return changed < status;
    });
    expect(swapped).toBe(true);
  });

  it('writes \\r\\n heartbeats', async () => {
    const stream = track(await openEvents(`${sim.url}/v2/events?event_type=none_such`));
    await waitFor(() => stream.raw().length >= 6, 10_000, 'three heartbeats');
    expect(stream.raw()).toMatch(/^(\r\n)+$/);
  });

  it('redirects /v2/events on a standby to the leader with the same query, and proxies other paths', async () => {
    const standby = sim.faceUrl(1);
    const res = await http('GET', `${standby}/v2/events?event_type=a&event_type=b&plan-format=light`, undefined, { Accept: 'text/event-stream' });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe(`${sim.faceUrl(0)}/v2/events?event_type=a&event_type=b&plan-format=light`);
    await sim.createApp({ id: '/via-standby' });
    const apps = await http('GET', `${standby}/v2/apps`);
    expect(apps.status).toBe(200);
    expect(apps.json().apps.map((a: any) => a.id)).toEqual(['/via-standby']);
    expect(apps.headers['x-marathon-leader']).toBe(sim.faceUrl(0));
    expect((await http('GET', `${standby}/v2/leader`)).json()).toEqual({ leader: sim.faceUrl(0).replace('http://', '') });
    expect((await http('GET', `${standby}/v2/info`)).json().elected).toBe(false);
  });

  it('closes every stream when the leader changes, and follows the new leader', async () => {
    const a = track(await openEvents(`${sim.url}/v2/events`));
    const b = track(await openEvents(`${sim.url}/v2/events`));
    const res = await http('POST', `${sim.url}/_sim/leader`, { face: 2 });
    expect(res.status).toBe(200);
    await waitFor(() => a.closed() && b.closed(), 10_000, 'streams closed');
    expect((await http('GET', `${sim.faceUrl(0)}/v2/leader`)).json()).toEqual({ leader: sim.faceUrl(2).replace('http://', '') });
    expect((await http('GET', `${sim.faceUrl(0)}/v2/events`, undefined, { Accept: 'text/event-stream' })).headers.location).toBe(`${sim.faceUrl(2)}/v2/events`);
    const c = track(await openEvents(`${sim.faceUrl(2)}/v2/events`));
    expect(c.status).toBe(200);

    // No leader at all.
    sim.setLeader(null);
    await waitFor(() => c.closed(), 10_000, 'closed on leadership loss');
    const none = await http('GET', `${sim.faceUrl(0)}/v2/leader`);
    expect(none.status).toBe(404);
    expect(none.json()).toEqual({ message: 'There is no leader' });
    expect((await http('GET', `${sim.faceUrl(1)}/v2/apps`)).status).toBe(502);
  });

  it('stalls streams (no bytes, connection open), resumes and drops them', async () => {
    const stream = track(await openEvents(`${sim.url}/v2/events`));
    await waitFor(() => stream.events().length > 0, 10_000, 'attached');
    await http('POST', `${sim.url}/_sim/streams/stall`, {});
    const before = stream.raw().length;
    await sim.createApp({ id: '/stalled' });
    await sim.waitForRunning('/stalled');
    // Several heartbeat periods pass without a byte.
    await new Promise((r) => setTimeout(r, 300));
    expect(stream.raw().length).toBe(before);
    expect(stream.closed()).toBe(false);
    await http('POST', `${sim.url}/_sim/streams/resume`, {});
    await waitFor(() => stream.raw().length > before, 10_000, 'bytes after resume');
    await http('POST', `${sim.url}/_sim/streams/drop`, {});
    await waitFor(() => stream.closed(), 10_000, 'dropped');
  });

  it('disconnects a client that stops reading', async () => {
    const small = new MarathonSimulator({ maxOutstandingMessages: 5, heartbeatMs: 0 });
    await small.start();
    try {
      const port = Number(new URL(small.url).port);
      const socket = connect({ host: '127.0.0.1', port });
      let closed = false;
      socket.on('close', () => (closed = true));
      socket.on('error', () => {});
      socket.write('GET /v2/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
      socket.pause();
      await waitFor(() => small.streams.size === 1, 10_000, 'attached');
      const big = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 400 && !closed && small.streams.size > 0; i++) {
        await small.createApp({ id: `/flood-${i}`, instances: 0, labels: { big } });
        await new Promise((r) => setImmediate(r));
      }
      expect(small.streams.size).toBe(0);
      socket.destroy();
    } finally {
      await small.stop();
    }
  });
});
