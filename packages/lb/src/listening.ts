// Opening and closing a listening socket, for every kind of listener the data plane runs.

import cluster from 'node:cluster';
import { Server as NetServer, type ListenOptions } from 'node:net';

/**
 * How the workers of `baton-lb --workers N` share a listening port. `reuseport`: each worker binds a
 * socket of its own (SO_REUSEPORT) and the kernel spreads new connections over them, with no hand-off
 * through the primary. `handoff`: Node's cluster, where the primary accepts every connection and
 * passes it to the next worker. The primary picks the mode (BATON_LB_LISTEN, or reuseport where Node
 * offers it: `reusePort` came in Node 22.12 and 23.1, and spreads connections on Linux only) and
 * hands it to its workers in the same variable.
 */
export type ListenMode = 'reuseport' | 'handoff';

export function listenMode(env: NodeJS.ProcessEnv = process.env, version = process.versions.node, platform = process.platform): ListenMode {
  const [major, minor] = version.split('.').map(Number);
  const offered = platform === 'linux' && (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12));
  const wanted = env.BATON_LB_LISTEN;
  if (wanted === undefined || wanted === '') return offered ? 'reuseport' : 'handoff';
  if (wanted === 'handoff') return wanted;
  if (wanted !== 'reuseport') throw new Error(`BATON_LB_LISTEN must be reuseport or handoff, not ${JSON.stringify(wanted)}`);
  if (!offered) throw new Error(`BATON_LB_LISTEN=reuseport needs Node >= 22.12 on Linux (this is Node ${version} on ${platform})`);
  return wanted;
}

export function closeListening(server: NetServer): void {
  if (!server.listening) return;
  // net.Server#close, not http.Server#close: Node's http close also cuts idle keep-alive connections.
  NetServer.prototype.close.call(server);
}

export function listen(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // Port 0 stays with the hand-off: with sockets of their own, each worker would get a port of its own.
    const reusePort = port !== 0 && cluster.isWorker && process.env.BATON_LB_LISTEN === 'reuseport';
    // (`reusePort` is not in Node 20's types.)
    server.listen({ port, host, backlog: 10_000, ...(reusePort ? { reusePort } : {}) } as ListenOptions);
  });
}
