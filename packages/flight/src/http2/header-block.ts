/** Header blocks as received: the fragments of one block, and its decoded fields as node:http2 headers. */
import type { IncomingHttpHeaders } from 'node:http2';

/** A header block being gathered from HEADERS and CONTINUATION frames. */
export interface HeaderBlock {
  streamId: number;
  endStream: boolean;
  fragments: Buffer[];
  bytes: number;
}

/** Decoded fields as node:http2 presents them: a repeated name becomes an array (appended in place). */
export function incomingHeaders(list: ReadonlyArray<[string, string]>): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of list) {
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = [previous, value];
  }
  return headers as IncomingHttpHeaders;
}
