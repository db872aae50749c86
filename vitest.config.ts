import { defineConfig } from 'vitest/config';
import { readdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Tests import workspace packages from their TypeScript sources, so `vitest` needs no build.
const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url));
const alias = readdirSync(packagesDir)
  .filter((dir) => existsSync(`${packagesDir}${dir}/src/index.ts`))
  .map((dir) => ({ find: new RegExp(`^@baton/${dir}$`), replacement: `${packagesDir}${dir}/src/index.ts` }));

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // baton-lb reaches into Node's internal HTTP parser (lb/src/native-http-parser.ts): tests run with
    // --pending-deprecation so that a deprecation Node plans for it shows up here first.
    poolOptions: { forks: { execArgv: ['--pending-deprecation'] } },
    reporters: ['default'],
    // In-process baton-lb runs would print an access-log line per request; tests that want them ask.
    env: { BATON_LB_ACCESS_LOG: 'off' },
  },
});
