import { Schema, Field, Int32, Utf8, MessageHeader } from 'apache-arrow';
import { Message, RecordBatch as RBH, FieldNode, BufferRegion } from 'apache-arrow/ipc/metadata/message';
import { FlightDataDecoder, FlightError, decodeFlightData, schemaHeader } from '../src/index.ts';
const E = new Uint8Array(0);
function run(name: string, f: () => unknown) {
  try { const r = f(); console.log(name, 'OK', r); } catch (e: any) { console.log(name, e instanceof FlightError ? 'FlightError' : 'RAW ' + e?.constructor?.name, e.code, e.message.slice(0, 100)); }
}
const garbage: Record<string, Uint8Array> = {
  short: Uint8Array.of(1, 2, 3),
  ascii: new TextEncoder().encode('this is not a flatbuffer message!'),
  ff: new Uint8Array(64).fill(0xff),
  zeros: new Uint8Array(64),
  four: Uint8Array.of(4, 0, 0, 0),
  rand: Uint8Array.from({ length: 100 }, (_, i) => (i * 73 + 11) % 256),
};
for (const [name, h] of Object.entries(garbage)) {
  run('garbage ' + name, () => new FlightDataDecoder().decode({ dataHeader: h, appMetadata: E, dataBody: E }).kind);
  run('garbage-after-schema ' + name, () => { const d = new FlightDataDecoder(); d.decode({ dataHeader: schemaHeader(new Schema([new Field('v', new Int32())])), appMetadata: E, dataBody: E }); return d.decode({ dataHeader: h, appMetadata: E, dataBody: E }).kind; });
}
run('descriptor ff ff', () => decodeFlightData(Uint8Array.of(0x0a, 0x02, 0xff, 0xff)));
run('descriptor path wrong', () => decodeFlightData(Uint8Array.of(0x0a, 0x02, 0x1a, 0x05)));
run('descriptor type 0x0f', () => decodeFlightData(Uint8Array.of(0x0a, 0x02, 0x08, 0x80)));
const schema = new Schema([new Field('v', new Int32(), true)]);
const d = new FlightDataDecoder(); d.decode({ dataHeader: schemaHeader(schema), appMetadata: E, dataBody: E });
run('negative length', () => { const r: any = d.decode({ dataHeader: Message.encode(Message.from(new RBH(-1, [new FieldNode(-1, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 0)], null), 0)), appMetadata: E, dataBody: E }); return [r.kind, r.batch?.numRows, (() => { try { return r.batch.toArray(); } catch (e: any) { return 'toArray: ' + e.message; } })()]; });
run('negative nullcount', () => { const r: any = d.decode({ dataHeader: Message.encode(Message.from(new RBH(2, [new FieldNode(2, -5)], [new BufferRegion(0, 0), new BufferRegion(0, 8)], null), 8)), appMetadata: E, dataBody: new Uint8Array(8) }); return [r.kind, r.batch?.numRows, r.batch.getChild('v').nullCount, r.batch.toArray().map(String)]; });
run('nullcount > length', () => { const r: any = d.decode({ dataHeader: Message.encode(Message.from(new RBH(2, [new FieldNode(2, 5)], [new BufferRegion(0, 8), new BufferRegion(8, 8)], null), 16)), appMetadata: E, dataBody: new Uint8Array(16) }); return [r.kind, r.batch?.numRows, r.batch.getChild('v').nullCount]; });
