// baton-env start-up: wall time from process start to printed exports, beside a bare `node -e 0`.
//
//   npx tsc -b packages/discovery packages/marathon-sim && node bench/env/run.mjs [--runs 50]
//
// Starts a Marathon simulator in this process with an app /meter of 3 running tasks, then runs
//   hyperfine --warmup 3 'node -e 0' 'node packages/discovery/bin/baton-env.js akka --app /meter --marathon URL'
// (plus `baton-env --help`, which loads no lookup code) and prints the mean times side by side with the
// difference to bare Node. Target: baton-env akka within 100 ms of `node -e 0`. Never fails the build.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MarathonSimulator } from '../../packages/marathon-sim/dist/index.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const args = process.argv.slice(2);
const runsIndex = args.indexOf('--runs');
const runs = runsIndex >= 0 ? Number(args[runsIndex + 1]) : 30;
const TARGET_MS = 100;

function run(cmd, argv, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
}

const sim = new MarathonSimulator({ heartbeatMs: 0 });
await sim.start();
const dir = mkdtempSync(join(tmpdir(), 'baton-bench-env-'));
try {
  await sim.createApp({ id: '/meter', instances: 3, portDefinitions: [{ port: 0 }] });
  await sim.waitForRunning('/meter');
  const bin = 'node packages/discovery/bin/baton-env.js';
  const commands = [
    ['node -e 0', 'node -e 0'],
    ['baton-env akka', `${bin} akka --app /meter --marathon ${sim.url}`],
    ['baton-env --help', `${bin} --help`],
  ];
  const exportPath = join(dir, 'hyperfine.json');
  const hyperfineArgs = ['--warmup', '3', '--runs', String(runs), '--shell=none', '--export-json', exportPath, '--style', 'basic'];
  for (const [name, command] of commands) hyperfineArgs.push('--command-name', name, command);
  console.log(`hyperfine ${hyperfineArgs.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}\n`);
  const code = await run('hyperfine', hyperfineArgs, { cwd: repo });
  if (code !== 0) {
    console.log(`hyperfine exited with ${code}`);
    process.exitCode = 1;
  } else {
    const results = JSON.parse(readFileSync(exportPath, 'utf8')).results;
    const ms = (s) => (s * 1000).toFixed(1);
    const signed = (s) => `${s >= 0 ? '+' : ''}${ms(s)} ms`;
    const bare = results[0].mean;
    const bareMedian = results[0].median;
    const head = ['command', 'mean', '± σ', 'median', 'min', 'mean - bare', 'median - bare'];
    console.log(`\n${head[0].padEnd(18)}${head.slice(1).map((h) => h.padStart(14)).join('')}`);
    for (const r of results) {
      const first = r === results[0];
      const cells = [r.mean, r.stddev, r.median, r.min].map((v) => `${ms(v)} ms`);
      cells.push(first ? '' : signed(r.mean - bare), first ? '' : signed(r.median - bareMedian));
      console.log(`${r.command.padEnd(18)}${cells.map((c) => c.padStart(14)).join('')}`);
    }
    const akka = results[1].mean - bare;
    console.log(`\nbaton-env akka: ${signed(akka)} (mean) over bare Node (target: within ${TARGET_MS} ms) — ${akka * 1000 <= TARGET_MS ? 'met' : 'NOT met'}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  await sim.stop();
}
