import { createSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LineWriter, applyLogFormat, formatHttpLog, formatTcpLog, haproxyDate, parseSyslogTarget, rfc3164, syslogAccessLog, type HttpLogEntry } from '../src/access-log.js';

const at = new Date(2026, 11, 1, 9, 5, 7, 42).getTime(); // local time, as HAProxy logs

const entry: HttpLogEntry = {
  clientIp: '10.0.0.1', clientPort: 51234, acceptedAt: at, frontend: 'marathon_http_in', backend: 'web_10000', server: 'agent1_10_0_0_2_31000',
  TR: 0, Tw: 0, Tc: 0, Tr: 12, Ta: 15, status: 200, bytes: 512, termination: '----', method: 'GET', url: '/a?b=1', http10: false,
};

describe('access-log formats', () => {
  it("HAProxy's httplog and tcplog lines", () => {
    expect(haproxyDate(at)).toBe('01/Dec/2026:09:05:07.042');
    expect(formatHttpLog(entry)).toBe(
      '10.0.0.1:51234 [01/Dec/2026:09:05:07.042] marathon_http_in web_10000/agent1_10_0_0_2_31000 0/0/0/12/15 200 512 - - ---- 0/0/0/0/0 0/0 "GET /a?b=1 HTTP/1.1"',
    );
    expect(formatTcpLog({ clientIp: '10.0.0.1', clientPort: 5, acceptedAt: at, frontend: 'db_5432', backend: 'db_5432', server: '<NOSRV>', Tw: -1, Tc: -1, Tt: 3, bytes: 0, termination: 'SC' })).toBe(
      '10.0.0.1:5 [01/Dec/2026:09:05:07.042] db_5432 db_5432/<NOSRV> -1/-1/3 0 SC 0/0/0/0/0 0/0',
    );
  });

  it('RFC 3164 header (space-padded day) and the Python logging format of marathon-lb', () => {
    expect(rfc3164(134, at, 'baton-lb', 7, 'msg')).toBe('<134>Dec  1 09:05:07 baton-lb[7]: msg');
    expect(applyLogFormat('%(asctime)-25s|%(name)s: %(levelname)s %(message)s %(unknown)s 100%%', at, 'm')).toBe(
      '2026-12-01 09:05:07,042  |baton_lb.access: INFO m  100%',
    );
  });

  it('--syslog-socket values: /dev/null = off, a path, udp://host:port; anything else is an error', () => {
    expect(parseSyslogTarget('/dev/null')).toEqual({ kind: 'off' });
    expect(parseSyslogTarget('/dev/log')).toEqual({ kind: 'unix', path: '/dev/log' });
    expect(parseSyslogTarget('udp://[::1]:514')).toEqual({ kind: 'udp', host: '::1', port: 514 });
    expect(parseSyslogTarget('logs.example:1514')).toEqual({ kind: 'udp', host: 'logs.example', port: 1514 });
    expect(() => parseSyslogTarget('udp://host:70000')).toThrow('not a socket path');
  });

  it('syslog over UDP: one datagram per line', async () => {
    const receiver = createSocket('udp4');
    const got: string[] = [];
    receiver.on('message', (m) => got.push(m.toString()));
    await new Promise<void>((resolve) => receiver.bind(0, '127.0.0.1', resolve));
    const log = syslogAccessLog({ target: { kind: 'udp', host: '127.0.0.1', port: receiver.address().port } });
    log.http(entry);
    for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await log.close();
    receiver.close();
    expect(got).toHaveLength(1);
    expect(got[0]).toMatch(/^<134>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d baton-lb\[\d+\]: 10\.0\.0\.1:51234 \[01\/Dec\/2026:09:05:07\.042\] marathon_http_in /);
    expect(log.dropped).toBe(0);
  });
});

describe('LineWriter', () => {
  it('writes every line in order, drops (and counts) what does not fit the buffer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-linewriter-'));
    const fd = openSync(join(dir, 'out'), 'w');
    const writer = new LineWriter(fd, 100_000);
    for (let i = 0; i < 5_000; i++) writer.write(`line ${i}\n`);
    await new Promise((r) => setTimeout(r, 100));
    const big = 'x'.repeat(200_000);
    writer.write(big);
    writer.write('last\n');
    await writer.close();
    closeSync(fd);
    const lines = readFileSync(join(dir, 'out'), 'utf8').split('\n');
    rmSync(dir, { recursive: true, force: true });
    expect(lines.slice(0, 5_000)).toEqual(Array.from({ length: 5_000 }, (_, i) => `line ${i}`));
    expect(lines[5_000]).toBe('last');
    expect(writer.dropped).toBe(1);
  });
});
