// Builders for Marathon event payloads, with the fields in the order Marathon writes them
// (reference §2, `EventFormats`). Pure: the caller passes the timestamp.
import type { MarathonEvent } from '@baton/marathon';

export interface IpAddress {
  ipAddress: string;
  protocol: 'IPv4' | 'IPv6';
}

export interface PlanAction {
  action: string;
  app: string;
}

export interface Plan {
  id: string;
  steps: { actions: PlanAction[] }[];
  version: string;
}

export function statusUpdateEvent(e: {
  slaveId: string; taskId: string; taskStatus: string; message: string; appId: string; host: string;
  ipAddresses: IpAddress[]; ports: number[]; version: string; timestamp: string;
}): MarathonEvent {
  return {
    slaveId: e.slaveId, taskId: e.taskId, taskStatus: e.taskStatus, message: e.message, appId: e.appId, host: e.host,
    ipAddresses: e.ipAddresses, ports: e.ports, version: e.version, eventType: 'status_update_event', timestamp: e.timestamp,
  };
}

export function instanceChangedEvent(e: {
  instanceId: string; condition: string; runSpecId: string; agentId: string | null; host: string | null;
  runSpecVersion: string; timestamp: string;
}): MarathonEvent {
  return {
    instanceId: e.instanceId, condition: e.condition, runSpecId: e.runSpecId, agentId: e.agentId, host: e.host,
    runSpecVersion: e.runSpecVersion, timestamp: e.timestamp, eventType: 'instance_changed_event',
  };
}

export function instanceHealthChangedEvent(e: {
  instanceId: string; runSpecId: string; healthy: boolean | null; runSpecVersion: string; timestamp: string;
}): MarathonEvent {
  return {
    instanceId: e.instanceId, runSpecId: e.runSpecId, healthy: e.healthy, runSpecVersion: e.runSpecVersion,
    timestamp: e.timestamp, eventType: 'instance_health_changed_event',
  };
}

export function healthStatusChangedEvent(e: {
  appId: string; instanceId: string; version: string; alive: boolean; timestamp: string;
}): MarathonEvent {
  return { appId: e.appId, instanceId: e.instanceId, version: e.version, alive: e.alive, eventType: 'health_status_changed_event', timestamp: e.timestamp };
}

export function failedHealthCheckEvent(e: { appId: string; healthCheck: unknown; instanceId: string; timestamp: string }): MarathonEvent {
  // Marathon puts the instance id in `taskId` (reference §2).
  return { appId: e.appId, eventType: 'failed_health_check_event', healthCheck: e.healthCheck, taskId: e.instanceId, timestamp: e.timestamp };
}

export function unhealthyInstanceKillEvent(e: {
  appId: string; taskId: string; instanceId: string; version: string; reason: string; host: string; slaveId: string; timestamp: string;
}): MarathonEvent {
  return {
    appId: e.appId, taskId: e.taskId, instanceId: e.instanceId, version: e.version, reason: e.reason, host: e.host,
    slaveId: e.slaveId, eventType: 'unhealthy_instance_kill_event', timestamp: e.timestamp,
  };
}

export function apiPostEvent(e: { clientIp: string; uri: string; appDefinition: unknown; timestamp: string }): MarathonEvent {
  return { clientIp: e.clientIp, uri: e.uri, appDefinition: e.appDefinition, eventType: 'api_post_event', timestamp: e.timestamp };
}

export function appTerminatedEvent(e: { appId: string; timestamp: string }): MarathonEvent {
  return { appId: e.appId, eventType: 'app_terminated_event', timestamp: e.timestamp };
}

export function groupChangeSuccessEvent(e: { groupId: string; version: string; timestamp: string }): MarathonEvent {
  return { groupId: e.groupId, version: e.version, eventType: 'group_change_success', timestamp: e.timestamp };
}

export function deploymentStepEvent(
  eventType: 'deployment_info' | 'deployment_step_success' | 'deployment_step_failure',
  e: { plan: Plan; currentStep: { actions: PlanAction[] }; timestamp: string },
): MarathonEvent {
  return { plan: e.plan, currentStep: e.currentStep, eventType, timestamp: e.timestamp };
}

export function deploymentSuccessEvent(e: { id: string; plan: Plan; timestamp: string }): MarathonEvent {
  return { id: e.id, plan: e.plan, eventType: 'deployment_success', timestamp: e.timestamp };
}

export function deploymentFailedEvent(e: { id: string; plan: Plan; timestamp: string; reason: string }): MarathonEvent {
  return { id: e.id, plan: e.plan, eventType: 'deployment_failed', timestamp: e.timestamp, reason: e.reason };
}

export function eventStreamAttachedEvent(e: { remoteAddress: string; timestamp: string }, detached = false): MarathonEvent {
  return { remoteAddress: e.remoteAddress, eventType: detached ? 'event_stream_detached' : 'event_stream_attached', timestamp: e.timestamp };
}

/** Marathon's instance condition for a Mesos task state. */
export function conditionOf(state: string): string {
  switch (state) {
    case 'TASK_STAGING': return 'Staging';
    case 'TASK_STARTING': return 'Starting';
    case 'TASK_RUNNING': return 'Running';
    case 'TASK_KILLING': return 'Killing';
    case 'TASK_KILLED': return 'Killed';
    case 'TASK_FINISHED': return 'Finished';
    case 'TASK_FAILED': return 'Failed';
    case 'TASK_ERROR': return 'Error';
    case 'TASK_LOST': return 'Unreachable';
    case 'TASK_UNREACHABLE': return 'Unreachable';
    case 'TASK_DROPPED': return 'Dropped';
    case 'TASK_GONE': case 'TASK_GONE_BY_OPERATOR': return 'Gone';
    default: return 'Unknown';
  }
}

export const TERMINAL_STATES = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR', 'TASK_UNKNOWN',
]);

/** One SSE frame as Jetty's EventSourceEmitter writes it: CRLF lines, one `data:` line. */
export function sseFrame(event: MarathonEvent): string {
  return `event: ${event.eventType}\r\ndata: ${JSON.stringify(event)}\r\n\r\n`;
}
