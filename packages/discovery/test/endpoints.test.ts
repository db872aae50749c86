import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { appEndpoints, PortChoiceError } from '../src/endpoints.js';

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../../../fixtures/marathon/${name}`, import.meta.url), 'utf8')) as { apps: unknown[] };

describe('appEndpoints on real Marathon payloads', () => {
  it('reads a 1.5 bridge app: agent host and host port, port name resolved', () => {
    const [app] = fixture('rest-v2-apps-embed-tasks-marathon1.5-bridge-real.json').apps;
    const byName = appEndpoints(app, { portName: 'test' });
    expect(byName.portIndex).toBe(0);
    expect(byName.candidates).toEqual([
      expect.objectContaining({ taskId: 'pywebserver.8cad6a69-6ca8-11e7-beb2-0e2beceebfcc', host: '10.0.2.148', port: 1565, running: true, healthy: true }),
    ]);
  });

  it('reads health check results of a 1.5 app', () => {
    const [app] = fixture('rest-v2-apps-embed-tasks-marathon1.5-healthchecks-real.json').apps;
    const result = appEndpoints(app);
    expect(result.hasHealthChecks).toBe(true);
    expect(result.candidates.length).toBe(3);
    expect(result.candidates.every((c) => c.healthy && c.running && c.port !== undefined && c.startedAt)).toBe(true);
  });

  it('reads a pre-1.4 legacy docker app', () => {
    const [app] = fixture('rest-v2-apps-embed-tasks-pre1.4-legacy-docker-portMappings-real.json').apps;
    const result = appEndpoints(app);
    expect(result.candidates[0]).toMatchObject({ host: '10.0.6.25', port: 16916, startedAt: '2016-02-01T22:14:03.432Z' });
  });
});

describe('appEndpoints', () => {
  const hostApp = {
    id: '/meter',
    portDefinitions: [{ port: 10000, name: 'akka' }, { port: 10001, name: 'http' }],
    healthChecks: [{ protocol: 'HTTP' }],
    tasks: [
      { id: 't1', host: 'agent1', ports: [31000, 31001], state: 'TASK_RUNNING', startedAt: 'x', healthCheckResults: [{ alive: true }] },
      { id: 't2', host: 'agent2', ports: [31002, 31003], state: 'TASK_RUNNING', healthCheckResults: [{ alive: false }] },
      { id: 't3', host: 'agent3', ports: [], state: 'TASK_STAGING' },
      { id: 't4', host: 'agent4', ports: [31004, 31005], startedAt: '2024-01-01T00:00:00Z' },
      { host: 'no-id' },
      'garbage',
    ],
  };

  it('picks the port by index or by name', () => {
    expect(appEndpoints(hostApp, { portIndex: 1 }).candidates.map((c) => c.port)).toEqual([31001, 31003, undefined, 31005]);
    expect(appEndpoints(hostApp, { portName: 'http' }).candidates.map((c) => c.port)).toEqual([31001, 31003, undefined, 31005]);
  });

  it('derives running and healthy (no state + startedAt = running; no results with health checks = not healthy)', () => {
    const result = appEndpoints(hostApp);
    expect(result.candidates.map((c) => [c.taskId, c.running, c.healthy])).toEqual([
      ['t1', true, true],
      ['t2', true, false],
      ['t3', false, false],
      ['t4', true, false],
    ]);
  });

  it('counts every task as healthy for an app without health checks', () => {
    const result = appEndpoints({ ...hostApp, healthChecks: [] });
    expect(result.candidates.every((c) => c.healthy)).toBe(true);
  });

  it('uses the task IP and container port on container networks without a host port', () => {
    const app = {
      id: '/ipt',
      networks: [{ mode: 'container', name: 'dcos' }],
      container: { type: 'DOCKER', portMappings: [{ containerPort: 2551, name: 'remoting' }] },
      tasks: [{ id: 'x', host: 'agent1', ports: [], state: 'TASK_RUNNING', ipAddresses: [{ ipAddress: '9.0.0.7', protocol: 'IPv4' }] }],
    };
    expect(appEndpoints(app, { portName: 'remoting' }).candidates[0]).toMatchObject({ host: '9.0.0.7', port: 2551 });
  });

  it('uses legacy ipAddress.discovery ports', () => {
    const app = {
      id: '/legacy',
      ipAddress: { networkName: 'dcos', discovery: { ports: [{ number: 2552, name: 'akka', protocol: 'tcp' }] } },
      tasks: [{ id: 'x', host: 'agent1', ports: [], startedAt: 't', ipAddresses: [{ ipAddress: '9.0.0.8' }] }],
    };
    expect(appEndpoints(app).candidates[0]).toMatchObject({ host: '9.0.0.8', port: 2552, running: true });
  });

  it('reports a port name that does not exist, listing the names', () => {
    expect(() => appEndpoints(hostApp, { portName: 'grpc' })).toThrow(PortChoiceError);
    expect(() => appEndpoints(hostApp, { portName: 'grpc' })).toThrow('app /meter has no port named "grpc" (its ports: akka, http)');
  });

  it('reports a port index out of range', () => {
    expect(() => appEndpoints(hostApp, { portIndex: 2 })).toThrow('app /meter has 2 ports; --port-index 2 is out of range');
  });

  it('accepts an app without ports (hosts only)', () => {
    const result = appEndpoints({ id: '/noports', tasks: [{ id: 'a', host: 'h', state: 'TASK_RUNNING' }] });
    expect(result.portIndex).toBeUndefined();
    expect(result.candidates[0].host).toBe('h');
    expect(result.candidates[0].port).toBeUndefined();
  });

  it('never throws on malformed input', () => {
    for (const input of [null, 42, 'x', [], { tasks: 'no' }, { id: 3, tasks: [null, { id: 5 }] }]) {
      expect(appEndpoints(input).candidates).toEqual([]);
    }
  });
});
