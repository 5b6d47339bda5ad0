/** The write-ahead log: public surface for the store and main.ts. */
export { WalWriter, type StagedRecord, type WalWriterOptions, type WalSyncMode } from './writer.ts';
export { WalRecovery, type WalRecoveryOptions, type RecoveryMode, type RecoveryReport, type TornTail, type Truncation } from './recovery.ts';
export { RecordType, WAL_FORMAT_VERSION, payloadLength, roundUp, type WalPayload, type WalRecord } from './format.ts';
export { BLOCK_BYTES } from './direct-file.ts';
export { NodeFileLayer, type FileLayer, type WalFile } from './file-layer.ts';
export { WalCorruptionError, WalVersionError, WalWriterFailedError, WalRecordTooLargeError } from './wal-errors.ts';
export { WAL_RECORD_BYTES_MAX, WAL_SEGMENT_BYTES_MAX_DEFAULT } from './wal-limits.ts';
