import { connect, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttp1Server, type Http1Listener } from '../src/http1-server.js';

const OPTIONS = { maxHeaderSize: 16_384, headTimeoutMs: 400, keepAliveMs: 400, clientTimeoutMs: 400, bodyTimeoutMs: 400 };
const HANDLERS = { onRequest: () => undefined, onUpgrade: () => undefined, onConnect: () => undefined };

function closedBy(port: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.on('close', () => resolve(Date.now() - t0));
    socket.resume();
  });
}

describe('createHttp1Server timers', () => {
  const servers: Http1Listener[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('a listener without connections runs no timer; with one, its timeouts still close it', async () => {
    const intervals = vi.spyOn(globalThis, 'setInterval');
    for (let i = 0; i < 50; i++) {
      const server = createHttp1Server(OPTIONS, HANDLERS);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    }
    // Idle listeners (a cluster's service ports) hold no interval.
    await new Promise((r) => setTimeout(r, 50));
    expect(intervals).not.toHaveBeenCalled();

    // A client that connects and says nothing is closed after the client timeout, by the sweep.
    const port = (servers[0].address() as AddressInfo).port;
    const ms = await closedBy(port);
    expect(ms).toBeGreaterThanOrEqual(350);
    expect(ms).toBeLessThan(5_000);
    expect(intervals).toHaveBeenCalledTimes(1);
    // The sweep stops once the listener has no connection left; the next connection starts it again.
    await new Promise((r) => setTimeout(r, 250));
    const again = await closedBy(port);
    expect(again).toBeGreaterThanOrEqual(350);
    expect(intervals).toHaveBeenCalledTimes(2);
  });
});
