/**
 * Limits of the write-ahead log, each with its unit and its reason. They belong beside the
 * others in `../limits.ts`; they live here until the WAL is integrated (that file is shared).
 */

/**
 * Default size at which a segment is closed and the next one started. Large enough that
 * rotation (one fsync, one file creation, one directory fsync) is rare; small enough that a
 * snapshot frees disk in useful steps and recovery reads a segment into memory at once.
 */
export const WAL_SEGMENT_BYTES_MAX_DEFAULT = 100 * 1024 * 1024;

/**
 * Largest value of a record's length field (everything after the length field: checksum,
 * sequence, type, dataset name and payload). A larger length on disk is corruption, never an
 * allocation request; a larger append is refused before anything is written. 1 GiB keeps one
 * record, its segment and its copy within Node's 4 GiB Buffer limit during recovery.
 */
export const WAL_RECORD_BYTES_MAX = 1024 * 1024 * 1024;

/**
 * When recovery finds a damaged record in the last segment it looks further on for a valid
 * record, whose sequence must lie within this distance of the last good one. Sequences are
 * consecutive in practice; the window only keeps the search cheap (a candidate is checksummed
 * only if its sequence fits) without missing a real record after the damage.
 */
export const WAL_RESCAN_SEQUENCE_WINDOW = 1_000_000;
