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
import type { DatasetRows } from '../store/dataset-rows.ts';
import { gatherData, gatherFromMany } from '../store/gather.ts';
import { longbowError } from '../errors.ts';

/** Neighbours of one query, best first: row ordinals and their distances. */
export interface QueryHits {
  ordinals: ArrayLike<number>;
  distances: ArrayLike<number>;
  /** Higher is closer (index/metric.ts gives the formula per metric). */
  scores: ArrayLike<number>;
}

export interface ResultShape {
  columns: string[];
  includeVectors: boolean;
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

interface Place { batch: RecordBatch; row: number }

/**
 * Column `column` (of the dataset's current schema) of the rows at `places`, in their order,
 * from whichever batches hold them. A batch written before a schema evolution lacks the added
 * columns: its rows give null there.
 */
function gatherAcross(column: number, type: DataType, places: Place[]): Data {
  const first = places[0]?.batch;
  const rows = Uint32Array.from(places, (place) => place.row);
  if (first && first.numCols > column && places.every((place) => place.batch === first)) {
    return gatherData(first.data.children[column], rows);
  }
  if (places.every((place) => place.batch.numCols > column)) {
    const gathered = gatherFromMany(type, places.map((place) => place.batch.data.children[column]), rows);
    if (gathered) return gathered;
  }
  const builder = makeBuilder({ type, nullValues: [null, undefined] });
  for (const place of places) builder.append(place.batch.numCols > column ? place.batch.getChildAt(column)?.get(place.row) ?? null : null);
  return builder.finish().flush();
}

/** The result batch of `hits` (row ordinals of `view`, a view of `dataset` taken when the search began). */
export function searchResultBatch(dataset: Dataset, view: DatasetRows, hits: readonly QueryHits[], shape: ResultShape,
  withQueryIndex: boolean): RecordBatch {
  const schema = searchResultSchema(dataset, shape, withQueryIndex);
  const total = hits.reduce((sum, query) => sum + query.ordinals.length, 0);
  const located: Place[] = new Array(total);
  const queryIndex = new Int32Array(total);
  const distances = new Float32Array(total);
  const scores = new Float32Array(total);
  const ordinals = new BigUint64Array(total);
  let at = 0;
  hits.forEach((query, queryNumber) => {
    for (let rank = 0; rank < query.ordinals.length; rank++, at++) {
      const ordinal = query.ordinals[rank];
      located[at] = view.locate(ordinal);
      queryIndex[at] = queryNumber;
      distances[at] = query.distances[rank];
      scores[at] = query.scores[rank];
      ordinals[at] = BigInt(ordinal);
    }
  });
  const children: Data[] = [];
  if (withQueryIndex) children.push(makeData({ type: new Int32(), length: total, nullCount: 0, data: queryIndex }));
  const id = dataset.roles.id;
  children.push(id
    ? gatherAcross(id.index, schema.fields[children.length].type, located)
    : makeData({ type: new Uint64(), length: total, nullCount: 0, data: ordinals }));
  children.push(makeData({ type: new Float32(), length: total, nullCount: 0, data: distances }));
  children.push(makeData({ type: new Float32(), length: total, nullCount: 0, data: scores }));
  for (const column of extraColumns(dataset, shape)) {
    children.push(gatherAcross(column, dataset.schema.fields[column].type, located));
  }
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: total, nullCount: 0, children }));
}
