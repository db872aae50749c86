// Preloaded into baton-dns and baton-lb by bench/soak/run.mjs (`node --import`): writes the
// process's memory figures to $BATON_SOAK_MEM_FILE every 2 s, so the soak can print RSS and heap
// without any change to the servers. The timer never keeps the process alive.
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.BATON_SOAK_MEM_FILE;
if (file) {
  const write = () => {
    try {
      const m = process.memoryUsage();
      writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external }));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the soak reads the last good file
    }
  };
  write();
  setInterval(write, 2_000).unref();
}
