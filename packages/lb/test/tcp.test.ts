// TCP service ports: a socket pipe to the backend, listeners opened and closed as the table changes
// (closing never cuts established connections), passive health, bind failures reported per port.

import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startLoadBalancer, type LoadBalancer } from '../src/server.js';
import type { RouteTable } from '../src/route-table.js';
import { freePort, makeBackend, makeServer, makeTable, startEcho, waitFor } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A TCP server that greets with its name, then echoes. */
async function tcpEcho(name: string): Promise<{ port: number; server: NetServer }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.write(`${name}\n`);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve); }));
  return { port: (server.address() as AddressInfo).port, server };
}

async function lbWith(table: RouteTable): Promise<LoadBalancer> {
  const lb = await startLoadBalancer({ bindAddress: '127.0.0.1', dontBindHttpHttps: true, appIdPort: null, adminPort: null, initialTable: table });
  cleanups.push(() => lb.close(1_000));
  return lb;
}

/** Connects, collects what arrives; `send` writes. */
async function open(port: number) {
  const socket = connect(port, '127.0.0.1');
  cleanups.push(() => socket.destroy());
  let data = '';
  let closed = false;
  socket.on('data', (c: Buffer) => (data += c.toString()));
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  return { socket, data: () => data, closed: () => closed };
}

describe('TCP service ports', () => {
  it('pipes bytes both ways, intact, with half-close', async () => {
    const echo = await tcpEcho('one');
    const servicePort = await freePort();
    const lb = await lbWith(makeTable([makeBackend('tcp_1', [makeServer('s', echo.port)], { mode: 'tcp', servicePort })], { servicePorts: { [servicePort]: 'tcp_1' } }));
    const socket = connect(lb.servicePort(servicePort)!, '127.0.0.1');
    const payload = Buffer.alloc(8 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => socket.on('end', resolve));
    socket.end(payload);
    await ended;
    const got = Buffer.concat(chunks);
    expect(got.subarray(0, 4).toString()).toBe('one\n');
    expect(createHash('sha1').update(got.subarray(4)).digest('hex')).toBe(createHash('sha1').update(payload).digest('hex'));
  });

  it('holds a fast server back while the client reads slowly, and delivers every byte in order', async () => {
    const payload = Buffer.alloc(24 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >>> 16)) & 0xff;
    let upstream: Socket | undefined;
    const source = createServer((socket) => {
      upstream = socket;
      socket.end(payload);
    });
    await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => { upstream?.destroy(); source.close(resolve); }));
    const servicePort = await freePort();
    const lb = await lbWith(
      makeTable([makeBackend('tcp_1', [makeServer('s', (source.address() as AddressInfo).port)], { mode: 'tcp', servicePort })], { servicePorts: { [servicePort]: 'tcp_1' } }),
    );
    const client = connect(lb.servicePort(servicePort)!, '127.0.0.1');
    cleanups.push(() => client.destroy());
    client.pause();
    // Nothing is read on the client side until the server cannot write any more: the tunnel has
    // stopped reading from it and every buffer on the way is full.
    await waitFor(() => upstream !== undefined && upstream.writableLength > 0, 10_000);
    const chunks: Buffer[] = [];
    client.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => client.on('end', resolve));
    client.resume();
    await ended;
    const got = Buffer.concat(chunks);
    expect(got.length).toBe(payload.length);
    expect(createHash('sha1').update(got).digest('hex')).toBe(createHash('sha1').update(payload).digest('hex'));
    client.end();
    await waitFor(() => lb.stats.backends.get('tcp_1')?.scur === 0, 10_000);
    expect(lb.stats.backends.get('tcp_1')?.bout).toBe(payload.length);
  });

  it('skips a server that refuses and connects to another', async () => {
    const echo = await tcpEcho('alive');
    const [dead, servicePort] = [await freePort(), await freePort()];
    const lb = await lbWith(
      makeTable([makeBackend('tcp_1', [makeServer('dead', dead), makeServer('alive', echo.port)], { mode: 'tcp', servicePort })], { servicePorts: { [servicePort]: 'tcp_1' } }),
    );
    for (let i = 0; i < 3; i++) {
      const c = await open(lb.servicePort(servicePort)!);
      await waitFor(() => c.data() === 'alive\n');
      c.socket.destroy();
    }
    expect(lb.balancer.health.state('dead')).toBe('down');
  });

  it('opens listeners for new ports, closes removed ones, and keeps established connections', async () => {
    const one = await tcpEcho('one');
    const two = await tcpEcho('two');
    const [p1, p2] = [await freePort(), await freePort()];
    const b1 = makeBackend('one_1', [makeServer('one', one.port)], { mode: 'tcp', servicePort: p1 });
    const b2 = makeBackend('two_1', [makeServer('two', two.port)], { mode: 'tcp', servicePort: p2 });
    const lb = await lbWith(makeTable([b1], { servicePorts: { [p1]: 'one_1' } }));
    expect(lb.servicePort(p2)).toBeUndefined();
    const established = await open(p1);
    await waitFor(() => established.data() === 'one\n');

    await lb.apply(makeTable([b2], { version: 2, servicePorts: { [p2]: 'two_1' } }));
    // p2 now listens; p1 no longer accepts…
    const c2 = await open(p2);
    await waitFor(() => c2.data() === 'two\n');
    await expect(new Promise((resolve, reject) => { const s = connect(p1, '127.0.0.1'); s.on('connect', () => { s.destroy(); resolve('connected'); }); s.on('error', reject); })).rejects.toThrow(/ECONNREFUSED/);
    // …but the connection opened before the change still works.
    established.socket.write('ping');
    await waitFor(() => established.data() === 'one\nping');
    expect(established.closed()).toBe(false);
  });

  it('switches an open HTTP service port to the new backend without reopening it', async () => {
    const [a, b] = [await startEcho('a'), await startEcho('b')];
    cleanups.push(() => a.close(), () => b.close());
    const servicePort = await freePort();
    const lb = await lbWith(makeTable([makeBackend('web_1', [makeServer('a', a.port)], { servicePort })], { servicePorts: { [servicePort]: 'web_1' } }));
    const get = async () => JSON.parse(await (await request(`http://127.0.0.1:${servicePort}/`)).body.text()).name;
    expect(await get()).toBe('a');
    await lb.apply(makeTable([makeBackend('web_2', [makeServer('b', b.port)], { servicePort })], { version: 2, servicePorts: { [servicePort]: 'web_2' } }));
    expect(await get()).toBe('b');
  });

  it('reports a port it cannot bind as a problem of that app while the others listen', async () => {
    const echo = await tcpEcho('ok');
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => taken.close(resolve)));
    const busyPort = (taken.address() as AddressInfo).port;
    const okPort = await freePort();
    const lb = await lbWith(
      makeTable(
        [
          makeBackend('busy_1', [makeServer('x', echo.port)], { mode: 'tcp', servicePort: busyPort, appId: '/busy' }),
          makeBackend('ok_1', [makeServer('y', echo.port)], { mode: 'tcp', servicePort: okPort, appId: '/ok' }),
        ],
        { servicePorts: { [busyPort]: 'busy_1', [okPort]: 'ok_1' } },
      ),
    );
    expect(lb.problems()).toEqual([expect.objectContaining({ appId: '/busy', kind: 'bind-failed' })]);
    const c = await open(okPort);
    await waitFor(() => c.data() === 'ok\n');
  });
});
