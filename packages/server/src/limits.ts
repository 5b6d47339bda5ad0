/**
 * Every fixed limit of the server, in one place. Each name carries its unit; each comment says
 * why the number is what it is. Configurable defaults live in config/, not here.
 */

/** Longest dataset name, in UTF-8 bytes: names appear in file names and log lines. */
export const DATASET_NAME_BYTES_MAX = 255;

/** Widest vector accepted: usearch and the flat kernel are tested up to this many dimensions. */
export const VECTOR_DIMENSIONS_MAX = 65_536;

/**
 * Target size of one DoGet result batch. Small enough that a slow client does not pin large
 * buffers, large enough that per-message overhead (headers, syscalls) stays under ~1%.
 */
export const SCAN_BATCH_BYTES_TARGET = 4 * 1024 * 1024;

/** Largest DoAction/ticket JSON document accepted, in bytes: these are control messages. */
export const CONTROL_JSON_BYTES_MAX = 16 * 1024 * 1024;

/** Filters per request: more than this is a mistake, not a query. */
export const FILTERS_PER_REQUEST_MAX = 64;

/** Default memory limit when LONGBOW_MAX_MEMORY is unset: 1 GiB. */
export const MEMORY_LIMIT_BYTES_DEFAULT = 1024 * 1024 * 1024;

/** HTTP/2 flow-control window per stream and per connection. */
export const FLOW_CONTROL_WINDOW_BYTES = 32 * 1024 * 1024;

/**
 * Batches of one DoPut stream that may wait for the write-ahead log at once: enough to overlap
 * receiving with logging, few enough that a slow disk pushes back on the client quickly.
 */
export const PUT_BATCHES_IN_FLIGHT_MAX = 4;

/** How long shutdown waits for running calls before cancelling them. */
export const SHUTDOWN_GRACE_MS = 10_000;

// Write-ahead log.

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
