// bench/lb/health-checks.mjs: what baton-lb's active health checks cost at many servers.
//   node bench/lb/health-checks.mjs [--servers 10000] [--interval 10] [--duration 10] [--kind http,tcp]
//                                   [--max-concurrent 500]
// Runs the real HealthChecker (packages/lb/dist) over a route table of N servers, every one pointing at
// one local listener in a child process (a TCP accept, or an HTTP/1.0 `200 OK` answer), with the
// interval given. After the first interval (the spread start), measures for --duration seconds: the
// checks run per second and the CPU the checking process used (user + system), i.e. what the same
// checks cost inside baton-lb. Never fails: errors are printed and the script exits 0.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : argv[i + 1];
};

if (argv[0] === 'listener') {
  // The listener process: accepts, answers any request with 200 and closes.
  const { createServer } = await import('node:net');
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.once('data', () => socket.end('HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
} else {
  const SERVERS = Number(opt('servers', 10000));
  const INTERVAL = Number(opt('interval', 10));
  const DURATION = Number(opt('duration', 10));
  const KINDS = String(opt('kind', 'http,tcp')).split(',');
  const MAX = Number(opt('max-concurrent', 500));
  const { HealthChecker } = await import(`${root}packages/lb/dist/health-checker.js`);
  const listener = fork(fileURLToPath(import.meta.url), ['listener'], { stdio: 'inherit' });
  try {
    const port = await new Promise((resolve) => listener.once('message', resolve));
    const silent = { info() {}, warn() {}, debug() {}, error() {}, child() { return silent; } };
    console.log(`${SERVERS.toLocaleString('en-US')} servers, interval ${INTERVAL}s, at most ${MAX} checks at once, Node ${process.versions.node}`);
    for (const kind of KINDS) {
      const servers = Array.from({ length: SERVERS }, (_, i) => ({
        id: `task-${i}:0`, name: `127_0_0_1_${port}_${i}`, taskId: `task-${i}`, appId: '/bench', host: '127.0.0.1', port, draining: false, cookie: '',
      }));
      // 100 servers per backend, as many apps of a large cluster.
      const backends = new Map();
      for (let b = 0; b * 100 < SERVERS; b++) {
        const name = `app${b}_${10000 + b}`;
        backends.set(name, {
          name, appId: `/app${b}`, portIndex: 0, servicePort: 10000 + b, mode: kind === 'tcp' ? 'tcp' : 'http', balance: 'roundrobin', sticky: false,
          servers: servers.slice(b * 100, b * 100 + 100), vhosts: [], paths: [], caseInsensitivePath: false, weight: 0, redirectToHttps: false,
          useHsts: false, allowedNetworks: [], bindAddr: '*',
          healthCheck: { protocol: kind === 'tcp' ? 'TCP' : 'HTTP', path: '/health', intervalSeconds: INTERVAL, timeoutSeconds: 5, maxConsecutiveFailures: 3 },
        });
      }
      const checker = new HealthChecker({ connectTimeoutMs: 3000, maxConcurrent: MAX, logger: silent });
      checker.sync({ backends });
      await new Promise((r) => setTimeout(r, INTERVAL * 1000));
      const checks0 = checker.checksTotal;
      const failed0 = checker.checksFailed;
      const cpu0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      let maxRunning = 0;
      const sampler = setInterval(() => (maxRunning = Math.max(maxRunning, checker.running)), 10);
      await new Promise((r) => setTimeout(r, DURATION * 1000));
      clearInterval(sampler);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      const checks = checker.checksTotal - checks0;
      console.log(
        `  ${kind.padEnd(4)} ${Math.round(checks / seconds).toLocaleString('en-US').padStart(7)} checks/s (expected ${Math.round(SERVERS / INTERVAL).toLocaleString('en-US')}), ` +
          `${(cpuMs / seconds / 10).toFixed(1)}% of a core, ${((cpuMs * 1000) / checks).toFixed(1)} µs CPU per check, ` +
          `failed ${checker.checksFailed - failed0}, down ${checker.down.size}, most in flight ${maxRunning}, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB`,
      );
      checker.close();
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    console.log(`bench/lb/health-checks failed: ${err.stack ?? err}`);
  } finally {
    listener.kill('SIGKILL');
  }
  process.exit(0);
}
