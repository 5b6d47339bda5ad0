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

/** HTTP/2 flow-control window per stream and per connection (see ARCHITECTURE.md section 2). */
export const FLOW_CONTROL_WINDOW_BYTES = 32 * 1024 * 1024;

/** How long shutdown waits for running calls before cancelling them. */
export const SHUTDOWN_GRACE_MS = 10_000;
