// Watching and reading the children of a znode together with their data.
import type { Logger } from '@baton/marathon';
import { quietLogger } from './quiet-logger.js';
import { isConnectionError, toZkError, type ZkSession } from './session.js';
import type { ZkNode } from './parse-result.js';

export interface ChildNodesOptions {
  /** Only these children are read (default: all). */
  filter?: (name: string) => boolean;
  /**
   * Also watch each child's data (for nodes that are rewritten in place, like Kafka registrations).
   * Off by default: leader-election nodes are written once, and a watch on a vanished sequential node
   * would stay registered on the server forever.
   */
  watchData?: boolean;
  logger?: Logger;
}

/**
 * Calls `onChange` with the children of `parent` and their data (sorted by name) now and after every
 * change; `undefined` while `parent` does not exist. A child whose data cannot be read (other than for
 * a lost connection, which is retried) is passed with empty data. Returns a function that stops it.
 */
export function watchChildNodes(
  session: ZkSession,
  parent: string,
  onChange: (nodes: ZkNode[] | undefined) => void,
  options: ChildNodesOptions = {},
): () => void {
  const logger = options.logger ?? quietLogger();
  const filter = options.filter ?? (() => true);
  const data = new Map<string, Buffer>();
  const unwatchData = new Map<string, () => void>();
  const pending = new Set<string>();
  let children: string[] | undefined;
  let known = false;
  let active = true;
  let lastFingerprint: string | undefined;

  const childPath = (name: string) => `${parent === '/' ? '' : parent}/${name}`;

  const emit = () => {
    if (!active || !known || pending.size > 0) return;
    const nodes = children?.filter((name) => data.has(name)).map((name) => ({ name, data: data.get(name)! }));
    const fingerprint = nodes === undefined ? '\0absent' : nodes.map((n) => `${n.name}=${n.data.toString('base64')}`).join('/');
    if (fingerprint === lastFingerprint) return;
    lastFingerprint = fingerprint;
    onChange(nodes);
  };

  const fetch = (name: string) => {
    pending.add(name);
    if (options.watchData) {
      unwatchData.set(
        name,
        session.watchData(childPath(name), (value) => {
          if (!active) return;
          pending.delete(name);
          if (value === undefined) data.delete(name);
          else data.set(name, value);
          emit();
        }),
      );
      return;
    }
    session.getData(childPath(name)).then(
      (value) => {
        if (!active || !pending.has(name)) return;
        pending.delete(name);
        if (value !== undefined) data.set(name, value); // undefined: vanished; the children watch follows
        emit();
      },
      (err: unknown) => {
        if (!active || !pending.has(name)) return;
        const error = toZkError(err, `getData ${childPath(name)}`, childPath(name));
        if (isConnectionError(error)) {
          // Read again once connected (or shortly, if the connection was never lost).
          const retry = () => {
            if (active && pending.has(name) && children?.includes(name)) fetch(name);
          };
          if (session.connected) setTimeout(retry, 500).unref();
          else session.once('connected', retry);
          return;
        }
        logger.warn({ path: childPath(name), err: error.message }, 'zookeeper node unreadable');
        pending.delete(name);
        data.set(name, Buffer.alloc(0));
        emit();
      },
    );
  };

  const unwatchChildren = session.watchChildren(parent, (list) => {
    if (!active) return;
    known = true;
    children = list?.filter(filter);
    const present = new Set(children ?? []);
    for (const name of [...data.keys(), ...pending]) {
      if (present.has(name)) continue;
      data.delete(name);
      pending.delete(name);
      unwatchData.get(name)?.();
      unwatchData.delete(name);
    }
    for (const name of children ?? []) {
      if (!data.has(name) && !pending.has(name)) fetch(name);
    }
    emit();
  });

  return () => {
    active = false;
    unwatchChildren();
    for (const unwatch of unwatchData.values()) unwatch();
    unwatchData.clear();
  };
}

/** One read of the children of `parent` with their data; `undefined` when `parent` does not exist. */
export async function readChildNodes(
  session: ZkSession,
  parent: string,
  filter: (name: string) => boolean = () => true,
): Promise<ZkNode[] | undefined> {
  const children = await session.getChildren(parent);
  if (children === undefined) return undefined;
  const nodes = await Promise.all(
    children.filter(filter).map(async (name) => {
      const value = await session.getData(`${parent === '/' ? '' : parent}/${name}`);
      return value === undefined ? undefined : { name, data: value };
    }),
  );
  return nodes.filter((node): node is ZkNode & { data: Buffer } => node !== undefined);
}
