import { FlightServer, FlightClient } from '../src/index.ts';
import type { FlightData } from '../src/index.ts';
const warnings: string[] = [];
process.removeAllListeners('warning');
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));
const N = Number(process.env.N ?? 200), SIZE = Number(process.env.SIZE ?? 256 * 1024), WIN = Number(process.env.WIN ?? 65536);
const body = new Uint8Array(SIZE);
const server = new FlightServer({
  async *doGet() { for (let i = 0; i < N; i++) yield { dataHeader: new Uint8Array(0), appMetadata: Uint8Array.of(1), dataBody: body } as FlightData; },
  async *doPut(messages) { let n = 0; for await (const _ of messages) n++; yield { appMetadata: Uint8Array.of(n & 255) }; },
}, { flowControlWindowBytes: WIN });
const port = await server.listen('127.0.0.1:0');
const client = new FlightClient(`127.0.0.1:${port}`, { flowControlWindowBytes: WIN });
let t = performance.now();
let n = 0; for await (const _ of client.doGetMessages('x')) { n++; if (n % 8 === 0) await new Promise((r) => setImmediate(r)); }
console.log('doGet', n, Math.round(performance.now() - t), 'ms', warnings.splice(0));
t = performance.now();
function* msgs() { for (let i = 0; i < N; i++) yield { dataHeader: new Uint8Array(0), appMetadata: new Uint8Array(0), dataBody: body } as FlightData; }
for await (const r of client.doPutMessages(msgs())) console.log('put ack', r.appMetadata[0]);
console.log('doPut', Math.round(performance.now() - t), 'ms', warnings.splice(0));
client.close(); await server.shutdown(100);
