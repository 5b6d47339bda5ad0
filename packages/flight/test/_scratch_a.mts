import { tableFromArrays, vectorFromArray, makeData, RecordBatch, Schema, Field, Struct, Int32, Utf8, LargeUtf8, Float16, Dictionary, FixedSizeList, Float32, TimestampNanosecond, TimestampMillisecond, DateDay, List, Bool, Binary, Int64, Uint64 } from 'apache-arrow';
import { Message, RecordBatch as RBH, BodyCompression, FieldNode, BufferRegion } from 'apache-arrow/ipc/metadata/message';
import { FlightDataEncoder, FlightDataDecoder, encodeFlightData, decodeFlightData } from '../src/index.ts';
const schema = new Schema([new Field('a', new Int32(), true)]);
const v = vectorFromArray([1, 2, 3], new Int32());
const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 3, nullCount: 0, children: [v.data[0]] }));
const enc = new FlightDataEncoder(schema);
const msgs = [enc.schemaMessage(), ...enc.batchMessages(batch)];
// compressed header
const m = Message.decode(msgs[1].dataHeader);
const h = m.header() as RBH;
console.log('decoded compression', m.compression, h.compression);
const ch = new RBH(h.length, h.nodes, h.buffers, new BodyCompression(0 as any), h.variadicBufferCounts);
const cm = Message.encode(Message.from(ch, m.bodyLength));
const m2 = Message.decode(cm);
console.log('after encode', m2.compression, (m2.header() as RBH).compression);
const dec = new FlightDataDecoder();
dec.decode(decodeFlightData(encodeFlightData(msgs[0])));
try { const r = dec.decode(decodeFlightData(encodeFlightData({ ...msgs[1], dataHeader: cm }))); console.log('no error', r.kind, (r as any).batch?.toArray().map((x: any) => x.toJSON())); } catch (e) { console.log('err', e); }
console.log(typeof (await import('apache-arrow')).DataType.isLargeUtf8);
