// A minimal one-target reverse proxy, to compare upstream paths for the request path in isolation:
//   node bench/lb/mini-proxy.mjs dispatch|request|http-proxy <listenPort> <targetPort>
// `dispatch` = undici Pool.dispatch with a handler streaming into the response (what baton-lb uses),
// `request` = undici pool.request + pipe, `http-proxy` = http-proxy 1.18 with a keep-alive agent.
import http from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(fileURLToPath(new URL('../../packages/lb/package.json', import.meta.url)));
const { Pool } = require('undici');
const httpProxy = require('http-proxy');

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
if (kind === 'http-proxy') {
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
http.createServer(handler).listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
