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

/**
 * Ids per `delete` action: one WAL record and one synchronous pass over the id index each;
 * larger deletions are split by the client so the event loop is never held for long.
 */
export const DELETE_IDS_PER_REQUEST_MAX = 1_000_000;

/* Defaults of settings (memory limit, HTTP/2 window) live with the settings: config/config.ts. */

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

/** TTL eviction checks run every TTL/4, clamped to this range: often enough, never busy. */
export const TTL_CHECK_INTERVAL_MS_MIN = 250;
export const TTL_CHECK_INTERVAL_MS_MAX = 60_000;

// Metrics.

/**
 * Datasets that get their own `longbow_rows` series (the largest by rows); the others are
 * summed under `dataset="_other"`. Every label value is a time series kept by Prometheus, so
 * the label set must stay bounded however many datasets clients create.
 */
export const METRICS_ROWS_DATASETS_MAX = 50;

/* Search requests. */
/** Neighbours per query when a request gives no `k`. */
export const SEARCH_K_DEFAULT = 10;
/** Largest `k`: a result of 10,000 rows is already a scan, not a search. */
export const SEARCH_K_MAX = 10_000;
/** Largest per-query `ef` (HNSW candidate list). */
export const SEARCH_EF_MAX = 4096;
/** Query vectors in one VectorSearch action (DoExchange streams have no limit: they are batched). */
export const SEARCH_QUERIES_MAX = 10_000;

// ---------------------------------------------------------------------------------------------
// Vector index (src/index/). Measured on 2-core AMD EPYC (AVX-512) with 128-dimensional float32.
// ---------------------------------------------------------------------------------------------

/**
 * A dataset whose vectors take at most this many bytes is searched exactly only (no HNSW graph,
 * no worker thread): the exact kernel scans ~10 GB/s, so 8 MiB is under 1 ms per query, and
 * building a graph for it would cost more than it saves.
 */
export const INDEX_FLAT_ONLY_VECTOR_BYTES_MAX = 8 * 1024 * 1024;

/**
 * Vectors copied into the exact kernel's working memory at a time: small enough to stay in
 * the L2 cache while every query of a batch is scored against them.
 */
export const INDEX_SCAN_BLOCK_BYTES = 256 * 1024;

/**
 * Vector bytes an exact scan reads before it yields to the event loop: ~1.5-3 ms of work at
 * ~10 GB/s, well inside the 20 ms the event loop may be held.
 */
export const INDEX_SCAN_SLICE_BYTES = 16 * 1024 * 1024;
/**
 * The same for rows read one by one (re-scoring graph candidates, pre-filtered rows), counted
 * across the queries of a batch: a random row costs ~0.5 us against ~0.05 us in a scan.
 */
export const INDEX_PICKED_SLICE_BYTES = 2 * 1024 * 1024;

/**
 * Vector bytes sent to the indexing worker per message (one copy, transferred): large enough
 * that messaging costs nothing next to insertion, small enough that little memory is in flight
 * and the copy takes well under a millisecond.
 */
export const INDEX_FEED_BYTES_MAX = 2 * 1024 * 1024;

/** Messages of rows in flight to the indexing worker: one being inserted, one waiting. */
export const INDEX_FEED_MESSAGES_IN_FLIGHT_MAX = 2;

/**
 * Vector bytes the worker inserts into the graph before it looks at its message queue again
 * (64 rows at 128 dimensions: ~10-30 ms): a search that arrives during indexing waits at most
 * about this long. Insertion cost grows with the dimension, hence bytes, not rows.
 */
export const INDEX_INSERT_BATCH_BYTES = 32 * 1024;

/**
 * After answering a search with nothing to insert, the worker polls for the next message this
 * long before it sleeps: waking a sleeping thread costs about as much as a search (~50-100 us
 * on the reference machine), and queries come in runs. Bounded, so an idle worker sleeps.
 */
export const INDEX_WORKER_SPIN_MS = 0.2;
/**
 * Nice value added to the process's for the indexing worker thread and the native threads it
 * starts (inserts, batch searches). When every core is busy, the scheduler then runs the event loop first: graph
 * building soaks up idle cores but does not delay requests, puts or WAL completions. With idle
 * cores it changes nothing.
 */
