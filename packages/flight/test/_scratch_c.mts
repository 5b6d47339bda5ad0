import { FlightServer, FlightClient, FlightError, GrpcStatus } from '../src/index.ts';
import type { FlightData } from '../src/index.ts';
process.on('warning', () => {});
const big = new Uint8Array(1 << 20);
const server = new FlightServer({
  async *doPut(messages, ctx) {
    let n = 0;
    for await (const m of messages) { if (++n === Number(ctx.headers['x-after'])) throw new FlightError(GrpcStatus.NOT_FOUND, 'no such dataset', 'DATASET_NOT_FOUND'); }
    yield { appMetadata: new Uint8Array([n & 255]) };
  },
}, { async beforeCall(ctx) { if (ctx.headers['x-auth'] === 'no') { await new Promise((r) => setTimeout(r, 50)); throw new FlightError(GrpcStatus.UNAUTHENTICATED, 'bad token', 'AUTH'); } } });
const port = await server.listen('127.0.0.1:0');
const client = new FlightClient(`grpc://127.0.0.1:${port}`);
function* msgs(n: number) { for (let i = 0; i < n; i++) yield { dataHeader: new Uint8Array(0), appMetadata: new Uint8Array(0), dataBody: big } as FlightData; }
for (const h of [{ 'x-after': '1' }, { 'x-after': '5' }, { 'x-after': '50' }, { 'x-auth': 'no' }, { 'x-auth': 'no' }, { 'x-after': '20' }]) {
  try {
    for await (const r of client.doPutMessages(msgs(300), { headers: h })) {}
    console.log('no error?');
  } catch (e: any) { console.log(JSON.stringify(h), 'FlightError?', e instanceof FlightError, e.code, JSON.stringify(e.message), e.errorCode); }
}
client.close();
await server.shutdown(1000);
