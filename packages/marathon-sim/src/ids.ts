// Marathon and Mesos identifiers: app ids, task and instance ids, agent ids, derived names.
import { randomUUID } from 'node:crypto';

export type IdFormat = '1.8' | '1.7';

const SEGMENT = /^(([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9-]*[a-z0-9])$/;
const RESERVED_LAST = new Set(['restart', 'tasks', 'versions']);

/** Makes an app id absolute and canonical (`prod/db/mysql/` → `/prod/db/mysql`). */
export function canonicalAppId(raw: string): string {
  const segments = raw.split('/').filter((s) => s !== '');
  return '/' + segments.join('/');
}

/** Returns an error message when the id is not a legal Marathon app id, else undefined. */
export function appIdError(id: string): string | undefined {
  const segments = id.split('/').filter((s) => s !== '');
  if (segments.length === 0) return 'path must not be empty';
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) {
      return `must fully match regular expression '^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$'`;
    }
  }
  if (RESERVED_LAST.has(segments[segments.length - 1])) return `must not end with ${segments[segments.length - 1]}`;
  return undefined;
}

/** `/prod/db/mysql` → `prod_db_mysql` (task id prefix). */
export function safePath(appId: string): string {
  return appId.split('/').filter((s) => s !== '').join('_');
}

/** `/prod/db/mysql` → `mysql.db.prod` (Mesos TaskInfo and DiscoveryInfo name). */
export function toHostname(appId: string): string {
  return appId.split('/').filter((s) => s !== '').reverse().join('.');
}

/** Parent group of an app: `/prod/db/mysql` → `/prod/db`, `/web` → `/`. */
export function parentGroup(appId: string): string {
  const at = appId.lastIndexOf('/');
  return at <= 0 ? '/' : appId.slice(0, at);
}

export interface TaskIdentity {
  instanceId: string;
  taskId: string;
}

/** Task and instance ids of one incarnation of an instance, in the chosen Marathon version's format. */
export function taskIdentity(appId: string, uuid: string, incarnation: number, format: IdFormat): TaskIdentity {
  const prefix = safePath(appId);
  if (format === '1.7') return { instanceId: `${prefix}.marathon-${uuid}`, taskId: `${prefix}.${uuid}` };
  const instanceId = `${prefix}.instance-${uuid}`;
  return { instanceId, taskId: `${instanceId}._app.${incarnation}` };
}

export function newUuid(): string {
  return randomUUID();
}
