// The environment Marathon gives an app's task (reference §5, TaskBuilder/EnvironmentHelper). Pure.
import type { SimApp, SimTask } from './cluster.js';

/** App env or label that puts an exec'd task on a chosen loopback host, e.g. `BATON_SIM_HOST=127.0.0.2`. */
export const HOST_OVERRIDE = 'BATON_SIM_HOST';

export function hostOverride(app: SimApp): string | undefined {
  const env = app.def.env as Record<string, unknown> | undefined;
  const labels = app.def.labels as Record<string, string> | undefined;
  const value = typeof env?.[HOST_OVERRIDE] === 'string' ? (env[HOST_OVERRIDE] as string) : labels?.[HOST_OVERRIDE];
  return value && value.trim() !== '' ? value.trim() : undefined;
}

/** The value Marathon exports as `PORTn`: the host port, or the container port when there is none. */
export function portValues(app: SimApp, task: SimTask): number[] {
  const values: number[] = [];
  let hostIndex = 0;
  for (const spec of app.ports) {
    if (spec.hostPort !== undefined) values.push(task.ports[hostIndex++]);
    else values.push(spec.containerPort ?? 0);
  }
  return values;
}

export function taskEnvironment(app: SimApp, task: SimTask): Record<string, string> {
  const env: Record<string, string> = {};
  const ports = portValues(app, task);
  env.HOST = task.host;
  ports.forEach((port, i) => (env[`PORT${i}`] = String(port)));
  if (ports.length > 0) {
    env.PORT = String(ports[0]);
    env.PORTS = ports.join(',');
  }
  app.ports.forEach((spec, i) => {
    if (spec.name) env[`PORT_${spec.name.toUpperCase()}`] = String(ports[i]);
    // PORT_<requested port> for explicitly requested ports.
    const requested = app.mode === 'host' ? (app.def.requirePorts === true ? spec.servicePort : 0) : spec.containerPort ?? 0;
    if (requested && requested > 0) env[`PORT_${requested}`] = String(ports[i]);
  });
  env.MARATHON_APP_ID = app.id;
  env.MARATHON_APP_VERSION = task.version;
  const container = app.def.container as { docker?: { image?: string } } | undefined;
  if (container?.docker?.image) env.MARATHON_APP_DOCKER_IMAGE = container.docker.image;
  env.MARATHON_APP_RESOURCE_CPUS = String(app.def.cpus ?? 1);
  env.MARATHON_APP_RESOURCE_MEM = String(app.def.mem ?? 128);
  env.MARATHON_APP_RESOURCE_DISK = String(app.def.disk ?? 0);
  env.MARATHON_APP_RESOURCE_GPUS = String(app.def.gpus ?? 0);
  env.MESOS_TASK_ID = task.id;
  const labels = (app.def.labels as Record<string, string>) ?? {};
  const kept = Object.entries(labels).filter(([k, v]) => k.length < 493 && v.length < 512);
  const sanitized = kept.map(([k, v]) => [k.replace(/[^a-zA-Z0-9_]+/g, '_').toUpperCase(), v] as const);
  env.MARATHON_APP_LABELS = sanitized.map(([k]) => k).join(' ');
  for (const [k, v] of sanitized) env[`MARATHON_APP_LABEL_${k}`] = v;
  // The app's own env overrides everything; secret references ({"secret": …}) are not resolved.
  for (const [k, v] of Object.entries((app.def.env as Record<string, unknown>) ?? {})) {
    if (typeof v === 'string') env[k] = v;
  }
  return env;
}
