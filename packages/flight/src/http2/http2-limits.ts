/**
 * The limits of our HTTP/2 connections in one place, each with its unit and why it is what it
 * is. Most bound what a peer can make us hold or do; see connection.ts for where each applies.
 */

/**
 * Smallest read made straight into a message's memory; a shorter rest of a payload is read
 * through the read buffer (one syscall per few bytes would cost more than the copy).
 */
export const DIRECT_READ_BYTES_MIN = 16 * 1024;
/**
 * A read this short takes the start of a message, so that its reader learns where the body
 * goes before the rest is read straight into place.
 */
export const LAYOUT_READ_BYTES = 4096;
/** Bytes waiting in the socket above which sending pauses until it drains. */
export const SOCKET_QUEUED_BYTES_MAX = 4 * 1024 * 1024;
/** Largest header block accepted (all HEADERS and CONTINUATION fragments of one block, with their frame headers). */
export const HEADER_BLOCK_BYTES_MAX = 256 * 1024;
/** Largest decoded header list accepted (RFC 9113 6.5.2 size: name and value octets + 32 per field). */
export const HEADER_LIST_BYTES_MAX = 1024 * 1024;
/**
 * Received bytes all streams of a connection may hold for paused readers, as a multiple of the
 * window: past it the connection's window is no longer credited, so the peer stops sending
 * until readers take what is held. One paused stream holds at most one window; without this,
 * a peer could fill every allowed stream (1,000 x the window) while their readers wait.
 */
export const HELD_WINDOWS_MAX = 2;
/**
 * Streams the peer may reset, as a budget refilled over time: a peer that opens and resets
 * streams in a loop (the "rapid reset" attack) makes work for every one of them while staying
 * under the stream limit; past the budget it is cut off (GOAWAY, ENHANCE_YOUR_CALM).
 */
export const RESETS_BURST = 1000;
export const RESETS_PER_SECOND = 200;
/** How long a graceful end waits for the peer to take what is queued before the socket is destroyed. */
export const GRACEFUL_END_MS = 10_000;
/** Answers (PING and SETTINGS ACKs, refusals) queued behind output the peer does not read, before it is cut off. */
export const ANSWERS_QUEUED_MAX = 10_000;

/** The read buffer of a client connection, and the one every connection of a listener shares. */
export const READ_BUFFER_BYTES = 1024 * 1024;

/**
 * Bytes: a server connection stops reading for the rest of an event-loop turn after this many.
 * Why: libuv reads a busy socket up to 32 times per turn, which on loopback is tens of MB (and
 * tens of ms) during which no timer, other connection or file-system completion runs; the WAL
 * writes a large DoPut while it arrives and needs its completions seen promptly.
 */
export const READ_TURN_BYTES_MAX = 4 * 1024 * 1024;
/** The largest stream id HTTP/2 allows; a client connection that reaches it is replaced. */
export const STREAM_ID_MAX = 2 ** 31 - 1;
