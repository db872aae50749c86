// One active health check over a socket: a TCP connect, or an HTTP/1.0 `GET {path}` whose status line
// is read (2xx and 3xx pass, as HAProxy's `option httpchk`). Every socket is closed when the check ends;
// both waits have a timeout and at most one status line (4 KiB) is read.

import { connect } from 'node:net';
import type { CheckSpec, ProbeResult } from './health-check.js';

const MAX_STATUS_LINE = 4096;

export type Prober = (host: string, spec: CheckSpec) => Promise<ProbeResult>;

export const probe: Prober = (host, spec) =>
  new Promise((resolve) => {
    const started = Date.now();
    const socket = connect({ host, port: spec.port });
    let done = false;
    let connected = false;
    let head = '';
    const finish = (result: Omit<ProbeResult, 'durationMs'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ...result, durationMs: Date.now() - started });
    };
    let timer = setTimeout(() => finish({ passed: false, status: 'L4TOUT' }), spec.connectTimeoutMs);
    socket.once('error', (err: Error & { code?: string }) => {
      finish({ passed: false, status: connected ? 'SOCKERR' : 'L4CON', info: err.code ?? err.message });
    });
    socket.once('connect', () => {
      connected = true;
      if (spec.kind === 'tcp') {
        finish({ passed: true, status: 'L4OK' });
        return;
      }
      clearTimeout(timer);
      timer = setTimeout(() => finish({ passed: false, status: 'L7TOUT' }), spec.readTimeoutMs);
      socket.setEncoding('latin1');
      socket.write(`GET ${spec.path} HTTP/1.0\r\n\r\n`);
    });
    socket.on('data', (chunk: string) => {
      head += chunk;
      const eol = head.indexOf('\r\n');
      if (eol === -1 && head.length < MAX_STATUS_LINE) return;
      const m = /^HTTP\/\d\.\d (\d{3})/.exec(head);
      if (m === null) {
        finish({ passed: false, status: 'L7RSP', info: 'not an HTTP status line' });
        return;
      }
      const code = Number(m[1]);
      finish({ passed: code >= 200 && code < 400, status: code >= 200 && code < 400 ? 'L7OK' : 'L7STS', code });
    });
    socket.once('end', () => finish({ passed: false, status: 'L7RSP', info: 'connection closed before a status line' }));
  });
