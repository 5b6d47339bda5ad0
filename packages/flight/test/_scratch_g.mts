import { vectorFromArray, Dictionary, Utf8, Int32, Schema, Field } from 'apache-arrow';
import { Message, DictionaryBatch as DBH } from 'apache-arrow/ipc/metadata/message';
import { FlightDataEncoder, FlightDataDecoder, contiguousBody, encodeFlightData, decodeFlightData } from '../src/index.ts';
import { batchWithSchema, onlyChunk, decodeAll, kinds } from './helpers.ts';
const type = new Dictionary(new Utf8(), new Int32(), 1);
const schema = new Schema([new Field('d', type, true)]);
const v1 = vectorFromArray(['a', 'b', 'a'], type);
const enc = new FlightDataEncoder(schema);
const m = [enc.schemaMessage(), ...enc.batchMessages(batchWithSchema(schema, [onlyChunk(v1)]))];
// delta dictionary ['c'] : take dictionary message of a vector ['c'] and flag delta
const enc2 = new FlightDataEncoder(schema);
const v2 = vectorFromArray(['c', 'c'], type);
const [dictC] = enc2.batchMessages(batchWithSchema(schema, [onlyChunk(v2)]));
const mm = Message.decode(dictC.dataHeader); const h = mm.header() as DBH;
const delta = { ...dictC, dataHeader: Message.encode(Message.from(new DBH(h.data, h.id, true), mm.bodyLength)) };
// batch with indices [0, 2] referencing 'c' at index 2
const { makeData } = await import('apache-arrow');
const idx = makeData({ type, length: 2, nullCount: 0, data: new Int32Array([0, 2]), dictionary: vectorFromArray(['a', 'b', 'c'], new Utf8()) });
const enc3 = new FlightDataEncoder(schema);
const msgs3 = enc3.batchMessages(batchWithSchema(schema, [idx]));
const batchMsg = msgs3.at(-1)!;
const r = decodeAll([m[0], m[1], m[2], delta, batchMsg]);
console.log(kinds(r.decoded), r.batches.map((b) => b.getChild('d')!.toArray()));
const last = r.batches[1];
console.log('dictionary chunks', last.getChild('d')!.data[0].dictionary!.data.length);
// re-encode the decoded batch (proxy)
const enc4 = new FlightDataEncoder(schema);
try {
  const r2 = decodeAll([enc4.schemaMessage(), ...enc4.batchMessages(r.batches[0]), ...enc4.batchMessages(last)]);
  console.log('re-encoded', kinds(r2.decoded), r2.batches.map((b) => b.getChild('d')!.toArray()));
} catch (e) { console.log('re-encode err', e); }
const enc5 = new FlightDataEncoder(schema);
try {
  const r3 = decodeAll([enc5.schemaMessage(), ...enc5.batchMessages(last)]);
  console.log('re-encoded fresh', kinds(r3.decoded), r3.batches.map((b) => b.getChild('d')!.toArray()));
} catch (e) { console.log('re-encode fresh err', e); }
