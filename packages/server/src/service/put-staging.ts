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
import type { Message } from 'apache-arrow/ipc/metadata/message';
import { decodeMessage, ipcMessageHeaderPieces, isRecordBatchHeader, type FlightData, type FlightDataWatcher, type FlightDescriptor } from '@longbow/flight';
import type { StagedPut } from '../store/store.ts';
import { BLOCK_BYTES, payloadLength, roundUp } from '../wal/index.ts';

export interface PutStagingTarget {
  /** Starts a staged put record (null: not possible now). */
  stagePut(dataset: string, prefix: readonly Uint8Array[], body: Uint8Array): StagedPut | null;
}

interface StagedEntry {
  dataset: string;
  staged: StagedPut;
}

export class PutStaging implements FlightDataWatcher {
  private dataset: string | undefined;
  /** IPC stream bytes of the stream's schema message (copied: the watcher's views do not last). */
  private schemaPieces: Uint8Array[] | undefined;
  private disabled = false;
  /** Staged records in arrival order, until DoPut takes them. */
  private readonly entries: StagedEntry[] = [];

  constructor(
    private readonly target: PutStagingTarget,
    private readonly minBytes: number,
    private readonly datasetOf: (descriptor: FlightDescriptor) => string,
  ) {}

  bodyStarted(head: FlightData, body: Uint8Array): ((landed: number) => void) | undefined {
    try {
      const header = this.observe(head);
      if (!header?.isRecordBatch() || !this.accepts(body.length)) return undefined;
      // Replay reads exactly bodyLength bytes after the header: a longer body would not split back.
      if (Number(header.bodyLength) !== body.length) return undefined;
      const schemaPieces = this.schemaPieces!;
      const staged = this.target.stagePut(this.dataset!, [...schemaPieces, ...blockAlignedHeaderPieces(head.dataHeader, payloadLength(schemaPieces))], body);
      if (!staged) return undefined;
      this.entries.push({ dataset: this.dataset!, staged });
      return (landed) => staged.landed(landed);
    } catch {
      this.disabled = true;
      return undefined;
    }
  }

  /** Bodies that may be staged land in shared memory: the log checksums them on another thread. */
  sharedBody(bodyBytes: number): boolean {
    return this.accepts(bodyBytes);
  }

  messageArrived(message: FlightData): void {
    try {
      // Once the schema is in, a batch message tells staging nothing: its header is left to
      // DoPut's decoder rather than decoded twice (every small put's message comes here).
      if (this.schemaPieces && isRecordBatchHeader(message.dataHeader)) return;
      this.observe(message);
    } catch {
      this.disabled = true;
    }
  }

  /**
   * The staged record of the batch message whose body is `body`, if it was staged for `dataset`
   * and all of it was seen landing; otherwise, and for the messages before it never claimed,
   * records are abandoned.
   */
  take(dataset: string, body: Uint8Array): StagedPut | undefined {
    const at = this.entries.findIndex(({ staged }) =>
      staged.body.buffer === body.buffer && staged.body.byteOffset === body.byteOffset && staged.body.length === body.length);
    if (at < 0) return undefined;
    const claimed = this.entries.splice(0, at + 1);
    const entry = claimed.pop()!;
    for (const earlier of claimed) earlier.staged.abandon();
    if (entry.dataset === dataset && entry.staged.complete) return entry.staged;
    entry.staged.abandon();
    return undefined;
  }

  /** Abandons every staged record not taken (the call ended). */
  abandonAll(): void {
    for (const entry of this.entries.splice(0)) entry.staged.abandon();
  }

  /** Whether a body of `bodyBytes` may be staged now. */
  private accepts(bodyBytes: number): boolean {
    return !this.disabled && bodyBytes >= this.minBytes && this.dataset !== undefined && this.schemaPieces !== undefined;
  }

  /** Notes the dataset and schema; returns the IPC message header, if any (decoded with the decoder's checks). */
  private observe(message: FlightData): Message | undefined {
    if (this.disabled) return undefined;
    if (message.flightDescriptor && this.dataset === undefined) this.dataset = this.datasetOf(message.flightDescriptor);
    if (message.dataHeader.byteLength === 0) return undefined;
    const header = decodeMessage(message.dataHeader);
    if (header.isSchema()) {
      // One schema per stream, without dictionaries (their batches would have to be logged too).
      if (this.schemaPieces || header.header().dictionaries.size > 0) this.disabled = true;
      else this.schemaPieces = ipcMessageHeaderPieces(message.dataHeader.slice());
    }
    if (header.isDictionaryBatch()) this.disabled = true;
    return header;
  }
}

/**
 * A batch message's header pieces with its metadata padded with zeros so that the header ends
 * on a block boundary counted from the start of the record data (`precedingBytes`, a multiple
 * of 8, come first): the body then starts on one, where the log writes it without a copy.
 */
function blockAlignedHeaderPieces(dataHeader: Uint8Array, precedingBytes: number): Uint8Array[] {
  const minimum = (dataHeader.byteLength + 7) & ~7;
  const metadataBytes = roundUp(precedingBytes + 8 + minimum, BLOCK_BYTES) - precedingBytes - 8;
  return ipcMessageHeaderPieces(dataHeader.slice(), metadataBytes);
}
