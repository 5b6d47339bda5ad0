/** A client's request stream of our HTTP/2 connection (see stream.ts and client-connection.ts). */
import type { IncomingHttpHeaders } from 'node:http2';
import { Http2Stream, type StreamOwner } from './stream.ts';

/** A client's request stream: the response headers come as 'response', trailers as 'trailers'. */
export class ClientStream extends Http2Stream {
  private responded = false;

  constructor(owner: StreamOwner, readonly requestHeaders: Array<[string, string]>, queuedBytesHigh: number) {
    super(owner, queuedBytesHigh);
  }

  receiveHeaders(headers: IncomingHttpHeaders, endStream: boolean): void {
    if (this.closed) return;
    this.emit(this.responded ? 'trailers' : 'response', headers);
    this.responded = true;
    if (endStream) this.receiveEnd();
  }
}
