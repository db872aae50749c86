// Route problems in the log: each one once, when it appears, not on every table that still has it.
// baton-lb's one process logs them all; with `--workers N` the primary logs the table's problems
// (it builds the same table as every worker) and each worker only those of its own listeners and
// certificates, so N workers do not write N copies of each line.

import type { Logger } from '@baton/marathon';
import type { RouteProblem } from './route-table.js';

/** Identifies a problem, for reporting each once. */
export function problemKey(p: RouteProblem): string {
  return `${p.kind}|${p.appId}|${p.portIndex ?? ''}|${p.label ?? ''}|${p.message}`;
}

export class ProblemLog {
  private logged = new Set<string>();

  constructor(private readonly logger: Logger) {}

  /** Logs the problems not logged since they last appeared; forgets those gone (they log again if they return). */
  report(problems: Iterable<RouteProblem>): void {
    const seen = new Set<string>();
    for (const p of problems) {
      const key = problemKey(p);
      seen.add(key);
      if (this.logged.has(key)) continue;
      const fields = { appId: p.appId, portIndex: p.portIndex, label: p.label, kind: p.kind };
      if (p.severity === 'warning') this.logger.warn(fields, `route problem: ${p.message}`);
      else this.logger.error(fields, `route problem: ${p.message}`);
    }
    this.logged = seen;
  }
}