export const INDEX_WORKER_NICE = 10;

/**
 * A filtered search whose candidate set holds at most this many rows, or at most
 * INDEX_FILTER_EXACT_FRACTION of the dataset, is answered exactly over the candidates: at
 * that selectivity the graph would need heavy oversampling and still miss matches.
 */
export const INDEX_FILTER_EXACT_ROWS_MAX = 20_000;
export const INDEX_FILTER_EXACT_FRACTION = 0.05;
/**
 * dot_product graphs (inner product is not a distance) find the first ten neighbours well but
 * miss many of the first hundred (recall@100 ~0.85 however large ef), so deep oversampling
 * does not work for them: filters passing up to 30% of the rows are answered exactly.
 */
export const INDEX_FILTER_EXACT_FRACTION_DOT_PRODUCT = 0.3;

/**
 * A filtered graph search asks for (k x INDEX_GRAPH_BREADTH_FACTOR) / selectivity x this many
 * candidates, then grows the request by INDEX_OVERSAMPLING_GROWTH until k of them pass; past
 * INDEX_OVERSAMPLING_ROWS_MAX candidates it gives up and searches exactly.
 */
export const INDEX_OVERSAMPLING_FACTOR = 1.5;
export const INDEX_OVERSAMPLING_GROWTH = 4;
export const INDEX_OVERSAMPLING_ROWS_MAX = 65_536;

/**
 * A graph search explores at least k x this many candidates, more when ef is larger (and asks
 * for k / selectivity x this many, times INDEX_OVERSAMPLING_FACTOR, when a filter passes only
 * part of the rows).
 */
export const INDEX_GRAPH_BREADTH_FACTOR = 4;

/**
 * Graph candidates re-scored per query: max(k x INDEX_RESCORE_FACTOR, k + INDEX_RESCORE_EXTRA),
 * the first that pass, best first by the graph's distance. They are re-scored exactly from the
 * stored float32 vectors: the graph keeps its vectors at lower precision (i8 or bf16), and
 * re-scoring makes every reported distance exact and identical to the flat index's. Either
 * precision moves a neighbour only a few places in the graph's order. On the bench's clustered
 * vectors (1,000 queries, i8 graph, ef 64), every true top-10 neighbour the graph found was among
 * its first 15 candidates at 100k and its first 18 at 1M (top-100: first 121 and 133); re-scoring
 * 16, 20 or 40 gave the same recall, and 20 instead of 40 made a search 15% faster at 100k.
 * Each re-scored candidate is a random read of a float32 row (~0.5-0.7 us at 100k and 1M),
 * the largest cost of a search after the graph itself.
 */
export const INDEX_RESCORE_FACTOR = 2;
export const INDEX_RESCORE_EXTRA = 10;
/**
 * The same for an i8 graph under dot_product: max(4k, k + 30). Its best matches are often the
 * rows of largest magnitude, and those are the rows the int8 scale clips, so they rank lower in
 * the graph's order than they should. On 20,000 clustered vectors of 16 and 32 dimensions, 1% of
 * queries had a true top-10 row past the graph's 20th candidate, every one of them a clipped row.
 */
export const INDEX_RESCORE_FACTOR_INT8_DOT = 4;
export const INDEX_RESCORE_EXTRA_INT8_DOT = 30;

/**
 * Vector bytes (of the first rows with values) an i8 graph's scale is taken from: the 99.9th
 * percentile of their rows' largest |values| maps to 127 (DatasetIndex.sampleScale,
 * int8ScaleFromRows). They are read as they are appended, ~2 ms of work per 8 MiB on the event
 * loop.
 */
export const INDEX_INT8_SCALE_SAMPLE_BYTES = 8 * 1024 * 1024;
/** Rows at most in that sample (each keeps one number until the graph starts). */
export const INDEX_INT8_SCALE_SAMPLE_ROWS = 65_536;

/**
 * Most native threads the indexing worker uses: to insert, all cores but one (that one is left
 * to the event loop); to search a batch of queries, every core. (A single query uses one.)
 */
export const INDEX_BUILD_THREADS_MAX = 8;
