// The one module over Node's internal HTTP parser: its start-up self-test passes on this Node, fails
// (naming what differed) on a parser that misbehaves or is missing, and a failing self-test puts
// baton-lb on the fallback with one warning — and it still serves. Runs with --pending-deprecation
// (vitest.config.ts): no deprecation warning may come from using the parser.

import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { checkNativeParser, httpParserStatus, selfTest, type NativeBinding } from '../src/native-http-parser.js';
import type { LoadBalancer } from '../src/server.js';
import { captureLogger, makeBackend, makeServer, makeTable, rawRequest, startEcho, startLocalLb, type Echo } from './helpers.js';

const real = createRequire(import.meta.url)('_http_common') as NativeBinding;
const warnings: Error[] = [];
process.on('warning', (w) => warnings.push(w));

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('native-http-parser self-test', () => {
  it('passes on this Node, with --pending-deprecation on and no deprecation warning', async () => {
    expect(process.execArgv).toContain('--pending-deprecation');
    expect(selfTest(real)).toEqual([]);
    expect(checkNativeParser()).toEqual({ mode: 'native' });
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings.filter((w) => w.name === 'DeprecationWarning').map((w) => w.message)).toEqual([]);
  });

  it('fails, naming what differed, on a parser whose callback slots moved', () => {
    // As a Node whose internal parser changed its layout: the head arrives in the wrong callback.
    class Moved extends real.HTTPParser {
      static kOnHeadersComplete = real.HTTPParser.kOnBody;
      static kOnBody = real.HTTPParser.kOnHeadersComplete;
    }
    const status = checkNativeParser(() => ({ HTTPParser: Moved, methods: real.methods }));
    expect(status.mode).toBe('fallback');
    expect(status.reason).toMatch(/^Node's internal HTTP parser failed its self-test: ./);
  });

  it('falls back when the internal module is missing', () => {
    const status = checkNativeParser(() => {
      throw new Error("Cannot find module '_http_common'");
    });
    expect(status).toEqual({ mode: 'fallback', reason: "Node's internal HTTP parser is not available: Cannot find module '_http_common'" });
  });

  it('a failing self-test puts baton-lb on the fallback with one warning, and it serves', async () => {
    // Break the parser before baton-lb's first (once per process) self-test; Node's own http
    // server read its slots at load and is not affected.
    const saved = real.HTTPParser.kOnHeadersComplete;
    real.HTTPParser.kOnHeadersComplete = real.HTTPParser.kOnBody;
    cleanups.push(() => {
      real.HTTPParser.kOnHeadersComplete = saved;
    });
    expect(httpParserStatus().mode).toBe('fallback');
    const echo: Echo = await startEcho('e1');
    cleanups.push(() => echo.close());
    const lines: string[] = [];
    const lb: LoadBalancer = await startLocalLb({
      logger: captureLogger(lines),
      initialTable: makeTable([makeBackend('app', [makeServer('s1', echo.port)], { vhosts: ['a.com'] })]),
    });
    cleanups.push(() => lb.close());
    const warned = lines.map((l) => JSON.parse(l) as { level: string; msg: string; reason?: string }).filter((l) => l.level === 'warn');
    expect(warned).toHaveLength(1);
    expect(warned[0].msg).toMatch(/fallback/);
    expect(warned[0].reason).toMatch(/failed its self-test/);
    const res = await rawRequest(lb.addresses.http!, 'GET /hi HTTP/1.1\r\nHost: a.com\r\nConnection: close\r\n\r\n');
    expect(res).toMatch(/^HTTP\/1\.1 200 /);
    expect(res).toContain('"url":"/hi"');
  });
});
