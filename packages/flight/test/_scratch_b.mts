import { FlightServer, FlightClient, FlightError, GrpcStatus, pathDescriptor, FlightDataDecoder } from '../src/index.ts';
import type { FlightData } from '../src/index.ts';
const warnings: string[] = [];
process.on('warning', (w) => warnings.push(`${w.name}: ${w.message}`));
const big = new Uint8Array(1 << 20);
const server = new FlightServer({
  async *doGet(ticket, ctx) {
    try {
      for (let i = 0; i < 300; i++) yield { dataHeader: new Uint8Array(0), appMetadata: new Uint8Array([i & 255]), dataBody: big } as FlightData;
    } finally { console.log('doGet finally, aborted=', ctx.signal.aborted); }
  },
  async *doPut(messages, ctx) {
    const t = new TextDecoder().decode((await ctx.headers) ? new Uint8Array(0) : new Uint8Array(0));
    if (ctx.headers['x-fail'] === '1') throw new FlightError(GrpcStatus.NOT_FOUND, 'no such dataset', 'DATASET_NOT_FOUND');
    let n = 0;
    for await (const m of messages) { n++; await new Promise((r) => setImmediate(r)); }
    yield { appMetadata: new Uint8Array([n & 255]) };
  },
});
const port = await server.listen('127.0.0.1:0');
const client = new FlightClient(`grpc://127.0.0.1:${port}`);
let count = 0; let bytes = 0;
for await (const m of client.doGetMessages('x')) { count++; bytes += (m.dataBody as Uint8Array).byteLength; await new Promise((r) => setTimeout(r, 1)); }
console.log('doGet got', count, bytes);
function* msgs(n: number) { for (let i = 0; i < n; i++) yield { dataHeader: new Uint8Array(0), appMetadata: new Uint8Array(0), dataBody: big } as FlightData; }
const res = [];
for await (const r of client.doPutMessages(msgs(300))) res.push(r);
console.log('doPut results', res.map((r) => r.appMetadata[0]));
try {
  for await (const r of client.doPutMessages(msgs(300), { headers: { 'x-fail': '1' } })) res.push(r);
  console.log('no error?');
} catch (e: any) { console.log('err instanceof FlightError', e instanceof FlightError, e.code, e.message, e.errorCode); }
console.log('warnings', warnings);
client.close();
await server.shutdown(1000);
