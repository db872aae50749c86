// bench/lb/http2.mjs: HTTP/2 (TLS, ALPN h2) through baton-lb next to HAProxy, with h2load.
//   node bench/lb/http2.mjs [--duration 5] [--clients 10] [--streams 10] [--skip-build]
// Starts nginx (`return 200` on loopback, HTTP/1.1), HAProxy 2.6 (nbthread 1, `bind ... ssl crt
// <self-signed> alpn h2,http/1.1`), the simulator with one app whose task port is nginx's, and
// baton-lb (the real bin, one process: --workers 1 --http2 --ssl-certs <the same PEM>). Runs h2load against each
// (--clients connections, --streams concurrent streams each) and prints rps and the proxy's CPU per
// request (from /proc). Never fails the build: errors are printed and the script exits 0.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpuMs } from '../../tools/proc-tree.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(argv[i + 1]);
};
const DURATION = opt('duration', 5);
const CLIENTS = opt('clients', 10);
const STREAMS = opt('streams', 10);
const children = [];
const tmp = mkdtempSync(join(tmpdir(), 'bench-http2-'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
    process.exit(0);
  });
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function start(cmd, args, waitFor) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  const collect = (c) => (out += c);
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  child.output = () => out;
  if (!waitFor) return Promise.resolve(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 20_000);
    const check = () => {
      if (!waitFor(out)) return;
      clearTimeout(timer);
      resolve(child);
    };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

/** h2load against `url`; rps and how many requests succeeded. */
function h2load(url, seconds) {
  const out = execFileSync('h2load', ['-c', String(CLIENTS), '-m', String(STREAMS), '-D', String(seconds), '-H', ':authority: bench.local', url], { encoding: 'utf8' });
  const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1]);
  const m = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const status = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  const proto = /Application protocol: (\S+)/.exec(out)?.[1];
  return { rps, done: Number(m?.[2]), failed: Number(m?.[4]) + Number(m?.[5]), non2xx: status ? Number(status[2]) + Number(status[3]) + Number(status[4]) : NaN, proto };
}

async function ready(url) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const r = h2load(url.replace(/\/$/, '/'), 1);
      if (r.done > 0 && r.non2xx === 0 && r.failed === 0) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no HTTP/2 200 from ${url}: ${children.map((c) => c.output().slice(-1000)).join('\n---\n')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function measure(name, pid, url, peer) {
  h2load(url, 2); // warm-up (JIT, TLS session set-up), not reported
  const before = cpuMs(pid);
  const r = h2load(url, DURATION);
  const used = cpuMs(pid) - before;
  const cpuUs = (used * 1000) / (r.rps * DURATION);
  console.log(
    `  ${name.padEnd(22)} ${r.rps.toFixed(0).padStart(8)} rps  ${cpuUs.toFixed(1).padStart(6)} µs CPU/req  ${((used / (DURATION * 1000)) * 100).toFixed(0)}% of a core` +
      `  [${r.proto}${r.failed || r.non2xx ? `, ${r.failed} failed, ${r.non2xx} non-2xx` : ''}]${peer ? `  ${(r.rps / peer.rps).toFixed(2)}× HAProxy` : ''}`,
  );
  return r;
}

try {
  if (!argv.includes('--skip-build')) execFileSync('npx', ['tsc', '-b', 'packages/lb', 'packages/marathon-sim'], { cwd: root, stdio: 'inherit' });
  const [nginxPort, haproxyPort, b80, b443, badmin, svc] = await Promise.all(Array.from({ length: 6 }, freePort));
  chmodSync(tmp, 0o755);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=bench.local', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'crt.pem')], { stdio: 'ignore' });
  const pem = join(tmp, 'bench.pem');
  writeFileSync(pem, readFileSync(join(tmp, 'crt.pem'), 'utf8') + readFileSync(join(tmp, 'key.pem'), 'utf8'));

  writeFileSync(join(tmp, 'nginx.conf'), `
worker_processes 1;
daemon off;
pid ${tmp}/nginx.pid;
error_log ${tmp}/nginx-error.log;
events { worker_connections 10240; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body; proxy_temp_path ${tmp}/proxy; fastcgi_temp_path ${tmp}/fcgi;
  uwsgi_temp_path ${tmp}/uwsgi; scgi_temp_path ${tmp}/scgi;
  keepalive_requests 10000000;
  server { listen 127.0.0.1:${nginxPort}; location = / { return 200 "ok\\n"; } }
}
`);
  await start('nginx', ['-p', tmp, '-e', `${tmp}/nginx-error.log`, '-c', join(tmp, 'nginx.conf')]);

  writeFileSync(join(tmp, 'haproxy.cfg'), `
global
  nbthread 1
  maxconn 8000
defaults
  mode http
  option http-keep-alive
  timeout connect 3s
  timeout client 30s
  timeout server 30s
  timeout http-request 15s
frontend https_in
  bind 127.0.0.1:${haproxyPort} ssl crt ${pem} alpn h2,http/1.1
  default_backend nginx_http
backend nginx_http
  option forwardfor
  server n1 127.0.0.1:${nginxPort}
`);
  const haproxy = await start('haproxy', ['-db', '-f', join(tmp, 'haproxy.cfg')]);

  const sim = await start(process.execPath, [join(root, 'packages/marathon-sim/bin/baton-sim.js'), '--port', '0', '--exec', '--log-level', 'warn'], (o) => o.includes('listening on'));
  const simUrl = /listening on (\S+)/.exec(sim.output())[1];
  const app = {
    id: '/bench/nginx', instances: 1, cmd: 'sleep 100000', requirePorts: true,
    portDefinitions: [{ port: nginxPort, protocol: 'tcp' }],
    labels: { HAPROXY_GROUP: 'bench', HAPROXY_0_VHOST: 'bench.local', HAPROXY_0_PORT: String(svc) },
  };
  const created = await fetch(`${simUrl}/v2/apps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(app) });
  if (created.status !== 201) throw new Error(`cannot create the bench app: ${created.status} ${await created.text()}`);
  const lb = await start(process.execPath, [join(root, 'packages/lb/bin/baton-lb.js'), '--marathon', simUrl, '--group', 'bench', '--bind-address', '127.0.0.1',
    '--http-port', String(b80), '--https-port', String(b443), '--app-id-port', '0', '--admin-port', String(badmin), '--ssl-certs', pem, '--http2',
    '--access-log', 'off', '--log-level', 'warn', '--workers', '1'], (o) => o.includes('baton-lb listening'));

  await ready(`https://127.0.0.1:${haproxyPort}/`);
  await ready(`https://127.0.0.1:${b443}/`);
  const load = loadavg().map((l) => l.toFixed(2)).join(', ');
  console.log(`\nh2load -c${CLIENTS} -m${STREAMS} -D${DURATION} (TLS, ALPN h2) → nginx \`return 200\` over HTTP/1.1; HAProxy 2.6 nbthread 1, baton-lb one process (Node ${process.versions.node}); load average ${load}`);
  const peer = measure('HAProxy', haproxy.pid, `https://127.0.0.1:${haproxyPort}/`);
  measure('baton-lb :443 --http2', lb.pid, `https://127.0.0.1:${b443}/`, peer);
  console.log(`  load average after: ${loadavg().map((l) => l.toFixed(2)).join(', ')}`);
} catch (err) {
  console.log(`bench/lb/http2 failed: ${err.stack ?? err}`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(0);
