// Which process holds a TCP socket, read from Linux's /proc (tests of baton-lb's workers).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface TcpRow {
  /** 0A listening, 01 established. */
  state: string;
  remotePort: number;
  inode: string;
}

/** The rows of /proc/net/tcp and tcp6 whose local port is `localPort`. */
export function tcpRows(localPort: number): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || parseInt(f[1].split(':')[1], 16) !== localPort) continue;
      rows.push({ state: f[3], remotePort: parseInt(f[2].split(':')[1], 16), inode: f[9] });
    }
  }
  return rows;
}

/** Which of `pids` has the socket `inode` open (undefined: none of them). */
export function socketOwner(inode: string, pids: number[]): number | undefined {
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}
