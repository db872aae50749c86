/** Result of parsing one ZooKeeper node: the value, or an error naming what was wrong. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

export interface ZkNode {
  /** Child name, e.g. `json.info_0000000017`. */
  name: string;
  data: Buffer | string;
}

export interface NodeError {
  node: string;
  error: string;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function parseJsonNode(data: Buffer | string, what: string): ParseResult<Record<string, unknown>> {
  const text = typeof data === 'string' ? data : data.toString('utf8');
  if (text.trim() === '') return { ok: false, error: `${what}: empty node data` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `${what}: not JSON (${(err as Error).message}): ${preview(text)}` };
  }
  if (!isObject(parsed)) return { ok: false, error: `${what}: expected a JSON object, got ${preview(text)}` };
  return { ok: true, value: parsed };
}

export function preview(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text);
}

/** `host:port`, with IPv6 hosts in brackets. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

export function isPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}
