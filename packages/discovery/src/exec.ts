// `baton-env exec … -- cmd args`: Node has no execve, so the command runs as a child with the same
// stdio; signals sent to baton-env are forwarded to it, and baton-env ends as the child ended (same exit
// code, or killed by the same signal).

import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** Runs `command` with `env`; never returns (the process exits as the child did). */
export function execWith(command: string[], env: NodeJS.ProcessEnv): void {
  const [file, ...args] = command;
  const child = spawn(file, args, { stdio: 'inherit', env });
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of FORWARDED) {
    const handler = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  const detach = () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
  child.on('error', (err: NodeJS.ErrnoException) => {
    detach();
    process.stderr.write(`baton-env: cannot run ${file}: ${err.code === 'ENOENT' ? 'command not found' : err.message}\n`);
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    detach();
    if (signal) {
      // Die of the same signal so our parent sees what it would have seen with a real exec. As PID 1 in
      // a container a signal without a handler is ignored, hence the conventional 128+n fallback.
      process.kill(process.pid, signal);
      setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100);
      return;
    }
    process.exit(code ?? 0);
  });
}
