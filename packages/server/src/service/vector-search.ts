/**
 * Vector search over a dataset: checks the request against the dataset (vector column,
 * dimensions, columns), turns filters into the candidate rows, asks the dataset's index and
 * builds the Arrow result. Used by DoGet search tickets, the VectorSearch and VectorSearchByID
 * actions and DoExchange.
 */
import type { RecordBatch, Schema } from 'apache-arrow';
import { longbowError } from '../errors.ts';
import type { Dataset } from '../store/dataset.ts';
import type { DatasetRows } from '../store/dataset-rows.ts';
import { withSchema } from '../store/dataset.ts';
import { compileFilters, selectRows } from '../store/filters.ts';
import type { Store } from '../store/store.ts';
import type { VectorIndexes } from '../store/vector-indexes.ts';
import type { SearchByIdRequest, SearchOptions } from './search-request.ts';
import { searchResultBatch, searchResultSchema, type QueryHits } from './search-results.ts';

/** A search that has been checked against its dataset and can run. */
export interface PreparedSearch {
  dataset: Dataset;
  view: DatasetRows;
  options: SearchOptions;
  /** Result schema (with `query_index` first when asked for). */
  schema: Schema;
}

export class VectorSearch {
  constructor(private readonly store: Store, private readonly indexes: VectorIndexes) {}

  /** The same search over the dataset as it is now (a stream of queries takes one per batch). Throws DATASET_NOT_FOUND once it is gone. */
  refresh(prepared: PreparedSearch): PreparedSearch {
    if (this.store.get(prepared.dataset.name) !== prepared.dataset) throw longbowError('DATASET_NOT_FOUND', prepared.dataset.name);
    return { ...prepared, view: prepared.dataset.rowsView };
  }

  /** Looks the dataset up and checks what can be checked before any query runs. */
  prepare(name: string, options: SearchOptions, withQueryIndex: boolean): PreparedSearch {
    const dataset = this.store.get(name);
    if (!dataset.roles.vector) {
      throw longbowError('INVALID_SEARCH', `dataset ${name} has no vector column (a FixedSizeList column named "vector" or "embedding")`);
    }
    const schema = searchResultSchema(dataset, options, withQueryIndex);
    return { dataset, view: dataset.rowsView, options, schema };
  }

  /** Checks that every query has the dataset's dimensions; returns them packed row-major. */
  packQueries(prepared: PreparedSearch, queries: readonly Float32Array[]): Float32Array {
    const dimensions = prepared.dataset.roles.vector!.dimensions;
    const packed = new Float32Array(queries.length * dimensions);
    queries.forEach((query, index) => {
      if (query.length !== dimensions) {
        const which = queries.length === 1 ? 'the query vector' : `query vector ${index}`;
        throw longbowError('INVALID_SEARCH', `${which} has ${query.length} dimensions, dataset ${prepared.dataset.name} has ${dimensions}`);
      }
      packed.set(query, index * dimensions);
    });
    return packed;
  }

  /** The rows the filters let through (undefined: every row), deleted rows left out. */
  private candidates(prepared: PreparedSearch): number[] | undefined {
    const { dataset, view, options } = prepared;
    if (options.filters.length === 0) return undefined;
    const compiled = compileFilters(options.filters, dataset.schema);
    const out: number[] = [];
    view.batches.forEach((stored, batchIndex) => {
      const batch = withSchema(stored, dataset.schema);
      const first = view.firstOrdinals[batchIndex];
      const rows = selectRows(batch, compiled);
      if (rows === undefined) {
        for (let row = 0; row < batch.numRows; row++) if (!view.isDeleted(first + row)) out.push(first + row);
      } else {
        for (const row of rows) if (!view.isDeleted(first + row)) out.push(first + row);
      }
    });
    return out;
  }

  /** Runs `queries` (packed by packQueries): the hits of each, best first. */
  async hits(prepared: PreparedSearch, queries: Float32Array): Promise<QueryHits[]> {
    const { dataset, view, options } = prepared;
    const count = queries.length / dataset.roles.vector!.dimensions;
    const candidates = this.candidates(prepared);
    if (candidates !== undefined && candidates.length === 0) {
      return Array.from({ length: count }, () => ({ ordinals: [], distances: [], scores: [] }));
    }
    // Rows appended while the search runs are past the view: left out, so results and the
    // view they are read from agree.
    const visible = view.totalRows;
    const hits = await this.indexes.search(dataset, queries, options.k, {
      ...(options.ef === undefined ? {} : { ef: options.ef }),
      exact: options.exact,
      exclude: (ordinal) => ordinal >= visible || view.isDeleted(ordinal),
      ...(candidates === undefined ? {} : { candidates }),
    });
    return hits.map((query) => {
      if (Array.from(query.ordinals).every((ordinal) => ordinal < visible)) return query;
      const keep = Array.from(query.ordinals, (_, index) => index).filter((index) => query.ordinals[index] < visible);
      return {
        ordinals: keep.map((index) => query.ordinals[index]),
        distances: keep.map((index) => query.distances[index]),
        scores: keep.map((index) => query.scores[index]),
      };
    });
  }

  /** The result batch of `hits` (one list per query). */
  resultBatch(prepared: PreparedSearch, hits: readonly QueryHits[], withQueryIndex: boolean): RecordBatch {
    return searchResultBatch(prepared.dataset, prepared.view, hits, prepared.options, withQueryIndex);
  }

  /** One search request, one batch per query vector. */
  async searchEach(name: string, queries: readonly Float32Array[], options: SearchOptions): Promise<{ schema: Schema; batches: RecordBatch[] }> {
    const prepared = this.prepare(name, options, false);
    const hits = await this.hits(prepared, this.packQueries(prepared, queries));
    return { schema: prepared.schema, batches: hits.map((queryHits) => this.resultBatch(prepared, [queryHits], false)) };
  }

  /**
   * The neighbours of the row with id `request.id` (the row itself excluded). Throws
   * DATASET_NOT_FOUND, ID_COLUMN_MISSING, INVALID_ID, and ID_NOT_FOUND when no live row has it.
   */
  async searchById(request: SearchByIdRequest): Promise<{ schema: Schema; batch: RecordBatch }> {
    const prepared = this.prepare(request.dataset, request, false);
    const ordinal = prepared.dataset.ordinalOfId(request.id);
    if (ordinal === undefined || prepared.view.isDeleted(ordinal)) throw longbowError('ID_NOT_FOUND', `${request.id} in dataset ${request.dataset}`);
    const { batch, row } = prepared.view.locate(ordinal);
    const column = batch.getChildAt(prepared.dataset.roles.vector!.index);
    const value = column?.get(row) as { toArray(): ArrayLike<number> } | null | undefined;
    if (!value) throw longbowError('INVALID_SEARCH', `row ${request.id} has a null vector`);
    const query = Float32Array.from(value.toArray());
    // One more neighbour than asked: the row itself is the nearest and is left out.
    const wider = { ...prepared, options: { ...prepared.options, k: prepared.options.k + 1 } };
    const [hits] = await this.hits(wider, query);
    const keep = Array.from(hits.ordinals, (_, index) => index).filter((index) => hits.ordinals[index] !== ordinal).slice(0, request.k);
    const own: QueryHits = {
      ordinals: keep.map((index) => hits.ordinals[index]),
      distances: keep.map((index) => hits.distances[index]),
      scores: keep.map((index) => hits.scores[index]),
    };
    return { schema: prepared.schema, batch: this.resultBatch(prepared, [own], false) };
  }
}
