// Opening and closing a listening socket, for every kind of listener the data plane runs.

import { Server as NetServer } from 'node:net';

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
    server.listen({ port, host, backlog: 10_000 });
  });
}
