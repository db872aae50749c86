// One closing line for every vitest JSON report named on the command line (one report per Node version).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

let passed = 0, failed = 0, skipped = 0;
for (const file of process.argv.slice(2)) {
  let report = {};
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    console.log(`${basename(file, '.json')}: no report`);
    failed += 1;
    continue;
  }
  const counts = [report.numPassedTests ?? 0, report.numFailedTests ?? 0, (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)];
  console.log(`${basename(file, ".json")}: ${counts[0]} passed / ${counts[1]} failed / ${counts[2]} skipped`);
  passed += counts[0];
  failed += counts[1];
  skipped += counts[2];
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
