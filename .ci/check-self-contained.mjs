// Fails when a tracked file refers to a path outside the repository (such as a `../shared/` beside the
// checkout), so a clone into any folder runs the same as CI. A reference is a relative path starting at a
// quote, bracket, space or line start whose `..` segments climb above the repository root from the file's
// folder, or an absolute path outside the repository into a folder that exists on this machine and is
// not one of the system's own (/etc, /usr, /tmp, …): a sibling of the checkout such as /work/shared.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
// pnpm-lock.yaml links workspace packages by paths relative to each importer, not to the file.
const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((file) => file !== '' && file !== 'pnpm-lock.yaml');
const climbing = /(?<=^|[\s'"`(=[:,])((?:\.\.\/)+[\w@.-][\w@./-]*)/gm;
const absolute = /(?<=^|[\s'"`(=[:,])(\/[\w@.-]+\/[\w@.-]+)/gm;
const SYSTEM = new Set(['bin', 'boot', 'dev', 'etc', 'lib', 'lib64', 'media', 'mnt', 'opt', 'proc', 'root', 'run', 'sbin', 'srv', 'sys', 'tmp', 'usr', 'var', 'home']);

const problems = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(resolve(root, file), 'utf8');
  } catch {
    continue;
  }
  if (text.includes('\0')) continue;
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    for (const match of line.matchAll(climbing)) {
      const target = resolve(root, dirname(file), match[1]);
      if (relative(root, target).startsWith('..')) problems.push(`${file}:${index + 1}: ${match[1]} leaves the repository`);
    }
    for (const match of line.matchAll(absolute)) {
      const top = match[1];
      if (SYSTEM.has(top.split('/')[1]) || !relative(root, top).startsWith('..') || !existsSync(top)) continue;
      problems.push(`${file}:${index + 1}: ${top} is outside the repository`);
    }
  });
}
if (problems.length > 0) {
  console.error(`These tracked files refer to paths outside the repository:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`self-contained: ${files.length} tracked files refer to nothing outside the repository`);
