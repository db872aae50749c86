// `pnpm bench`: runs every benchmark in bench/ one after the other. Benchmarks print figures beside a
// peer measured in the same run; they never fail the build, so a failing one is reported and skipped.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv[2];
const entries = [];
for (const name of readdirSync(benchDir).sort()) {
  const path = join(benchDir, name);
  if (name.endsWith('.mjs') && name !== 'run.mjs') entries.push([name.replace(/\.mjs$/, ''), 'node', ['--expose-gc', path]]);
  else if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'run.mjs'))) entries.push([name, 'node', ['--expose-gc', join(path, 'run.mjs')]]);
    else if (existsSync(join(path, 'run.sh'))) entries.push([name, 'bash', [join(path, 'run.sh')]]);
  }
}
for (const [name, cmd, args] of entries) {
  if (only && name !== only) continue;
  console.log(`\n=== bench: ${name} ===`);
  const result = spawnSync(cmd, args, { stdio: 'inherit' });
  if (result.status !== 0) console.log(`(bench ${name} exited with ${result.status ?? result.signal}; figures above may be incomplete)`);
}
