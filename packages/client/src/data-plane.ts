/** The calls that carry record batches; FlightClient and Http2FlightChannel both offer them. */
import type { CallOptions, FlightData, PutResult, Ticket } from '@longbow/flight';

export interface DataPlane {
  doGetMessages(ticket: Ticket | Uint8Array | string, options?: CallOptions): AsyncIterable<FlightData>;
  doPutMessages(messages: AsyncIterable<FlightData> | Iterable<FlightData>, options?: CallOptions): AsyncIterable<PutResult>;
  doExchange(messages: AsyncIterable<FlightData> | Iterable<FlightData>, options?: CallOptions): AsyncIterable<FlightData>;
  close(): void;
}
