// Fails when a tracked file refers to a path outside the repository (such as a `../shared/` beside the
// checkout), so a clone into any folder runs the same as CI. A reference is a relative path starting at a
// quote, bracket, space or line start whose `..` segments climb above the repository root from the file's
// folder, or an absolute path into the folders that hold this checkout.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, relative, resolve, sep } from 'node:path';

const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
// pnpm-lock.yaml links workspace packages by paths relative to each importer, not to the file.
const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((file) => file !== '' && file !== 'pnpm-lock.yaml');
const climbing = /(?<=^|[\s'"`(=[:,])((?:\.\.\/)+[\w@.-][\w@./-]*)/gm;
const outsideRoots = [dirname(root)].filter((dir) => dir !== sep);

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
    for (const outside of outsideRoots) {
      const at = line.indexOf(`${outside}/`);
      if (at >= 0 && !line.startsWith(root, at)) problems.push(`${file}:${index + 1}: ${outside}/… is outside the repository`);
    }
  });
}
if (problems.length > 0) {
  console.error(`These tracked files refer to paths outside the repository:\n${problems.join('\n')}`);
  process.exit(1);
}
console.log(`self-contained: ${files.length} tracked files refer to nothing outside the repository`);
