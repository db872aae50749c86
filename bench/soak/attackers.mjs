// Attackers for bench/soak/run.mjs: each is a bounded number of loopback connections, each connection
// bounded in time, reopened until the soak stops. What the servers do to them is counted, never
// judged: the soak's verdict stays with the legitimate clients and the servers' memory.
//   pipelining non-readers  keep-alive connections to baton-lb that pipeline GETs and never read
//   slow-body senders       POSTs to baton-lb whose body arrives one byte every 2 s
//   DNS TCP non-readers     TCP connections to baton-dns that pipeline SRV queries and never read
//   hostile feed            a Marathon proxy that, during a phase, answers /v2/events with an SSE
//                           line that never ends (a second baton-dns/baton-lb pair follows it)
import http from 'node:http';
import net from 'node:net';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Keeps `count` connections made by `open()` alive until `isStopping()`; `open()` resolves when its
 * connection is over. Returns a promise that settles when all loops have ended.
 */
function keep(count, isStopping, open) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      await sleep(i * 250); // spread the starts
      while (!isStopping()) {
        await open();
        await sleep(200);
      }
    }),
  );
}

/**
 * One connection: `onConnect(socket)` starts the attack; it ends after `lifetimeMs`, when the server
 * closes it, or when the soak stops. Resolves `'server'` if the server closed it first, else `'client'`.
 * A paused socket (a non-reader) does not see the server's FIN: at the end of its lifetime it is read
 * for up to 3 s, and the server closed it if the stream ends within them.
 */
function connection(port, lifetimeMs, isStopping, onConnect) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = (by) => {
      if (done) return;
      done = true;
      clearTimeout(lifetime);
      clearInterval(stopWatch);
      socket.destroy();
      resolve(by);
    };
    const lifetime = setTimeout(() => {
      if (!socket.isPaused()) return finish('client');
      socket.on('data', () => {});
      socket.resume();
      setTimeout(() => finish('client'), 3_000);
    }, lifetimeMs);
    const stopWatch = setInterval(() => isStopping() && finish('client'), 500);
    socket.on('connect', () => onConnect(socket));
    socket.on('error', () => finish('server'));
    socket.on('close', () => finish('server'));
    socket.on('end', () => finish('server'));
  });
}

/** Writes `chunk` until the socket stops taking it, again at every drain. Returns a counter. */
function pump(socket, chunk, perChunk) {
  const counter = { sent: 0 };
  const write = () => {
    while (!socket.destroyed && socket.write(chunk)) counter.sent += perChunk;
    if (!socket.destroyed) counter.sent += perChunk;
  };
  socket.on('drain', write);
  write();
  return counter;
}

export function pipeliningNonReaders({ port, count, lifetimeMs, isStopping, stats }) {
  const batch = 64;
  const chunk = Buffer.from('GET /soak HTTP/1.1\r\nHost: web.soak\r\n\r\n'.repeat(batch));
  return keep(count, isStopping, async () => {
    stats.connections++;
    let counter;
    const by = await connection(port, lifetimeMs, isStopping, (socket) => {
      socket.pause(); // never read the replies
      counter = pump(socket, chunk, batch);
    });
    stats.requestsWritten += counter?.sent ?? 0;
    if (by === 'server') stats.closedByServer++;
  });
}

export function slowBodySenders({ port, count, lifetimeMs, isStopping, stats }) {
  let n = 0;
  return keep(count, isStopping, async () => {
    stats.connections++;
    // Half announce a small body (received whole by baton-lb), half a large one (streamed to a server).
    const length = n++ % 2 === 0 ? 8_000 : 1_000_000;
    let status;
    const by = await connection(port, lifetimeMs, isStopping, (socket) => {
      socket.write(`POST /soak HTTP/1.1\r\nHost: web.soak\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n\r\n`);
      socket.on('data', (d) => (status ??= /^HTTP\/1\.1 (\d{3})/.exec(d.toString('latin1'))?.[1]));
      const trickle = setInterval(() => (socket.destroyed ? clearInterval(trickle) : socket.write('x')), 2_000);
      socket.on('close', () => clearInterval(trickle));
    });
    if (by === 'server') stats.closedByServer++;
    if (status) stats.answered[status] = (stats.answered[status] ?? 0) + 1;
  });
}

function srvQuery(id, name) {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header[2] = 1;
  header.writeUInt16BE(1, 4);
  const query = Buffer.concat([header, ...labels, Buffer.from([0, 0, 33, 0, 1])]);
  const framed = Buffer.alloc(2 + query.length);
  framed.writeUInt16BE(query.length, 0);
  query.copy(framed, 2);
  return framed;
}

export function dnsTcpNonReaders({ port, count, lifetimeMs, isStopping, stats }) {
  const batch = 100;
  const chunk = Buffer.concat(Array.from({ length: batch }, (_, i) => srvQuery(i + 1, '_names._tcp.marathon.mesos')));
  return keep(count, isStopping, async () => {
    stats.connections++;
    let counter;
    const by = await connection(port, lifetimeMs, isStopping, (socket) => {
      socket.pause();
      counter = pump(socket, chunk, batch);
    });
    stats.queriesWritten += counter?.sent ?? 0;
    if (by === 'server') stats.closedByServer++;
  });
}

/**
 * A Marathon in front of `upstreamUrl`: every request is passed through, except `/v2/events` while
 * `hostile()` is true, which gets an SSE line that never ends (`bytesPerSecond`, no newline ever) until
 * the client closes it. Streams open when a hostile phase starts are switched to the endless line.
 */
export async function hostileMarathon({ upstreamUrl, hostile, bytesPerSecond, stats }) {
  const upstream = new URL(upstreamUrl);
  const openStreams = new Set(); // { res, upstreamReq }
  const chunk = Buffer.alloc(Math.max(1, Math.round(bytesPerSecond / 50)), 'x');
  function endless(res) {
    stats.endlessStreams++;
    if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('event: status_update_event\ndata: {"eventType":"status_update_event","x":"');
    const timer = setInterval(() => {
      if (res.destroyed || res.writableEnded) return clearInterval(timer);
      if (res.writableLength > 1024 * 1024) return; // the client stopped reading: hold at most 1 MiB
      res.write(chunk);
      stats.endlessBytes += chunk.length;
    }, 20);
    res.on('close', () => {
      clearInterval(timer);
      stats.endlessClosedByClient++;
    });
  }
  const server = http.createServer((req, res) => {
    const isEvents = req.url.startsWith('/v2/events');
    if (isEvents && hostile()) return endless(res);
    const entry = isEvents ? { res, upstreamReq: undefined, upRes: undefined } : undefined;
    const upstreamReq = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
      if (entry) entry.upRes = upRes;
    });
    if (entry) entry.upstreamReq = upstreamReq;
    upstreamReq.on('error', () => entry?.switched || res.destroy());
    res.on('close', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
    if (isEvents) {
      openStreams.add(entry);
      res.on('close', () => openStreams.delete(entry));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    /** Called when a hostile phase starts: the open streams get the endless line from now on. */
    turnHostile() {
      for (const entry of openStreams) {
        openStreams.delete(entry);
        entry.switched = true;
        entry.upRes?.unpipe(entry.res);
        entry.upstreamReq.destroy();
        // The SSE framing so far ended on a message boundary or mid-message: either way, no newline follows.
        endless(entry.res);
      }
    },
    close() {
      for (const { res } of openStreams) res.destroy();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}
