// A minimal one-target reverse proxy, to compare upstream paths for the request path in isolation:
//   node bench/lb/mini-proxy.mjs dispatch|request|http-proxy|none|raw|http1|tcp-pipe <listenPort> <targetPort>
// `dispatch` = undici Pool.dispatch with a handler streaming into the response (what baton-lb uses),
// `request` = undici pool.request + pipe, `http-proxy` = http-proxy 1.18 with a keep-alive agent,
// `none` = the Node http server answering by itself (no upstream: the ceiling of any Node proxy).
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../../packages/lb/package.json', import.meta.url)));
const { Pool } = require('undici');
// http-proxy is a root devDependency: only this comparison uses it.
const httpProxy = createRequire(fileURLToPath(new URL('../../package.json', import.meta.url)))('http-proxy');

const [kind, listenPort, targetPort] = process.argv.slice(2);
const origin = `http://127.0.0.1:${targetPort}`;
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

function forwardHeaders(req) {
  const out = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  out.push('host', req.headers.host ?? 'localhost', 'x-forwarded-for', req.socket.remoteAddress);
  return out;
}

let handler;
if (kind === 'http1') {
  // baton-lb's own upstream client (packages/lb/dist/http1-upstream.js; build first) with a handler
  // like the `dispatch` one below.
  const { Http1Pool } = await import('../../packages/lb/dist/http1-upstream.js');
  const pool = new Http1Pool({ host: '127.0.0.1', port: Number(targetPort), connections: 256, connectTimeoutMs: 3000, serverTimeoutMs: 30000 });
  handler = (req, res) => {
    pool.dispatch({ method: req.method, path: req.url, headers: forwardHeaders(req), body: null }, {
      onConnect() {},
      onHeaders(status, raw, resume, text) {
        const h = [];
        for (let i = 0; i < raw.length; i += 2) {
          const n = raw[i];
          const l = n.length === 10 || n.length === 17 ? n.toLowerCase() : '';
          if (l === 'connection' || l === 'keep-alive' || l === 'transfer-encoding') continue;
          h.push(n, raw[i + 1]);
        }
        res.writeHead(status, text, h);
        this.resume = resume;
        return true;
      },
      onData(chunk) {
        if (res.write(chunk)) return true;
        res.once('drain', this.resume);
        return false;
      },
      onComplete() { res.end(); },
      onError() { if (!res.headersSent) res.writeHead(502); res.end(); },
    });
  };
} else if (kind === 'raw') {
  // net.Socket + Node's native HTTP parser (the one its http client uses), no undici: how much of the
  // upstream cost is the client library.
  const { HTTPParser } = require('_http_common');
  const net = require('node:net');
  const idle = [];
  const head = (req) => {
    let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    return `${text}host: ${req.headers.host ?? 'localhost'}\r\nx-forwarded-for: ${req.socket.remoteAddress}\r\n\r\n`;
  };
  const open = () => {
    const socket = net.connect({ host: '127.0.0.1', port: Number(targetPort), noDelay: true });
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.RESPONSE, {}, 0);
    const conn = { socket, parser, res: null, keep: true, extra: [] };
    parser[HTTPParser.kOnHeaders] = (h) => { conn.extra.push(...h); };
    parser[HTTPParser.kOnHeadersComplete] = (_maj, _min, headers, _m, _u, status, text, _up, keep) => {
      conn.keep = keep;
      const h = headers ?? conn.extra;
      const out = [];
      for (let i = 0; i < h.length; i += 2) {
        const n = h[i];
        const l = n.length === 10 || n.length === 17 ? n.toLowerCase() : '';
        if (l === 'connection' || l === 'keep-alive' || l === 'transfer-encoding') continue;
        out.push(n, h[i + 1]);
      }
      conn.extra = [];
      conn.res.writeHead(status, text, out);
      conn.res.cork();
      return 0;
    };
    parser[HTTPParser.kOnBody] = (b) => { conn.res.write(b); };
    parser[HTTPParser.kOnMessageComplete] = () => {
      const res = conn.res;
      conn.res = null;
      res.end();
      res.uncork();
      if (conn.keep) idle.push(conn); else socket.destroy();
    };
    socket.on('data', (d) => parser.execute(d));
    socket.on('error', () => { if (conn.res) { conn.res.destroy(); conn.res = null; } });
    socket.on('close', () => { const i = idle.indexOf(conn); if (i !== -1) idle.splice(i, 1); });
    return conn;
  };
  handler = (req, res) => {
    const conn = idle.pop() ?? open();
    conn.res = res;
    conn.socket.write(head(req));
  };
} else if (kind === 'none') {
  // No upstream at all: the Node http server's own ceiling on this machine.
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
    res.end('ok\n');
  };
} else if (kind === 'http-proxy') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const proxy = httpProxy.createProxyServer({ target: origin, agent, xfwd: true });
  proxy.on('error', (_e, _req, res) => { res.writeHead?.(502); res.end(); });
  handler = (req, res) => proxy.web(req, res);
} else {
  const pool = new Pool(origin, { connections: 256, pipelining: 1 });
  if (kind === 'request') {
    handler = (req, res) => {
      pool.request({ method: req.method, path: req.url, headers: forwardHeaders(req), body: null }).then(
        ({ statusCode, headers, body }) => {
          delete headers.connection; delete headers['keep-alive']; delete headers['transfer-encoding'];
          res.writeHead(statusCode, headers);
          body.pipe(res);
        },
        () => { res.writeHead(502); res.end(); },
      );
    };
  } else {
    handler = (req, res) => {
      pool.dispatch({ method: req.method, path: req.url, headers: forwardHeaders(req), body: null }, {
        onConnect() {},
        onHeaders(status, raw, resume, text) {
          const h = [];
          for (let i = 0; i < raw.length; i += 2) {
            const n = raw[i].toString('latin1');
            const l = n.length === 10 || n.length === 17 ? n.toLowerCase() : '';
            if (l === 'connection' || l === 'keep-alive' || l === 'transfer-encoding') continue;
            h.push(n, raw[i + 1].toString('latin1'));
          }
          res.writeHead(status, text, h);
          this.resume = resume;
          return true;
        },
        onData(chunk) {
          if (res.write(chunk)) return true;
          res.once('drain', this.resume);
          return false;
        },
        onComplete() { res.end(); },
        onError() { if (!res.headersSent) res.writeHead(502); res.end(); },
      });
    };
  }
}
if (kind === 'tcp-pipe') {
  // A plain Node socket pipe (TCP mode): the reference for baton-lb's TCP service ports.
  const net = require('node:net');
  net.createServer((client) => {
    const server = net.connect({ host: '127.0.0.1', port: Number(targetPort) });
    client.pipe(server);
    server.pipe(client);
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
  }).listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
} else http.createServer(handler).listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
