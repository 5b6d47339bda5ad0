/**
 * Errors of the write-ahead log. They are not client errors: the integrator maps
 * WalCorruptionError to DATA_LOSS (refuse to start) and treats a failed writer as fatal.
 */

/** A segment cannot be read as the format says: names the file and the byte offset. */
export class WalCorruptionError extends Error {
  override readonly name: string = 'WalCorruptionError';
  /** Path of the damaged segment file. */
  readonly file: string;
  /** Byte offset in `file` where the damaged header or record starts. */
  readonly offset: number;
  /** What is wrong, for the log line. */
  readonly reason: string;

  constructor(file: string, offset: number, reason: string) {
    super(`WAL corrupt: ${file} at byte offset ${offset}: ${reason}`);
    this.file = file;
    this.offset = offset;
    this.reason = reason;
  }
}

/**
 * A segment was written by a format version this build does not read. Never truncated, even in
 * `recovery: 'truncate'` mode: the data is probably fine, the binary is too old.
 */
export class WalVersionError extends WalCorruptionError {
  override readonly name = 'WalVersionError';
}

/**
 * The writer hit a write or fsync error. Every append waiting on that write or fsync, and every
 * later append, rejects with this error: none of them may be reported durable. The process
 * should stop; recovery at the next start decides what survived.
 */
export class WalWriterFailedError extends Error {
  override readonly name = 'WalWriterFailedError';

  constructor(cause: unknown) {
    super(`WAL writer failed, no further writes are possible: ${describe(cause)}`, { cause });
  }
}

/** An append whose record would exceed WAL_RECORD_BYTES_MAX; nothing was written. */
export class WalRecordTooLargeError extends Error {
  override readonly name = 'WalRecordTooLargeError';
  readonly recordBytes: number;
  readonly recordBytesMax: number;

  constructor(recordBytes: number, recordBytesMax: number) {
    super(`WAL record of ${recordBytes} bytes exceeds the limit of ${recordBytesMax} bytes`);
    this.recordBytes = recordBytes;
    this.recordBytesMax = recordBytesMax;
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
