import { Builder } from 'flatbuffers';
import { Schema, Field, Int32, List, MessageHeader, MetadataVersion } from 'apache-arrow';
import { Message, RecordBatch as RBH, FieldNode, BufferRegion } from 'apache-arrow/ipc/metadata/message';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { Schema as FbSchema } from 'apache-arrow/fb/schema';
import { Field as FbField } from 'apache-arrow/fb/field';
import { List as FbList } from 'apache-arrow/fb/list';
import { FixedSizeList as FbFSL } from 'apache-arrow/fb/fixed-size-list';
import { DictionaryBatch as FbDB } from 'apache-arrow/fb/dictionary-batch';
import { Type } from 'apache-arrow/fb/type';
import { FlightDataDecoder, FlightDataEncoder, FlightError } from '../src/index.ts';

function fbMessage(b: Builder, headerType: number, header: number, bodyLength = 0n) {
  FbMessage.startMessage(b); FbMessage.addVersion(b, MetadataVersion.V5); FbMessage.addHeaderType(b, headerType); FbMessage.addHeader(b, header); FbMessage.addBodyLength(b, bodyLength);
  FbMessage.finishMessageBuffer(b, FbMessage.endMessage(b)); return b.asUint8Array();
}
function schemaWithField(typeType: number, mkType: (b: Builder) => number) {
  const b = new Builder();
  const name = b.createString('c');
  const t = mkType(b);
  const children = FbField.createChildrenVector(b, []);
  FbField.startField(b); FbField.addName(b, name); FbField.addNullable(b, true); FbField.addTypeType(b, typeType); FbField.addType(b, t); FbField.addChildren(b, children);
  const f = FbField.endField(b);
  const fields = FbSchema.createFieldsVector(b, [f]);
  FbSchema.startSchema(b); FbSchema.addFields(b, fields); const s = FbSchema.endSchema(b);
  return fbMessage(b, MessageHeader.Schema, s);
}
const E = new Uint8Array(0);
function run(name: string, msgs: any[]) {
  const d = new FlightDataDecoder();
  try { for (const m of msgs) console.log(name, 'decoded', d.decode({ appMetadata: E, dataBody: E, ...m }).kind); console.log(name, 'no error'); }
  catch (e: any) { console.log(name, e instanceof FlightError ? 'FlightError' : 'RAW', e.code, e.message.slice(0, 120)); }
}
// 1. unknown type
run('unknown type', [{ dataHeader: schemaWithField(99, (b) => { FbList.startList(b); return FbList.endList(b); }) }]);
// 2. list without child
const listNoChild = schemaWithField(Type.List, (b) => { FbList.startList(b); return FbList.endList(b); });
const rb = Message.encode(Message.from(new RBH(1, [new FieldNode(1, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 8)], null), 8));
run('list no child', [{ dataHeader: listNoChild }, { dataHeader: rb, dataBody: new Uint8Array(8) }]);
const fslNoChild = schemaWithField(Type.FixedSizeList, (b) => FbFSL.createFixedSizeList(b, 2));
const rb2 = Message.encode(Message.from(new RBH(1, [new FieldNode(1, 0)], [new BufferRegion(0, 0)], null), 0));
run('fsl no child', [{ dataHeader: fslNoChild }, { dataHeader: rb2 }]);
// 3. dictionary without data
const okSchema = Message.encode(Message.from(new Schema([new Field('a', new Int32())])));
{ const b = new Builder(); FbDB.startDictionaryBatch(b); FbDB.addId(b, 0n); const db = FbDB.endDictionaryBatch(b); run('dict no data', [{ dataHeader: okSchema }, { dataHeader: fbMessage(b, MessageHeader.DictionaryBatch, db) }]); }
// 4. unsafe node length
function patchInt64(bytes: Uint8Array, from: bigint, to: bigint) {
  const out = new Uint8Array(bytes); const dv = new DataView(out.buffer);
  for (let i = 0; i + 8 <= out.length; i++) if (dv.getBigInt64(i, true) === from) { dv.setBigInt64(i, to, true); return out; }
  throw new Error('pattern not found');
}
const rb3 = Message.encode(Message.from(new RBH(1, [new FieldNode(0x31415926, 0)], [new BufferRegion(0, 0), new BufferRegion(0, 4)], null), 8));
run('unsafe node', [{ dataHeader: okSchema }, { dataHeader: patchInt64(rb3, 0x31415926n, 2n ** 60n), dataBody: new Uint8Array(8) }]);
// 5. no message header (headerType NONE / tensor)
{ const b = new Builder(); FbList.startList(b); const t = FbList.endList(b); run('tensor', [{ dataHeader: okSchema }, { dataHeader: fbMessage(b, MessageHeader.Tensor, t) }]); }
// 6 huge nodes
{
  const h = Message.encode(Message.from(new RBH(1, [new FieldNode(0x31415926, 0x27182818)], [new BufferRegion(0, 0), new BufferRegion(0, 4)], null), 8));
  const dv = new DataView(h.buffer, h.byteOffset);
  let at = -1; for (let i = 4; i + 16 <= h.length; i++) if (dv.getBigInt64(i, true) === 0x31415926n && dv.getBigInt64(i + 8, true) === 0x27182818n) at = i;
  console.log('vector len at', at - 4, dv.getUint32(at - 4, true));
  dv.setUint32(at - 4, Number(process.env.NODES ?? 1e6), true);
  const t0 = performance.now();
  run('huge nodes', [{ dataHeader: okSchema }, { dataHeader: h, dataBody: new Uint8Array(8) }]);
  console.log('took', performance.now() - t0, 'ms', process.memoryUsage().heapUsed / 1e6);
}
