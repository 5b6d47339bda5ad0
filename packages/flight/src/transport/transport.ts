/** What the FlightServer needs from a transport. */
export interface TransportOptions {
  /** Largest message accepted or sent, in bytes; -1 for no limit. */
  messageBytesMax: number;
  /** HTTP/2 flow-control window per stream and per connection, in bytes. */
  flowControlWindowBytes: number;
  /** Largest HTTP/2 DATA frame accepted, in bytes. */
  frameBytesMax: number;
}

export interface TransportServer {
  /** Binds `host:port` (port 0 picks one); resolves to the bound port. May be called again for more ports. */
  listen(address: string): Promise<number>;
  /** Stops accepting, lets running calls finish for up to `graceMs`, then cancels them. */
  shutdown(graceMs: number): Promise<void>;
}
