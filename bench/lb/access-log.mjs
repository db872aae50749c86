// bench/lb/access-log.mjs: CPU per access-log line, in isolation (packages/lb/dist).
//   node bench/lb/access-log.mjs [--lines 200000] [--per-turn 20]
// Writes --lines lines through each sink, --per-turn lines per event-loop turn (as a busy proxy would
// emit them), and reports the CPU this process used per line: the JSON sink to /dev/null, the syslog
// sink to a Unix datagram socket read by a child process (lines it could not take are dropped and
// counted, as in baton-lb), and HAProxy's httplog formatting alone. Compare with the proxy's CPU per
// request in docs/benchmarks.md ("Proxy"). Never fails: errors are printed and the script exits 0.
import { spawn } from 'node:child_process';
import { openSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(argv[i + 1]);
};
const LINES = opt('lines', 200000);
const PER_TURN = opt('per-turn', 20);
const sockPath = join(tmpdir(), `bench-access-log-${process.pid}.sock`);
let receiver;
try {
  const { jsonAccessLog, syslogAccessLog, formatHttpLog } = await import(`${root}packages/lb/dist/access-log.js`);
  const unixSocket = createRequire(join(root, 'packages/lb/package.json')).resolve('node-unix-socket');
  receiver = spawn(process.execPath, ['-e', `
    const { DgramSocket } = require(${JSON.stringify(unixSocket)});
    const s = new DgramSocket(); s.bind(${JSON.stringify(sockPath)});
    let n = 0; s.on('data', () => n++);
    process.on('message', () => process.send(n)); process.send('ready');`], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve) => receiver.once('message', resolve));
  const entry = {
    clientIp: '10.0.0.1', clientPort: 51234, acceptedAt: Date.now(), frontend: 'marathon_http_in', backend: 'web_10000', server: 'agent1_10_0_0_2_31000',
    TR: 0, Tw: 0, Tc: 0, Tr: 12, Ta: 15, status: 200, bytes: 512, termination: '----', method: 'GET', url: '/api/items?page=2', http10: false,
  };
  const json = jsonAccessLog(openSync('/dev/null', 'w'));
  const syslog = syslogAccessLog({ target: { kind: 'unix', path: sockPath } });
  const cases = [
    ['httplog formatting only', () => formatHttpLog(entry)],
    ['JSON sink (/dev/null)', () => json.http(entry)],
    ['syslog sink (Unix socket)', () => syslog.http(entry)],
  ];
  console.log(`${LINES.toLocaleString('en-US')} lines per sink, ${PER_TURN} per event-loop turn, Node ${process.versions.node}`);
  for (const [name, fn] of cases) {
    for (let round = 0; round < 2; round++) {
      const droppedBefore = name.startsWith('syslog') ? syslog.dropped : json.dropped;
      const cpu = process.cpuUsage();
      for (let i = 0; i < LINES; i++) {
        fn();
        if (i % PER_TURN === PER_TURN - 1) await new Promise((resolve) => setImmediate(resolve));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      const used = process.cpuUsage(cpu);
      const dropped = (name.startsWith('syslog') ? syslog.dropped : json.dropped) - droppedBefore;
      // The first round warms the JIT up; the second is reported.
      if (round === 1) console.log(`  ${name.padEnd(28)} ${((used.user + used.system) / LINES).toFixed(2)} µs CPU per line${dropped > 0 ? ` (${dropped.toLocaleString('en-US')} dropped: the reader could not keep up)` : ''}`);
    }
  }
  await json.close();
  await syslog.close();
} catch (err) {
  console.log(`bench/lb/access-log failed: ${err.stack ?? err}`);
} finally {
  receiver?.kill('SIGKILL');
  rmSync(sockPath, { force: true });
}
process.exit(0);
