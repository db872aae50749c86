/** Polls `predicate` until it holds, or fails after `timeoutMs` naming what was awaited. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${predicate.toString()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
