// Where Marathon is, how to authenticate, and who "this node" is — from flags and the task environment.
// Pure: the environment is passed in.

import { parseDuration as parseDurationIn } from '@baton/marathon/cli-flags';
import type { MarathonAuth } from './marathon-rest.js';
import type { SelfIdentity } from './seeds.js';
import type { PortChoice } from './endpoints.js';

export type Env = Record<string, string | undefined>;

/** `--marathon` values (each may be a comma list), else `MARATHON_URL` (comma list), else none. */
export function marathonUrls(flags: readonly string[], env: Env): string[] {
  const source = flags.length > 0 ? flags : env.MARATHON_URL ? [env.MARATHON_URL] : [];
  return source
    .flatMap((value) => value.split(','))
    .map((url) => url.trim())
    .filter((url) => url !== '');
}

/**
 * Flags win over the environment; a token wins over user/password, which win over a service account.
 * Flags: `--token T`, `--auth-credentials user:pass`, `--dcos-auth-credentials JSON`. Environment:
 * `DCOS_AUTH_TOKEN`, `DCOS_SERVICE_ACCOUNT_CREDENTIAL`, `MARATHON_USER` + `MARATHON_PASSWORD`.
 * Service-account credentials are checked and used when Marathon is first asked (`serviceAccountLogin`).
 */
export function marathonAuth(flags: { token?: string; credentials?: string; dcosCredentials?: string }, env: Env): MarathonAuth | undefined {
  if (flags.token) return { token: flags.token };
  if (flags.credentials !== undefined) {
    const colon = flags.credentials.indexOf(':');
    if (colon < 0) throw new Error('--auth-credentials must be user:password');
    return { username: flags.credentials.slice(0, colon), password: flags.credentials.slice(colon + 1) };
  }
  if (flags.dcosCredentials) return { dcosCredentials: flags.dcosCredentials };
  if (env.DCOS_AUTH_TOKEN) return { token: env.DCOS_AUTH_TOKEN };
  if (env.DCOS_SERVICE_ACCOUNT_CREDENTIAL) return { dcosCredentials: env.DCOS_SERVICE_ACCOUNT_CREDENTIAL };
  if (env.MARATHON_USER !== undefined && env.MARATHON_PASSWORD !== undefined) {
    return { username: env.MARATHON_USER, password: env.MARATHON_PASSWORD };
  }
  return undefined;
}

function port(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/**
 * This node's identity as Marathon set it in the task environment: `MESOS_TASK_ID`, else `HOST` plus
 * the port at the chosen index (`PORT<n>`, `PORT` for index 0) or name (`PORT_<NAME>`, uppercased as
 * Marathon does). Undefined outside a Marathon task.
 */
export function selfFromEnv(env: Env, choice: PortChoice = {}): SelfIdentity | undefined {
  if (env.MESOS_TASK_ID) return { taskId: env.MESOS_TASK_ID };
  if (!env.HOST) return undefined;
  let value: string | undefined;
  if (choice.portName !== undefined) value = env[`PORT_${choice.portName.toUpperCase()}`];
  else {
    const index = choice.portIndex ?? 0;
    value = env[`PORT${index}`] ?? (index === 0 ? env.PORT : undefined);
  }
  const p = port(value);
  return p === undefined ? undefined : { host: env.HOST, port: p };
}

/** `60s`, `500ms`, `2m`, `1h` or a bare number of seconds → milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  return parseDurationIn(text, 's');
}

export function formatDuration(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
