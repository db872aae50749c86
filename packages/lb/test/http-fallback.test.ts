// The key HTTP behaviour tests again, on the fallback (Node's http server in front, undici behind,
// Node's http client for upgrades) that baton-lb runs on when Node's internal parser fails its
// start-up self-test: routing, keep-alive, pipelining, chunked bodies, 100-continue, HEAD/204/304,
// refusals, timeouts and WebSocket upgrades (the files below run here with BATON_LB_HTTP_PARSER=fallback).

import './fallback-env.js';
import { describe, expect, it } from 'vitest';
import { httpParserStatus } from '../src/native-http-parser.js';
import { Upstreams } from '../src/upstream.js';
import './http-semantics.test.js';
import './proxy.test.js';

describe('fallback mode', () => {
  it('is selected by BATON_LB_HTTP_PARSER=fallback, with undici for upstreams', () => {
    expect(httpParserStatus()).toEqual({ mode: 'fallback', reason: 'BATON_LB_HTTP_PARSER=fallback' });
    expect(new Upstreams({ connectTimeoutMs: 1_000, serverTimeoutMs: 1_000, client: 'http1' }).client).toBe('undici');
  });
});
