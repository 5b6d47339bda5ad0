import { writeSync } from 'node:fs';
import { vectorFromArray, makeData, RecordBatch, Schema, Field, Struct, Int32, Utf8, Dictionary, FixedSizeList, Float32, List, Bool } from 'apache-arrow';
import { Message } from 'apache-arrow/ipc/metadata/message';
import * as flatbuffers from 'flatbuffers';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { RecordBatch as FbRB } from 'apache-arrow/fb/record-batch';
import { DictionaryBatch as FbDB } from 'apache-arrow/fb/dictionary-batch';
import { Schema as FbSchema } from 'apache-arrow/fb/schema';
import { Field as FbField } from 'apache-arrow/fb/field';
let huge = 0;
function isHuge(h: Uint8Array): boolean {
  try {
    const m = FbMessage.getRootAsMessage(new flatbuffers.ByteBuffer(h));
    const t = m.headerType();
    const check = (rb: FbRB | null) => rb && (rb.nodesLength() > 10000 || rb.buffersLength() > 10000 || rb.variadicBufferCountsLength() > 10000);
    if (t === 3) return !!check(m.header(new FbRB()));
    if (t === 2) { const d = m.header(new FbDB()); return !!check(d && d.data()); }
    if (t === 1) { const s = m.header(new FbSchema()); if (!s) return false; if (s.fieldsLength() > 10000 || s.customMetadataLength() > 10000 || s.featuresLength() > 10000) return true;
      const walk = (f: FbField | null, depth: number): boolean => { if (!f || depth > 20) return false; if (f.childrenLength() > 10000 || f.customMetadataLength() > 10000) return true; for (let i = 0; i < f.childrenLength(); i++) if (walk(f.children(i), depth + 1)) return true; return false; };
      for (let i = 0; i < s.fieldsLength(); i++) if (walk(s.fields(i), 0)) return true; }
    return false;
  } catch { return false; }
}
import { FlightDataEncoder, FlightDataDecoder, FlightError, contiguousBody } from '../src/index.ts';
const dictType = new Dictionary(new Utf8(), new Int32());
const cols: Record<string, any> = {
  i: vectorFromArray([1, null, 3, 4], new Int32()),
  s: vectorFromArray(['a', 'bb', null, 'dddd'], new Utf8()),
  b: vectorFromArray([true, false, null, true], new Bool()),
  l: vectorFromArray([[1], [2, 3], null, []], new List(new Field('item', new Int32(), true))),
  f: vectorFromArray([[1, 2], [3, 4], [5, 6], null], new FixedSizeList(2, new Field('item', new Float32(), true))),
  d: vectorFromArray(['x', 'y', 'x', null], dictType),
};
const schema = new Schema(Object.entries(cols).map(([k, v]) => new Field(k, v.type, true)));
const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: 4, nullCount: 0, children: Object.values(cols).map((v: any) => v.data[0]) }));
const enc = new FlightDataEncoder(schema);
const msgs = [enc.schemaMessage(), ...enc.batchMessages(batch)];
let seed = 12345;
const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
const bad = new Map<string, number>();
let ok = 0, flight = 0;
const N = Number(process.env.N ?? 20000);
for (let iter = 0; iter < N; iter++) {
  const target = Math.floor(rand() * msgs.length);
  const mutated = msgs.map((m) => ({ ...m, dataBody: contiguousBody(m.dataBody) }));
  const h = new Uint8Array(mutated[target].dataHeader);
  const flips = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < flips; k++) h[Math.floor(rand() * h.length)] = Math.floor(rand() * 256);
  mutated[target].dataHeader = h;
  if (process.env.ONLY && iter !== Number(process.env.ONLY)) continue;
  if (isHuge(h)) { huge++; continue; }
  if (process.env.TRACE) writeSync(2, `${iter}:${Math.round(process.memoryUsage().heapUsed/1e6)} `);
  if (process.env.ONLY) {
    const mm = Message.decode(h); console.log('target', target, 'type', mm.headerType, 'bodyLength', mm.bodyLength);
    try { const hh: any = mm.header(); console.log(hh instanceof Schema ? hh.fields.map(String) : { length: hh.length, nodes: hh.nodes, buffers: hh.buffers }); } catch (e) { console.log('header err', e); }
  }
  const dec = new FlightDataDecoder();
  try {
    for (const m of mutated) {
      const r = dec.decode(m);
      if (process.env.ONLY) console.log('decoded', r.kind);
      if (r.kind === 'batch') r.batch.toArray().map((x) => JSON.stringify(x, (_, v) => typeof v === 'bigint' ? String(v) : v));
    }
    ok++;
  } catch (e: any) {
    if (e instanceof FlightError) flight++;
    else { const key = `${target}:${e?.constructor?.name}: ${String(e?.message).slice(0, 60)} @ ${String(e?.stack).split("\n").slice(1,6).map((l: string) => l.trim().replace(/\(.*\//, "(")).join(" < ")}`.replace(/not safe.*? @/, "not safe @"); bad.set(key, (bad.get(key) ?? 0) + 1); }
  }
}
console.log({ ok, flight, huge });
for (const [k, v] of [...bad].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(v, k);
