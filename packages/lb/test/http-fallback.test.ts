// The key HTTP behaviour tests again, on the fallback (Node's http server in front, undici behind,
// Node's http client for upgrades) that baton-lb runs on when Node's internal parser fails its
// start-up self-test: routing, keep-alive, pipelining, chunked bodies, 100-continue, HEAD/204/304,
// refusals, timeouts and WebSocket upgrades (the files below run here with BATON_LB_HTTP_PARSER=fallback).

import './fallback-env.js';
import type { Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { httpParserStatus } from '../src/native-http-parser.js';
import { Upstreams } from '../src/upstream.js';
import './http-semantics.test.js';
import './proxy.test.js';
import { makeBackend, makeServer, makeTable, rawRequest, startEcho, startLocalLb } from './helpers.js';

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

describe('fallback mode', () => {
  it('is selected by BATON_LB_HTTP_PARSER=fallback, with undici for upstreams', () => {
    expect(httpParserStatus()).toEqual({ mode: 'fallback', reason: 'BATON_LB_HTTP_PARSER=fallback' });
    expect(new Upstreams({ connectTimeoutMs: 1_000, serverTimeoutMs: 1_000, client: 'http1' }).client).toBe('undici');
  });

  it('relays an answer other than 101 to an Upgrade request, then closes that connection', async () => {
    const echo = await startEcho('ws');
    closers.push(() => echo.close());
    echo.server.on('upgrade', (_req, socket: Socket) => {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nno ws\r\n');
    });
    const lb = await startLocalLb({ initialTable: makeTable([makeBackend('app', [makeServer('s1', echo.port)], { vhosts: ['a.com'] })]) });
    closers.push(() => lb.close());
    const got = await rawRequest(lb.addresses.http!, 'GET /chat HTTP/1.1\r\nHost: a.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(got).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(got).toMatch(/\r\nconnection: close\r\n/i);
    expect(got.endsWith('\r\n\r\nno ws\r\n')).toBe(true);
  });
});
