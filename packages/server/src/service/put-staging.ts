/**
 * Writing a large DoPut batch to the write-ahead log while it arrives.
 *
 * Without this, a batch is logged after its last byte arrived: receive, then write, then
 * fsync, one after the other. A 52 MB batch spends about as long in the log write as in the
 * receive. PutStaging watches the request stream (CallContext.watchRequests): when a record
 * batch message of at least `minBytes` starts arriving, it stages a WAL record holding the
 * stream's schema message and this batch message, as received, and feeds the body to the log as
 * it lands. Once DoPut has the whole message and the store has validated the batch, the staged
 * record is committed (one short record and the fsync) instead of serializing and writing the
 * batch then. Replay decodes those bytes with the same decoder DoPut used, so the batch comes
 * back the same.
 *
 * Staging is an optimisation and never changes what is acknowledged: a batch that fails
 * validation abandons its staged record (never replayed), and anything unusual (no descriptor
 * yet, a second schema, dictionaries, a watcher error) turns staging off for the call, and
 * batches are logged whole as before.
 */
import { Message } from 'apache-arrow/ipc/metadata/message';
import type { Schema } from 'apache-arrow';
import type { FlightData, FlightDataWatcher, FlightDescriptor } from '@longbow/flight';
import type { StagedPut } from '../store/store.ts';

export interface PutStagingTarget {
  /** Starts a staged put record (null: not possible now). */
  stagePut(dataset: string, prefix: readonly Uint8Array[], body: Uint8Array): StagedPut | null;
}

interface StagedEntry {
  /** Position of its message in the request stream. */
  index: number;
  dataset: string;
  staged: StagedPut;
}

export class PutStaging implements FlightDataWatcher {
  private messages = 0;
  private dataset: string | undefined;
  /** IPC stream bytes of the stream's schema message (copied: the watcher's views do not last). */
  private schemaPieces: Uint8Array[] | undefined;
  private disabled = false;
  private readonly entries: StagedEntry[] = [];

  constructor(
    private readonly target: PutStagingTarget,
    private readonly minBytes: number,
    private readonly datasetOf: (descriptor: FlightDescriptor) => string,
  ) {}

  bodyStarted(head: FlightData, body: Uint8Array): ((landed: number) => void) | undefined {
    const index = this.messages++;
    if (this.disabled) return undefined;
    try {
      const header = this.observe(head);
      if (!header?.isRecordBatch() || body.length < this.minBytes || this.dataset === undefined || !this.schemaPieces) return undefined;
      // Replay reads exactly bodyLength bytes after the header: a longer body would not split back.
      if (Number(header.bodyLength) !== body.length) return undefined;
      const staged = this.target.stagePut(this.dataset, [...this.schemaPieces, ...headerPieces(head.dataHeader, piecesBytes(this.schemaPieces))], body);
      if (!staged) return undefined;
      this.entries.push({ index, dataset: this.dataset, staged });
      return (landed) => staged.landed(landed);
    } catch {
      this.disable();
      return undefined;
    }
  }

  /** Bodies that may be staged land in shared memory: the log checksums them on another thread. */
  sharedBody(bodyBytes: number): boolean {
    return !this.disabled && bodyBytes >= this.minBytes && this.dataset !== undefined && this.schemaPieces !== undefined;
  }

  messageArrived(message: FlightData): void {
    this.messages++;
    if (this.disabled) return;
    try {
      this.observe(message);
    } catch {
      this.disable();
    }
  }

  /**
   * The staged record of request message `index` (0-based, in arrival order), if it was staged
   * for `dataset`, `body` is the memory it watched and all of it was seen landing; otherwise,
   * and for earlier messages never claimed, records are abandoned.
   */
  take(index: number, dataset: string, body: Uint8Array): StagedPut | undefined {
    while (this.entries.length > 0 && this.entries[0].index <= index) {
      const entry = this.entries.shift()!;
      const same = entry.index === index && entry.dataset === dataset
        && entry.staged.body.buffer === body.buffer && entry.staged.body.byteOffset === body.byteOffset && entry.staged.body.length === body.length;
      if (same && entry.staged.complete) return entry.staged;
      entry.staged.abandon();
    }
    return undefined;
  }

  /** Abandons every staged record not taken (the call ended). */
  abandonAll(): void {
    for (const entry of this.entries.splice(0)) entry.staged.abandon();
  }

  /** Notes the dataset and schema; returns the IPC message header, if any. */
  private observe(message: FlightData): Message | undefined {
    if (message.flightDescriptor && this.dataset === undefined) this.dataset = this.datasetOf(message.flightDescriptor);
    if (message.dataHeader.byteLength === 0) return undefined;
    const header = Message.decode(message.dataHeader);
    if (header.isSchema()) {
      // One schema per stream, without dictionaries (their batches would have to be logged too).
      if (this.schemaPieces || hasDictionaries(header.header())) this.disable();
      else this.schemaPieces = headerPieces(message.dataHeader);
    }
    if (header.isDictionaryBatch()) this.disable();
    return header;
  }

  private disable(): void {
    this.disabled = true;
  }
}

/** The log's block: a batch body starting on one can be written without a copy. */
const BLOCK_BYTES = 4096;
const CONTINUATION_MARKER = 0xffffffff;

/**
 * The IPC encapsulation of a message's header (the body follows it in the record). With
 * `precedingBytes` (a multiple of 8), the metadata is padded with zeros so that the header ends
 * on a block boundary counted from the start of the record data: the IPC format lets metadata
 * run past its flatbuffer, and readers skip by the length.
 */
function headerPieces(dataHeader: Uint8Array, precedingBytes?: number): Uint8Array[] {
  const minimum = (dataHeader.byteLength + 7) & ~7;
  const metadataBytes = precedingBytes === undefined ? minimum
    : Math.ceil((precedingBytes + 8 + minimum) / BLOCK_BYTES) * BLOCK_BYTES - precedingBytes - 8;
  const prefix = new Uint8Array(8);
  const view = new DataView(prefix.buffer);
  view.setUint32(0, CONTINUATION_MARKER, true);
  view.setInt32(4, metadataBytes, true);
  const metadata = new Uint8Array(metadataBytes);
  metadata.set(dataHeader, 0);
  return [prefix, metadata];
}

function piecesBytes(pieces: readonly Uint8Array[]): number {
  return pieces.reduce((sum, piece) => sum + piece.length, 0);
}

function hasDictionaries(schema: Schema): boolean {
  return schema.dictionaries.size > 0;
}
