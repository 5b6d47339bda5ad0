/**
 * Ids as an Arrow record batch: the payload of a `delete rows` WAL record is the Arrow IPC
 * stream of one batch with a single non-nullable column `id` of the dataset's id type
 * (docs/formats.md). Exact for every id type, int64 and uint64 included.
 */
import {
  Field, Int32, Int64, RecordBatch, Schema, Struct, Uint32, Uint64, Utf8, makeData, vectorFromArray, type DataType,
} from 'apache-arrow';
import { ID_COLUMN_NAME } from './schema-rules.ts';
import { idKeyReader, type IdKey, type IdType } from './id-index.ts';

function arrowType(type: IdType): DataType {
  switch (type) {
    case 'int32': return new Int32();
    case 'uint32': return new Uint32();
    case 'int64': return new Int64();
    case 'uint64': return new Uint64();
    case 'utf8': return new Utf8();
  }
}

/** A batch of one column `id` of `type` holding `keys` (normalized for that type) in order. */
export function idsBatch(type: IdType, keys: readonly IdKey[]): RecordBatch {
  const arrow = arrowType(type);
  let column;
  if (type === 'utf8') {
    column = vectorFromArray(keys as string[], new Utf8()).data[0];
  } else {
    const values = type === 'int32' ? new Int32Array(keys.length) : type === 'uint32' ? new Uint32Array(keys.length)
      : type === 'int64' ? new BigInt64Array(keys.length) : new BigUint64Array(keys.length);
    keys.forEach((key, index) => {
      values[index] = (values instanceof BigInt64Array || values instanceof BigUint64Array ? BigInt(key) : Number(key)) as never;
    });
    column = makeData({ type: arrow as Int32, length: keys.length, nullCount: 0, data: values as Int32Array });
  }
  const fields = [new Field(ID_COLUMN_NAME, arrow, false)];
  const schema = new Schema(fields);
  return new RecordBatch(schema, makeData({ type: new Struct(fields), length: keys.length, nullCount: 0, children: [column] }));
}

/** The keys held by an ids batch (read back from a WAL record); throws on any other shape. */
export function keysOfIdsBatch(batch: RecordBatch): IdKey[] {
  const field = batch.schema.fields[0];
  if (batch.schema.fields.length !== 1 || field.name !== ID_COLUMN_NAME) throw new Error('ids batch must have exactly one column "id"');
  const type = idTypeOf(field.type);
  if (type === undefined) throw new Error(`ids batch column has type ${field.type}, not an id type`);
  const read = idKeyReader(type, batch.data.children[0]);
  const keys: IdKey[] = [];
  for (let row = 0; row < batch.numRows; row++) {
    const key = read(row);
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

function idTypeOf(type: DataType): IdType | undefined {
  for (const candidate of ['int32', 'uint32', 'int64', 'uint64', 'utf8'] as const) {
    if (String(arrowType(candidate)) === String(type)) return candidate;
  }
  return undefined;
}
