// Access logs: one line per HTTP request and per TCP connection, with the fields of HAProxy's
// `option httplog` / `option tcplog` (HAProxy 2 timers). Three sinks:
//   - JSON on stdout, the default: one pino-format object per line with HAProxy's field names;
//   - syslog (marathon-lb's --syslog-socket): a Unix datagram socket path or udp://host:port, each
//     line an RFC 3164 message as HAProxy sends them (`<134>Dec  1 14:30:00 baton-lb[42]: ...`), or,
//     with --log-format, marathon-lb's Python logging format applied (as its SysLogHandler sends);
//   - off.
// Every sink is bounded: a sink that cannot keep up drops lines (and counts them) rather than buffer
// without end or slow the proxy down.

import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { write as fsWrite, writeSync } from 'node:fs';

export interface HttpLogEntry {
  clientIp: string;
  clientPort: number;
  /** When the request was received (ms since the epoch). */
  acceptedAt: number;
  frontend: string;
  /** The backend, or the frontend's name when the request never reached one (as HAProxy). */
  backend: string;
  /** The server, or `<NOSRV>`. */
  server: string;
  /** HAProxy 2's timers, ms; -1 = that phase was never reached. */
  TR: number;
  Tw: number;
  Tc: number;
  Tr: number;
  Ta: number;
  status: number;
  /** Bytes of the response body sent to the client. */
  bytes: number;
  /** HAProxy's termination state with the two cookie characters, e.g. `----`, `SC--`, `CD--`. */
  termination: string;
  method: string;
  url: string;
  http10: boolean;
  /** The request came over HTTP/2 (logged as `HTTP/2.0`, as HAProxy does). */
  http2?: boolean;
}

export interface TcpLogEntry {
  clientIp: string;
  clientPort: number;
  acceptedAt: number;
  frontend: string;
  backend: string;
  server: string;
  Tw: number;
  Tc: number;
  /** Whole connection, accept to close. */
  Tt: number;
  /** Bytes sent to the client. */
  bytes: number;
  /** Two characters, e.g. `--`, `SC`, `CD`. */
  termination: string;
}

export interface AccessLog {
  http(entry: HttpLogEntry): void;
  tcp(entry: TcpLogEntry): void;
  /** Lines dropped because the sink could not keep up. */
  readonly dropped: number;
  close(): Promise<void>;
}

export const NO_SERVER = '<NOSRV>';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

let dateSecond = -1;
let datePrefix = '';

/** HAProxy's accept date: `01/Dec/2026:14:30:00.123` (local time; the part up to the second is cached). */
export function haproxyDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== dateSecond) {
    const d = new Date(second * 1000);
    datePrefix = `${pad(d.getDate())}/${MONTHS[d.getMonth()]}/${d.getFullYear()}:${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.`;
    dateSecond = second;
  }
  const millis = ms - second * 1000;
  return datePrefix + (millis >= 100 ? '' : millis >= 10 ? '0' : '00') + millis;
}

/** The protocol of the request line as HAProxy logs it. */
function httpVersion(e: HttpLogEntry): string {
  return e.http2 === true ? 'HTTP/2.0' : e.http10 ? 'HTTP/1.0' : 'HTTP/1.1';
}

/** The request line as HAProxy logs it, quoted. */
function requestLine(e: HttpLogEntry): string {
  return `"${e.method} ${e.url} ${httpVersion(e)}"`;
}

/**
 * HAProxy's httplog line: `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc
 * %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r` (connection counts, queues and captures logged as 0/-).
 */
export function formatHttpLog(e: HttpLogEntry): string {
  return `${e.clientIp}:${e.clientPort} [${haproxyDate(e.acceptedAt)}] ${e.frontend} ${e.backend}/${e.server} ${e.TR}/${e.Tw}/${e.Tc}/${e.Tr}/${e.Ta} ${e.status} ${e.bytes} - - ${e.termination} 0/0/0/0/0 0/0 ${requestLine(e)}`;
}

