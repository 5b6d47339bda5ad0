/**
 * The answer of a read: await it for a Table, or iterate it for record batches as they arrive
 * (memory stays bounded by one batch). Nothing is requested until one of the two starts; each
 * iteration makes its own call, awaiting reuses one.
 */
import { RecordBatch, Schema, Table } from 'apache-arrow';
import { FlightDataDecoder, type FlightData } from '@longbow/flight';
import { toClientError } from './longbow-error.ts';

export class QueryResult implements PromiseLike<Table>, AsyncIterable<RecordBatch> {
  private tablePromise: Promise<Table> | undefined;
  private readonly open: () => AsyncIterable<FlightData>;
  private latestSchema: Schema | null = null;

  constructor(open: () => AsyncIterable<FlightData>) {
    this.open = open;
  }

  /** The result's schema once the first message has arrived (also for results without rows). */
  get schema(): Schema | null {
    return this.latestSchema;
  }

  /** Every batch, as one Table (an empty result keeps the schema). */
  table(): Promise<Table> {
    this.tablePromise ??= this.collect();
    return this.tablePromise;
  }

  then<Result1 = Table, Result2 = never>(
    onFulfilled?: ((table: Table) => Result1 | PromiseLike<Result1>) | null,
    onRejected?: ((reason: unknown) => Result2 | PromiseLike<Result2>) | null,
  ): Promise<Result1 | Result2> {
    return this.table().then(onFulfilled, onRejected);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<RecordBatch> {
    const decoder = new FlightDataDecoder();
    try {
      for await (const message of this.open()) {
        const decoded = decoder.decode(message);
        if (decoded.kind === 'batch') yield decoded.batch;
        else if (decoded.kind === 'schema') this.latestSchema = decoded.schema;
      }
    } catch (error) {
      throw toClientError(error);
    }
  }

  private async collect(): Promise<Table> {
    const decoder = new FlightDataDecoder();
    const batches: RecordBatch[] = [];
    try {
      for await (const message of this.open()) {
        const decoded = decoder.decode(message);
        if (decoded.kind === 'batch') batches.push(decoded.batch);
        else if (decoded.kind === 'schema') this.latestSchema = decoded.schema;
      }
    } catch (error) {
      throw toClientError(error);
    }
    return tableOf(decoder.schema, batches);
  }
}

export function tableOf(schema: Schema | null, batches: RecordBatch[]): Table {
  if (batches.length > 0) return new Table(batches);
  return schema ? new Table(schema) : new Table();
}
