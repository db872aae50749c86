// A tiny UDP DNS server on 127.0.0.1 answering SRV questions from a table (NXDOMAIN otherwise), the
// way Mesos-DNS answers `_broker._tcp.kafka.mesos`. Enough for node:dns and dig; nothing more.

import { createSocket, type Socket } from 'node:dgram';

export interface SrvAnswer {
  priority?: number;
  weight?: number;
  port: number;
  target: string;
}

function encodeName(name: string): Buffer {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')])), Buffer.from([0])]);
}

function readName(packet: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let i = offset;
  while (packet[i] !== 0) {
    const length = packet[i];
    labels.push(packet.subarray(i + 1, i + 1 + length).toString('ascii'));
    i += length + 1;
  }
  return { name: labels.join('.').toLowerCase(), end: i + 1 };
}

export function answerQuery(query: Buffer, records: Map<string, SrvAnswer[]>): Buffer {
  const { name, end } = readName(query, 12);
  const qtype = query.readUInt16BE(end);
  const question = query.subarray(12, end + 4);
  const answers = qtype === 33 ? records.get(name) : undefined;
  const known = records.has(name);
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // id
  header.writeUInt16BE(0x8180 | (query.readUInt16BE(2) & 0x0100) | (known ? 0 : 3), 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers?.length ?? 0, 6);
  const rrs = (answers ?? []).map((a) => {
    const target = encodeName(a.target);
    const rr = Buffer.alloc(2 + 2 + 2 + 4 + 2 + 6);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(33, 2);
    rr.writeUInt16BE(1, 4);
    rr.writeUInt32BE(60, 6);
    rr.writeUInt16BE(6 + target.length, 10);
    rr.writeUInt16BE(a.priority ?? 0, 12);
    rr.writeUInt16BE(a.weight ?? 0, 14);
    rr.writeUInt16BE(a.port, 16);
    return Buffer.concat([rr, target]);
  });
  return Buffer.concat([header, question, ...rrs]);
}

export async function startSrvServer(
  records: Record<string, SrvAnswer[]>,
): Promise<{ address: string; set: (name: string, answers: SrvAnswer[]) => void; close: () => Promise<void> }> {
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v]));
  const socket: Socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    try {
      socket.send(answerQuery(msg, table), rinfo.port, rinfo.address);
    } catch {
      // malformed query: no answer
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    set: (name, answers) => table.set(name.toLowerCase(), answers),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