/** HAProxy's tcplog line: `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`. */
export function formatTcpLog(e: TcpLogEntry): string {
  return `${e.clientIp}:${e.clientPort} [${haproxyDate(e.acceptedAt)}] ${e.frontend} ${e.backend}/${e.server} ${e.Tw}/${e.Tc}/${e.Tt} ${e.bytes} ${e.termination} 0/0/0/0/0 0/0`;
}

/** RFC 3164 header as HAProxy writes it: `<PRI>Mmm dd hh:mm:ss tag[pid]: ` (local time, no hostname). */
export function rfc3164(priority: number, ms: number, tag: string, pid: number, message: string): string {
  const d = new Date(ms);
  const day = String(d.getDate()).padStart(2, ' ');
  return `<${priority}>${MONTHS[d.getMonth()]} ${day} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${tag}[${pid}]: ${message}`;
}

/** Python's `logging` asctime: `2026-12-01 14:30:00,123`. */
function asctime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())},${pad(d.getMilliseconds(), 3)}`;
}

/**
 * marathon-lb's --log-format (a Python `logging` format such as `%(asctime)-15s %(name)s: %(message)s`)
 * applied to one access-log line. Known keys: asctime, name, levelname, levelno, message, process,
 * created; others become empty. Widths (`-15`, `8`) pad as Python does.
 */
export function applyLogFormat(format: string, ms: number, message: string, pid = process.pid): string {
  return format.replace(/%(?:\((\w+)\)(-?\d*)([sd])|%)/g, (whole, key: string | undefined, width: string) => {
    if (key === undefined) return '%';
    let value: string;
    switch (key) {
      case 'asctime': value = asctime(ms); break;
      case 'name': value = 'baton_lb.access'; break;
      case 'levelname': value = 'INFO'; break;
      case 'levelno': value = '20'; break;
      case 'message': value = message; break;
      case 'process': value = String(pid); break;
      case 'created': value = (ms / 1000).toFixed(3); break;
      default: value = '';
    }
    if (width === '') return value;
    const n = Number(width);
    return n < 0 ? value.padEnd(-n) : value.padStart(n);
  });
}

export type SyslogTarget = { kind: 'off' } | { kind: 'unix'; path: string } | { kind: 'udp'; host: string; port: number };

/**
 * marathon-lb's --syslog-socket: `/dev/null` = off (its Docker image's default), a path = a Unix
 * datagram socket (e.g. /dev/log), `udp://host:port` or `host:port` = UDP. Throws on anything else.
 */
