// Imported first by http-fallback.test.ts: every load balancer of that file runs on the fallback.
process.env.BATON_LB_HTTP_PARSER = 'fallback';
