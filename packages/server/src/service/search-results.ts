/**
 * Search results as Arrow: one batch with `id` (the dataset's id column type, or the row
 * ordinal as uint64 when the dataset has no id column), `distance` (float32), `score` (float32,
 * higher is closer), then the requested columns and, when asked, the vector. Batch searches
 * (DoExchange) put `query_index` (int32) first.
 */
import {
  Field, Float32, Int32, RecordBatch, Schema, Struct, Uint64, makeBuilder, makeData, type Data, type DataType,
} from 'apache-arrow';
import type { Dataset } from '../store/dataset.ts';
import { gatherData } from '../store/gather.ts';
import { longbowError } from '../errors.ts';

/** Neighbours of one query, best first: row ordinals and their distances. */
export interface QueryHits {
  ordinals: ArrayLike<number>;
  distances: ArrayLike<number>;
}

export interface ResultShape {
  columns: string[];
  includeVectors: boolean;
}

/** Where each row ordinal lives: batch index and row within it. */
export class RowLocator {
  private readonly starts: Float64Array;

  constructor(private readonly batches: readonly RecordBatch[]) {
    this.starts = new Float64Array(batches.length + 1);
    for (let index = 0; index < batches.length; index++) this.starts[index + 1] = this.starts[index] + batches[index].numRows;
  }

  get rows(): number { return this.starts[this.batches.length]; }

  locate(ordinal: number): { batch: number; row: number } {
    let low = 0;
    let high = this.batches.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.starts[middle] <= ordinal) low = middle;
      else high = middle - 1;
    }
    return { batch: low, row: ordinal - this.starts[low] };
  }
}

/** The dataset columns a result carries besides id, distance and score. Throws UNKNOWN_COLUMN. */
function extraColumns(dataset: Dataset, shape: ResultShape): number[] {
  const fields = dataset.schema.fields;
  const roles = dataset.roles;
  const indexes: number[] = [];
  for (const name of shape.columns) {
    const index = fields.findIndex((field) => field.name === name);
    if (index < 0) throw longbowError('UNKNOWN_COLUMN', `${name} (the dataset has ${fields.map((field) => field.name).join(', ')})`);
    if (index === roles.id?.index || indexes.includes(index)) continue;
    indexes.push(index);
  }
  const vector = roles.vector?.index;
  if (shape.includeVectors && vector !== undefined && !indexes.includes(vector)) indexes.push(vector);
  return indexes;
}

/** The schema of search results over `dataset`. */
export function searchResultSchema(dataset: Dataset, shape: ResultShape, withQueryIndex: boolean): Schema {
  const fields = dataset.schema.fields;
  const id = dataset.roles.id;
  const out: Field[] = [];
  if (withQueryIndex) out.push(new Field('query_index', new Int32(), false));
  out.push(new Field('id', id ? fields[id.index].type : new Uint64(), !!id && fields[id.index].nullable));
  out.push(new Field('distance', new Float32(), false), new Field('score', new Float32(), false));
  for (const index of extraColumns(dataset, shape)) {
    const field = fields[index];
    out.push(new Field(field.name, field.type, true, field.metadata));
  }
  return new Schema(out, new Map([['longbow.metric', dataset.roles.metric]]));
}

/** Column `column` of the rows `located`, in their order, from whichever batches hold them. */
function gatherAcross(batches: readonly RecordBatch[], column: number, type: DataType, located: { batch: number; row: number }[]): Data {
  const first = located[0]?.batch;
  if (located.every((place) => place.batch === first)) {
    const source = batches[first ?? 0]?.data.children[column];
    if (source) return gatherData(source, Uint32Array.from(located, (place) => place.row));
  }
  const builder = makeBuilder({ type, nullValues: [null, undefined] });
  for (const place of located) builder.append(batches[place.batch].getChildAt(column)?.get(place.row) ?? null);
  return builder.finish().flush();
}

/** `scoreOf(distance)`: the metric's score (higher is closer). */
export function searchResultBatch(dataset: Dataset, hits: QueryHits[], shape: ResultShape,
  scoreOf: (distance: number) => number, withQueryIndex: boolean): RecordBatch {
  const schema = searchResultSchema(dataset, shape, withQueryIndex);
  const batches = dataset.batches;
  const locator = new RowLocator(batches);
  const total = hits.reduce((sum, query) => sum + query.ordinals.length, 0);
  const located: { batch: number; row: number }[] = new Array(total);
  const queryIndex = new Int32Array(total);
  const distances = new Float32Array(total);
  const scores = new Float32Array(total);
  const ordinals = new BigUint64Array(total);
  let at = 0;
  hits.forEach((query, queryNumber) => {
    for (let rank = 0; rank < query.ordinals.length; rank++, at++) {
      const ordinal = query.ordinals[rank];
      located[at] = locator.locate(ordinal);
      queryIndex[at] = queryNumber;
      distances[at] = query.distances[rank];
      scores[at] = scoreOf(query.distances[rank]);
      ordinals[at] = BigInt(ordinal);
    }
  });
  const children: Data[] = [];
  if (withQueryIndex) children.push(makeData({ type: new Int32(), length: total, nullCount: 0, data: queryIndex }));
  const id = dataset.roles.id;
  children.push(id
    ? gatherAcross(batches, id.index, schema.fields[children.length].type, located)
    : makeData({ type: new Uint64(), length: total, nullCount: 0, data: ordinals }));
  children.push(makeData({ type: new Float32(), length: total, nullCount: 0, data: distances }));
  children.push(makeData({ type: new Float32(), length: total, nullCount: 0, data: scores }));
  for (const column of extraColumns(dataset, shape)) {
    children.push(gatherAcross(batches, column, dataset.schema.fields[column].type, located));
  }
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: total, nullCount: 0, children }));
}
