import { describe, expect, it } from 'vitest';
import {
  appIdFromSafePath,
  appIdFromTaskId,
  instanceIdOfTask,
  isPodTaskId,
  safePath,
  taskMatchesInstance,
} from '../src/ids.js';

const UUID = '0139427f-b042-11e8-9638-0242ac12001f';

describe('safePath', () => {
  it.each([
    ['/prod/db/mysql', 'prod_db_mysql'],
    ['/pywebserver', 'pywebserver'],
    ['/asgard-dev/bla', 'asgard-dev_bla'],
  ])('%s <-> %s', (appId, safe) => {
    expect(safePath(appId)).toBe(safe);
    expect(appIdFromSafePath(safe)).toBe(appId);
  });
});

describe('appIdFromTaskId', () => {
  it.each([
    [`prod_db_mysql.${UUID}`, '/prod/db/mysql'],
    [`prod_db_mysql.instance-${UUID}._app.1`, '/prod/db/mysql'],
    [`prod_db_mysql.instance-${UUID}._app.12`, '/prod/db/mysql'],
    [`prod_db_mysql.marathon-${UUID}`, '/prod/db/mysql'],
    [`prod_db_mysql.instance-${UUID}`, '/prod/db/mysql'],
    [`asgard-dev_bla.${UUID}`, '/asgard-dev/bla'],
    ['nginx-green.01da9a15-68a7-11e7-a229-e6a514ca0c21', '/nginx-green'],
    ['my-app_0-1396592784349', '/my-app'],
    [`pod-with-virtual-network.instance-${UUID}.sleep1`, '/pod-with-virtual-network'],
    // Dots are legal inside a segment.
    [`my.app.${UUID}`, '/my.app'],
  ])('%s -> %s', (taskId, appId) => {
    expect(appIdFromTaskId(taskId)).toBe(appId);
  });

  it.each(['', 'nodots', '.', 42 as unknown as string])('gives undefined for %j', (taskId) => {
    expect(appIdFromTaskId(taskId)).toBeUndefined();
  });
});

describe('instanceIdOfTask', () => {
  it.each([
    [`x.${UUID}`, `x.marathon-${UUID}`],
    [`a_b.${UUID}`, `a_b.marathon-${UUID}`],
    [`x.instance-${UUID}._app.1`, `x.instance-${UUID}`],
    [`x.instance-${UUID}._app.2`, `x.instance-${UUID}`],
    [`x.instance-${UUID}`, `x.instance-${UUID}`],
    [`x.marathon-${UUID}`, `x.marathon-${UUID}`],
    [`pod.instance-${UUID}.sleep1`, `pod.instance-${UUID}`],
  ])('%s -> %s', (taskId, instanceId) => {
    expect(instanceIdOfTask(taskId)).toBe(instanceId);
  });

  it('gives undefined for an id without a separator', () => {
    expect(instanceIdOfTask('nodots')).toBeUndefined();
  });
});

describe('taskMatchesInstance', () => {
  it.each([
    // ≤1.7: task x.<uuid> belongs to instance x.marathon-<uuid>
    [`x.${UUID}`, `x.marathon-${UUID}`, true],
    [`x.${UUID}`, `x.${UUID}`, true],
    [`x.${UUID}`, `x.marathon-00000000-b042-11e8-9638-0242ac12001f`, false],
    [`x.${UUID}`, `y.marathon-${UUID}`, false],
    // 1.8+: task x.instance-<uuid>._app.N belongs to instance x.instance-<uuid>
    [`x.instance-${UUID}._app.1`, `x.instance-${UUID}`, true],
    [`x.instance-${UUID}._app.3`, `x.instance-${UUID}._app.1`, true],
    [`x.instance-${UUID}._app.1`, `x.instance-11111111-b042-11e8-9638-0242ac12001f`, false],
    // an instance- id is not the marathon- instance of a legacy task
    [`x.${UUID}`, `x.instance-${UUID}`, false],
    ['nodots', 'nodots', true],
    ['nodots', 'other', false],
  ])('%s matches %s: %s', (taskId, other, expected) => {
    expect(taskMatchesInstance(taskId, other)).toBe(expected);
  });
});

describe('isPodTaskId', () => {
  it.each([
    [`pod.instance-${UUID}.sleep1`, true],
    [`pod.instance-${UUID}.sleep1.2`, true],
    [`app.instance-${UUID}._app.1`, false],
    [`app.${UUID}`, false],
    [`app.instance-${UUID}`, false],
  ])('%s -> %s', (taskId, expected) => {
    expect(isPodTaskId(taskId)).toBe(expected);
  });
});
