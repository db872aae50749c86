// `--workers N` on a worker's side: a copy of the records fed by the primary (worker-pool.ts), and the
// DNS server answering from it on the UDP and TCP sockets the workers share.
import { createLogger, type Logger } from '@baton/marathon';
import { applyOwnerChanges } from './record-replica.js';
import { RecordStore } from './record-store.js';
import { DnsMetrics } from './metrics.js';
import { startDnsServer, type DnsServer } from './server.js';
import type { DnsConfig } from './config.js';
import type { FromWorker, ToWorker } from './worker-pool.js';

/** Runs this process as a DNS worker of a cluster primary (the baton-dns bin calls it under cluster). */
export function runDnsWorker(): void {
  let config: DnsConfig | undefined;
  let store: RecordStore | undefined;
  let logger: Logger | undefined;
  let dns: DnsServer | undefined;
  let stopping = false;
  const metrics = new DnsMetrics();
  const send = (message: FromWorker, then?: () => void): void => {
    if (process.connected) process.send!(message, undefined, {}, () => then?.());
    else then?.();
  };

  const serve = async (): Promise<void> => {
    try {
      dns = await startDnsServer({ config: config!, view: store!, logger: logger!.child({ module: 'dns-server' }), metrics });
    } catch (err) {
      send({ t: 'cannot-listen', error: (err as Error).message }, () => process.exit(1));
      return;
    }
    if (stopping) return;
    send({ t: 'listening', address: dns.address, port: dns.udpPort });
  };

  const stop = async (): Promise<void> => {
    stopping = true;
    await dns?.close();
    process.exit(0);
  };

  process.on('message', (received) => {
    const message = received as ToWorker;
    switch (message.t) {
      case 'init':
        config = message.config;
        logger = createLogger('baton-dns', message.logLevel).child({ worker: message.worker });
        store = new RecordStore({ domain: config.domain });
        break;
      case 'owners':
        applyOwnerChanges(store!, message);
        break;
      case 'serve':
        void serve();
        break;
      case 'metrics':
        send({ t: 'metrics', id: message.id, snapshot: metrics.snapshot() });
        break;
      case 'ping':
        send({ t: 'pong' });
        break;
      case 'stop':
        void stop();
        break;
    }
  });
  // Ctrl-C reaches every process of the group: the primary stops the workers in order.
  process.on('SIGINT', () => undefined);
  send({ t: 'hello' });
}
