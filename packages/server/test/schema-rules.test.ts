import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Field, FixedSizeList, Float16, Float32, Float64, Int32, Int64, Int8, List, Schema, Uint8, Utf8 } from 'apache-arrow';
import { compareSchemas, schemaRoles } from '../src/store/schema-rules.ts';
import { vectorField } from './helpers.ts';

const fsl = (dimensions: number, type: Float32 | Float16 | Float64 | Int8 | Uint8 | Int32) =>
  new FixedSizeList(dimensions, new Field('item', type, false));

test('vector and id columns are found with their types', () => {
  const roles = schemaRoles(new Schema([new Field('id', new Utf8()), vectorField(8)]));
  assert.deepEqual(roles.vector, { name: 'vector', index: 1, dimensions: 8, elementType: 'float32' });
  assert.deepEqual(roles.id, { name: 'id', index: 0, type: 'utf8' });
  assert.equal(roles.metric, 'euclidean');
  for (const [type, name] of [[new Float16(), 'float16'], [new Float64(), 'float64'], [new Int8(), 'int8'], [new Uint8(), 'uint8']] as const) {
    assert.equal(schemaRoles(new Schema([new Field('embedding', fsl(4, type))])).vector?.elementType, name);
  }
  const cosine = schemaRoles(new Schema([vectorField(2)], new Map([['longbow.metric', 'cosine']])));
  assert.equal(cosine.metric, 'cosine');
  assert.equal(schemaRoles(new Schema([new Field('x', new Int32())])).vector, undefined);
});

test('schema rule violations are INVALID_SCHEMA', () => {
  const invalid = (schema: Schema, pattern: RegExp) =>
    assert.throws(() => schemaRoles(schema), (error: Error & { code?: number }) =>
      error.message.startsWith('invalid schema:') && error.code === 3 && pattern.test(error.message));
  invalid(new Schema([new Field('vector', fsl(4, new Int32()))]), /FixedSizeList<float32/);
  invalid(new Schema([new Field('vector', new List(new Field('item', new Float32())))]), /must be FixedSizeList/);
  invalid(new Schema([new Field('id', new Float64())]), /column "id" must be/);
  invalid(new Schema([vectorField(4)], new Map([['longbow.metric', 'manhattan']])), /longbow.metric/);
  invalid(new Schema([new Field('a', new Int32()), new Field('a', new Int32())]), /duplicate/);
});

test('schema evolution: same, extends with nullable columns, older prefix; anything else mismatches', () => {
  const base = new Schema([new Field('id', new Int64(), false), vectorField(4)]);
  const extended = new Schema([...base.fields, new Field('note', new Utf8(), true)]);
  assert.equal(compareSchemas(base, base), 'same');
  assert.equal(compareSchemas(base, extended), 'extends');
  assert.throws(() => compareSchemas(extended, base), /schema mismatch: missing column\(s\) "note"/);
  const mismatch = (current: Schema, incoming: Schema, pattern: RegExp) =>
    assert.throws(() => compareSchemas(current, incoming), (error: Error) => error.message.startsWith('schema mismatch:') && pattern.test(error.message));
  mismatch(base, new Schema([new Field('id', new Int32(), false), vectorField(4)]), /column 0/);
  mismatch(base, new Schema([new Field('key', new Int64(), false), vectorField(4)]), /column 0/);
  mismatch(base, new Schema([base.fields[0], vectorField(8)]), /column 1/);
  mismatch(base, new Schema([...base.fields, new Field('note', new Utf8(), false)]), /not nullable/);
  mismatch(base, new Schema(base.fields, new Map([['longbow.metric', 'cosine']])), /longbow.metric/);
});