export function parseSyslogTarget(value: string): SyslogTarget {
  const v = value.trim();
  if (v === '' || v === '/dev/null') return { kind: 'off' };
  if (v.startsWith('/')) return { kind: 'unix', path: v };
  const m = /^(?:udp:\/\/)?(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(v);
  if (m !== null && Number(m[2]) > 0 && Number(m[2]) <= 65535) return { kind: 'udp', host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new Error(`not a socket path, udp://host:port or /dev/null: ${value}`);
}

// --- sinks ---------------------------------------------------------------------------------------

/** Printable ASCII without `"` or `\\`: written into a JSON string as it is. */
const SAFE_JSON = /^[ !#-[\]-~]*$/;

/** Bytes of JSON lines waiting for stdout before further lines are dropped. */
const JSON_BUFFER_BYTES = 16 * 1024 * 1024;
/** Datagrams handed to the OS and not yet confirmed before further lines are dropped. */
const MAX_PENDING_DATAGRAMS = 1024;
/** HAProxy's default log line length; longer lines are cut. */
const MAX_SYSLOG_LINE = 1024;

/** Lines are written when this much is waiting, or `FLUSH_MS` after the first of them. */
const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 50;

/**
 * Where a LineWriter's chunks go: `done` tells how much was taken (less than all: the rest is offered
 * again). A chunk always ends at the end of a line.
 */
export type ChunkSink = (chunk: Buffer, done: (err: NodeJS.ErrnoException | null, written: number) => void) => void;

function fdSink(fd: number): ChunkSink {
  return (chunk, done) => fsWrite(fd, chunk, 0, chunk.length, null, done);
}

/**
 * Lines to a file descriptor (or another sink) in large writes: one write per 64 KiB or per 50 ms,
 * one at a time, at most `maxBytes` waiting (more is dropped and counted). pino's asynchronous
 * destination writes once per event-loop turn, which under load cost ~5 µs per line; this costs a
 * fraction of that.
 */
export class LineWriter {
  dropped = 0;
  private buffer = '';
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly sink: ChunkSink;

  constructor(
    private readonly target: number | ChunkSink,
    private readonly maxBytes = JSON_BUFFER_BYTES,
  ) {
    this.sink = typeof target === 'number' ? fdSink(target) : target;
  }

  /** `text`: one or more whole lines (`lines` of them, for the count of dropped lines). */
  write(text: string, lines = 1): void {
    if (this.buffer.length + text.length > this.maxBytes) {
      this.dropped += lines;
      return;
    }
    this.buffer += text;
    if (this.writing) return;
    if (this.buffer.length >= FLUSH_BYTES) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(this.flush, FLUSH_MS);
      this.timer.unref();
    }
  }

  private readonly flush = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.writing || this.buffer === '') return;
    const chunk = Buffer.from(this.buffer, 'utf8');
    this.buffer = '';
    this.writing = true;
    this.writeChunk(chunk);
  };

  private writeChunk(chunk: Buffer): void {
    this.sink(chunk, (err, written) => {
      if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') written = 0;
      else if (err) {
        this.dropped++; // stdout closed or broken: the chunk is lost, later lines are tried again
        written = chunk.length;
      }
      if (written < chunk.length) {
        const rest = chunk.subarray(written);
        setTimeout(() => this.writeChunk(rest), written === 0 ? 10 : 0).unref();
        return;
      }
      this.writing = false;
      if (this.buffer.length >= FLUSH_BYTES) this.flush();
      else if (this.buffer !== '' && this.timer === undefined) {
        this.timer = setTimeout(this.flush, FLUSH_MS);
        this.timer.unref();
      }
    });
  }

  /** Writes what is waiting (synchronously, after the write in flight), for shutdown. */
  async close(timeoutMs = 1_000): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.writing && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    if (this.buffer === '') return;
    if (typeof this.target === 'number') {
      try {
        writeSync(this.target, this.buffer);
      } catch {
        this.dropped++;
      }
      this.buffer = '';
      return;
    }
    this.flush();
    while (this.writing && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * pino's JSON line format (`level`, `time`, `pid`, `hostname`, `component`, `msg`) with HAProxy's field
 * names, on `destination`: a file descriptor (stdout by default), or a sink (a worker's lines go to the
 * primary, the one writer of stdout). The line is built here rather than by pino's `logger.info(object)`,
 * which walks and escapes every field (~4 µs per request).
 */
export function jsonAccessLog(destination: number | ChunkSink = 1, options: { pid?: number } = {}): AccessLog {
  const writer = new LineWriter(destination);
  const base = `,"pid":${options.pid ?? process.pid},"hostname":${JSON.stringify(hostname())},"component":"access"`;
  const str = (value: string): string => (SAFE_JSON.test(value) ? `"${value}"` : JSON.stringify(value));
  return {
    http(e) {
      writer.write(
        `{"level":30,"time":${Date.now()}${base},"client_ip":"${e.clientIp}","client_port":${e.clientPort},"accept_date":"${haproxyDate(e.acceptedAt)}",` +
          `"frontend_name":${str(e.frontend)},"backend_name":${str(e.backend)},"server_name":${str(e.server)},"TR":${e.TR},"Tw":${e.Tw},"Tc":${e.Tc},"Tr":${e.Tr},"Ta":${e.Ta},` +
          `"status_code":${e.status},"bytes_read":${e.bytes},"termination_state":"${e.termination}","http_request":${str(`${e.method} ${e.url} ${httpVersion(e)}`)},"msg":"http"}\n`,
      );
    },
    tcp(e) {
      writer.write(
        `{"level":30,"time":${Date.now()}${base},"client_ip":"${e.clientIp}","client_port":${e.clientPort},"accept_date":"${haproxyDate(e.acceptedAt)}",` +
          `"frontend_name":${str(e.frontend)},"backend_name":${str(e.backend)},"server_name":${str(e.server)},"Tw":${e.Tw},"Tc":${e.Tc},"Tt":${e.Tt},` +
          `"bytes_read":${e.bytes},"termination_state":"${e.termination}","msg":"tcp"}\n`,
      );
    },
    get dropped() {
      return writer.dropped;
    },
    close: () => writer.close(),
  };
}

/** What a datagram sink needs: send one message, close. */
interface DatagramSender {
  send(message: Buffer, done: (err?: Error | null) => void): void;
  close(): void;
}

function unixSender(path: string): DatagramSender {
  // Node's dgram has no Unix datagram sockets: node-unix-socket's prebuilt addon provides them.
  const { DgramSocket } = createRequire(import.meta.url)('node-unix-socket') as {
    DgramSocket: new () => { sendTo(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void; close(): void; on(event: 'error', listener: (err: Error) => void): void };
  };
  const socket = new DgramSocket();
  socket.on('error', () => undefined);
  return {
    send(message, done) {
      try {
        socket.sendTo(message, 0, message.length, path, (err) => done(err));
      } catch (err) {
        done(err as Error);
      }
    },
    close: () => socket.close(),
  };
}

function udpSender(host: string, port: number): DatagramSender {
  const socket: UdpSocket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  socket.on('error', () => undefined);
  socket.unref();
  return {
    send(message, done) {
      socket.send(message, port, host, (err) => done(err));
    },
    close: () => socket.close(),
  };
}

export interface SyslogOptions {
  target: Exclude<SyslogTarget, { kind: 'off' }>;
  /** marathon-lb's --log-format; undefined = HAProxy's RFC 3164 lines. */
  logFormat?: string;
  /** Program name in the RFC 3164 header (default baton-lb). */
  tag?: string;
  /** The pid in each line (default this process's; with --workers, the primary's: one pid per load balancer). */
  pid?: number;
}

/** Syslog over a Unix datagram socket or UDP, facility local0, severity info (HAProxy's `log ... local0`). */
export function syslogAccessLog(options: SyslogOptions): AccessLog {
  const sender = options.target.kind === 'unix' ? unixSender(options.target.path) : udpSender(options.target.host, options.target.port);
  const tag = options.tag ?? 'baton-lb';
  const pid = options.pid ?? process.pid;
  const priority = 16 * 8 + 6;
  let pending = 0;
  let dropped = 0;
  let failed = 0;
  const sent = (err?: Error | null): void => {
    pending--;
    if (err) failed++;
  };
  const emit = (at: number, message: string): void => {
    if (pending >= MAX_PENDING_DATAGRAMS) {
      dropped++;
      return;
    }
    let line = options.logFormat === undefined ? rfc3164(priority, at, tag, pid, message) : `<${priority}>${applyLogFormat(options.logFormat, at, message, pid)}`;
    if (line.length > MAX_SYSLOG_LINE) line = line.slice(0, MAX_SYSLOG_LINE);
    pending++;
    sender.send(Buffer.from(line, 'utf8'), sent);
  };
  return {
    http: (e) => emit(Date.now(), formatHttpLog(e)),
    tcp: (e) => emit(Date.now(), formatTcpLog(e)),
    get dropped() {
      return dropped + failed;
    },
    async close() {
      const deadline = Date.now() + 500;
      while (pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      sender.close();
    },
  };
}
