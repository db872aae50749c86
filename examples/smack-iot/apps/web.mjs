// web: serves the dashboard page. The page's script calls meter and simulator through the external
// load balancer (METER_URL, SIMULATOR_URL: their service ports on marathon-lb), once a second.
//
//   GET /             the page          GET /config.json   { meterUrl, simulatorUrl }
//   GET /app.js       its script        GET /health        200 ok
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT0 ?? process.env.PORT ?? 0);
const config = {
  meterUrl: process.env.METER_URL ?? 'http://127.0.0.2:19002',
  simulatorUrl: process.env.SIMULATOR_URL ?? 'http://127.0.0.2:19001',
};
const files = {
  '/': { type: 'text/html; charset=utf-8', body: readFileSync(new URL('./web/index.html', import.meta.url)) },
  '/app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('./web/app.js', import.meta.url)) },
  '/config.json': { type: 'application/json', body: Buffer.from(`${JSON.stringify(config)}\n`) },
  '/health': { type: 'text/plain', body: Buffer.from('ok\n') },
};

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  const file = req.method === 'GET' || req.method === 'HEAD' ? files[path === '/index.html' ? '/' : path] : undefined;
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not found\n');
  }
  res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store', 'x-web-instance': `${host}:${port}` });
  res.end(req.method === 'HEAD' ? undefined : file.body);
});
server.listen(port, host, () => process.stdout.write(`web: serving the dashboard on http://${host}:${port}/ (meter ${config.meterUrl}, simulator ${config.simulatorUrl})\n`));

const stop = () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 1_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
