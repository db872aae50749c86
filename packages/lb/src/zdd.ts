// marathon-lb's zero-downtime deployment merge (§8): apps that share HAPROXY_DEPLOYMENT_GROUP are served
// as one backend. Pure.

import type { App, Task } from '@baton/marathon';
import type { DeploymentLabels } from './labels.js';
import type { RouteProblem } from './route-table.js';

export interface DeploymentMember {
  app: App;
  tasks: readonly Task[];
  deployment: DeploymentLabels;
}

export interface MergedTask {
  task: Task;
  draining: boolean;
}

export interface MergedDeployment {
  /** `/<group>`: the id marathon-lb gives the merged app (backend `<group>_<port>`). */
  unitId: string;
  /** The oldest app: its labels, ports, health checks and network win. */
  base: App;
  /** Old tasks first (sorted by id), then the newer apps' tasks. */
  tasks: MergedTask[];
  memberAppIds: string[];
  problems: RouteProblem[];
}

/** marathon-lb's group id: a leading `/` is added when missing. */
export function deploymentUnitId(group: string): string {
  return group.startsWith('/') ? group : '/' + group;
}

/** How many old tasks drain: `min(len(old), healthyNew, max(0, healthyNew + oldInstances − target))`. */
export function drainCount(oldTasks: number, healthyNew: number, oldInstances: number, target: number): number {
  return Math.max(0, Math.min(oldTasks, healthyNew, Math.max(0, healthyNew + oldInstances - target)));
}

function startedAtOf(member: DeploymentMember): number {
  const parsed = member.deployment.startedAt === undefined ? Number.NaN : Date.parse(member.deployment.startedAt);
  return Number.isNaN(parsed) ? Number.NEGATIVE_INFINITY : parsed;
}

/**
 * Merges the apps of one deployment group. Members are taken oldest first by
 * HAPROXY_DEPLOYMENT_STARTED_AT (missing or unparsable = oldest; ties by app id), and folded as
 * marathon-lb folds them: each newer app's tasks join, and the rule above marks old tasks (sorted by
 * id) draining. `target` is the newer app's HAPROXY_DEPLOYMENT_TARGET_INSTANCES when it also has
 * HAPROXY_DEPLOYMENT_NEW_INSTANCES, else 1. Healthy new tasks are counted only when the newer app has
 * health checks; otherwise its instance count is used.
 */
export function mergeDeploymentGroup(group: string, members: DeploymentMember[]): MergedDeployment {
  const unitId = deploymentUnitId(group);
  const sorted = members
    .map((member) => ({ member, at: startedAtOf(member) }))
    .sort((a, b) => a.at - b.at || (a.member.app.id < b.member.app.id ? -1 : a.member.app.id > b.member.app.id ? 1 : 0))
    .map((entry) => entry.member);
  const problems: RouteProblem[] = [];
  const base = sorted[0];
  let tasks: MergedTask[] = base.tasks.map((task) => ({ task, draining: false }));

  for (const next of sorted.slice(1)) {
    let target = 1;
    if (next.deployment.newInstances !== undefined) {
      if (next.deployment.targetInstances !== undefined) {
        target = next.deployment.targetInstances;
      } else {
        // Without a usable target, drain nothing rather than too much.
        target = Number.POSITIVE_INFINITY;
        problems.push({
          appId: next.app.id,
          label: 'HAPROXY_DEPLOYMENT_TARGET_INSTANCES',
          kind: 'bad-label',
          message: `deployment group ${group}: HAPROXY_DEPLOYMENT_NEW_INSTANCES is set but HAPROXY_DEPLOYMENT_TARGET_INSTANCES is missing or not an integer; no old task is drained`,
          severity: 'warning',
        });
      }
    }
    const healthyNew =
      next.app.healthChecks.length > 0
        ? next.tasks.filter((task) => task.health === 'healthy').length
        : next.app.instances;
    const old = tasks.slice().sort((a, b) => (a.task.id < b.task.id ? -1 : a.task.id > b.task.id ? 1 : 0));
    const drain = drainCount(old.length, healthyNew, base.app.instances, target);
    for (let i = 0; i < drain; i++) old[i] = { task: old[i].task, draining: true };
    tasks = old.concat(next.tasks.map((task) => ({ task, draining: false })));
  }

  return { unitId, base: base.app, tasks, memberAppIds: sorted.map((m) => m.app.id), problems };
}
