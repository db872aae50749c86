// The ceiling of one Node UDP socket: answers every query with its own question and no records
// (NOERROR, as NSD's NODATA; the query's EDNS record is left out), with no lookup, cache or metrics. bench/dns/run.mjs runs it beside
// baton-dns and NSD, so "how close is baton-dns to what one Node socket can do" is measured, not guessed.
//   node bench/dns/udp-floor.mjs <port, 0 = any>   (prints `ready <port>`)
import dgram from 'node:dgram';

const port = Number(process.argv[2]);
const socket = dgram.createSocket({ type: 'udp4', lookup: (host, _opts, cb) => cb(null, host, 4) });
socket.on('message', (query, rinfo) => {
  if (query.length < 12 || (query[2] & 0x80) !== 0) return;
  let end = 12;
  while (end < query.length && query[end] !== 0) end += query[end] + 1;
  end += 5; // the root label, QTYPE, QCLASS
  if (end > query.length) return;
  query[2] = 0x80 | (query[2] & 0x79); // QR, the query's opcode and RD
  query[3] = 0;
  query.fill(0, 6, 12); // no answer, authority or additional records
  socket.send(query.subarray(0, end), rinfo.port, rinfo.address);
});
socket.bind(port, '127.0.0.1', () => {
  try {
    socket.setRecvBufferSize(4 * 1024 * 1024);
    socket.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // the system maximum applies
  }
  process.stdout.write(`ready ${socket.address().port}\n`);
});
