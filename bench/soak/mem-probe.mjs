// Preloaded into baton-dns and baton-lb by bench/soak/run.mjs (`node --import`): writes the
// process's memory figures to $BATON_SOAK_MEM_FILE every 2 s, so the soak can print RSS and heap
// without any change to the servers. The timer never keeps the process alive. With --expose-gc it
// also forces a full GC every 30 s and records the heap left after it (`heapLive`): what the process
// really keeps, where `heapUsed` also counts garbage not collected yet, and the RSS right after it
// (`rssAfterGc`): the process's memory without the garbage of the moment.
import { renameSync, writeFileSync } from 'node:fs';

const file = process.env.BATON_SOAK_MEM_FILE;
if (file) {
  let heapLive;
  let rssAfterGc;
  let lastGc = 0;
  const write = () => {
    try {
      if (typeof globalThis.gc === 'function' && Date.now() - lastGc >= 30_000) {
        globalThis.gc();
        lastGc = Date.now();
        const afterGc = process.memoryUsage();
        heapLive = afterGc.heapUsed;
        rssAfterGc = afterGc.rss;
      }
      const m = process.memoryUsage();
      writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, heapLive, rssAfterGc, external: m.external }));
      renameSync(`${file}.tmp`, file);
    } catch {
      // the soak reads the last good file
    }
  };
  write();
  setInterval(write, 2_000).unref();
}
