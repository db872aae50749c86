// DNS codec speed: baton-dns's wire.ts against dns2 (a devDependency, used by the tests only).
//   npx tsc -b && node bench/dns/codec.mjs
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../packages/dns/package.json', import.meta.url));
const { Packet } = require('dns2');
const wire = await import(new URL('../../packages/dns/dist/wire.js', import.meta.url).href);
const N = 200_000;
const name = 'web-frontend.marathon.mesos';
function rate(label, fn) { for (let i = 0; i < 20_000; i++) fn(i); const t = process.hrtime.bigint(); for (let i = 0; i < N; i++) fn(i); const s = Number(process.hrtime.bigint() - t) / 1e9; console.log(label.padEnd(40), Math.round(N / s).toLocaleString('en'), 'ops/s'); }
const q = wire.encodeQuery(1, name, 1, { ednsUdpSize: 1232 });
const fields = new wire.QueryFields();
rate('decode query: baton readQuery', () => wire.readQuery(q, fields));
rate('decode query: dns2 Packet.parse', () => Packet.parse(q));
rate('encode query: baton encodeQuery', (i) => wire.encodeQuery(i & 0xffff, name, 1, { ednsUdpSize: 1232 }));
rate('encode query: dns2 toBuffer', (i) => { const p = new Packet(); p.header.id = i & 0xffff; p.header.rd = 1; p.questions.push({ name, type: Packet.TYPE.A, class: Packet.CLASS.IN }); return p.toBuffer(); });
