// Marathon task and instance ids (reference §5):
//
//   version  instance id                      task id
//   ≤1.7     prod_db_mysql.marathon-<uuid>    prod_db_mysql.<uuid>
//   1.8+     prod_db_mysql.instance-<uuid>    prod_db_mysql.instance-<uuid>._app.<incarnation>
//   pods     <pod>.instance-<uuid>            <pod>.instance-<uuid>.<container>[.<n>]
//
// The prefix is the app id's `safePath` (segments joined with `_`, which is why `_` is not legal in
// app ids). Very old tasks (≤0.x) used `_` as the separator: `my-app_0-1396592784349`.

/** `/prod/db/mysql` → `prod_db_mysql`. */
export function safePath(appId: string): string {
  return appId.split('/').filter((segment) => segment !== '').join('_');
}

/** `prod_db_mysql` → `/prod/db/mysql`. */
export function appIdFromSafePath(safe: string): string {
  return '/' + safe.split('_').filter((segment) => segment !== '').join('/');
}

// `<prefix>.instance-<uuid>` or `<prefix>.marathon-<uuid>`, optionally followed by `.<rest>` (a task).
const INSTANCE_BASED = /^(.+?)\.(instance|marathon)-([^._]+)(?:\.(.+))?$/;
// `<prefix>.<uuid>` (≤1.7) or `<prefix>_<id>` (≤0.x): the last `.` or `_` separates them.
const LEGACY_TASK = /^(.+)[._]([^._]+)$/;

interface ParsedId {
  /** The safe-path prefix, e.g. `prod_db_mysql`. */
  prefix: string;
  /** Instance id this id belongs to (equal to the id itself when it is an instance id). */
  instanceId: string;
  /** The part after the instance id (`_app.1`, `sleep1`), undefined for instance ids and legacy tasks. */
  rest?: string;
}

function parseId(id: string): ParsedId | undefined {
  const instanceBased = INSTANCE_BASED.exec(id);
  if (instanceBased) {
    const [, prefix, kind, uuid, rest] = instanceBased;
    return { prefix, instanceId: `${prefix}.${kind}-${uuid}`, rest };
  }
  const legacy = LEGACY_TASK.exec(id);
  if (legacy) {
    const [, prefix, uuid] = legacy;
    return { prefix, instanceId: `${prefix}.marathon-${uuid}` };
  }
  return undefined;
}

/**
 * The app id a task (or instance) id belongs to: `prod_db_mysql.<uuid>` and
 * `prod_db_mysql.instance-<uuid>._app.1` both give `/prod/db/mysql`. Undefined when the id has no
 * recognisable shape.
 */
export function appIdFromTaskId(taskId: string): string | undefined {
  if (typeof taskId !== 'string') return undefined;
  const parsed = parseId(taskId);
  return parsed ? appIdFromSafePath(parsed.prefix) : undefined;
}

/**
 * The instance id of a task id: ≤1.7 `x.<uuid>` → `x.marathon-<uuid>`; 1.8+ `x.instance-<uuid>._app.N`
 * → `x.instance-<uuid>`. An instance id maps to itself. Undefined when the id has no recognisable shape.
 */
export function instanceIdOfTask(taskId: string): string | undefined {
  if (typeof taskId !== 'string') return undefined;
  return parseId(taskId)?.instanceId;
}

/**
 * True when `instanceOrTaskId` names this task, either as the same task id or as (a task of) its
 * instance. Health events carry an instance id (1.4+) or a task id (≤1.3); both find their task(s).
 */
export function taskMatchesInstance(taskId: string, instanceOrTaskId: string): boolean {
  if (taskId === instanceOrTaskId) return true;
  const instance = instanceIdOfTask(taskId);
  if (instance === undefined) return false;
  return instance === instanceOrTaskId || instance === instanceIdOfTask(instanceOrTaskId);
}

/**
 * True for task ids of pod containers (`<pod>.instance-<uuid>.<container>`), as opposed to app tasks
 * (`<app>.instance-<uuid>._app.<n>`). baton serves apps only; pod tasks are ignored.
 */
export function isPodTaskId(taskId: string): boolean {
  if (typeof taskId !== 'string' || !taskId.includes('.instance-')) return false;
  const parsed = parseId(taskId);
  return parsed?.rest !== undefined && !parsed.rest.startsWith('_app');
}
