/**
 * The Flight protocol messages as TypeScript types, with protobuf codecs.
 *
 * Control-plane messages are small, so protobufjs encodes them from proto/Flight.proto.
 * FlightData is the data plane and has a hand-written codec in codec/flight-data.ts.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

export const DescriptorType = { UNKNOWN: 0, PATH: 1, CMD: 2 } as const;
export type DescriptorType = (typeof DescriptorType)[keyof typeof DescriptorType];

export interface FlightDescriptor {
  type: DescriptorType;
  cmd: Uint8Array;
  path: string[];
}

export interface HandshakeRequest { protocolVersion: number; payload: Uint8Array }
export interface HandshakeResponse { protocolVersion: number; payload: Uint8Array }
export interface Criteria { expression: Uint8Array }
export interface Action { type: string; body: Uint8Array }
export interface ActionType { type: string; description: string }
export interface FlightResult { body: Uint8Array }
export interface SchemaResult { schema: Uint8Array }
export interface Ticket { ticket: Uint8Array }
export interface Location { uri: string }
export interface Timestamp { seconds: number; nanos: number }
export interface PutResult { appMetadata: Uint8Array }
export type Empty = Record<string, never>;

export interface FlightEndpoint {
  ticket: Ticket;
  location: Location[];
  expirationTime?: Timestamp;
  appMetadata: Uint8Array;
}

export interface FlightInfo {
  schema: Uint8Array;
  flightDescriptor?: FlightDescriptor;
  endpoint: FlightEndpoint[];
  totalRecords: number;
  totalBytes: number;
  ordered: boolean;
  appMetadata: Uint8Array;
}

export interface PollInfo {
  info?: FlightInfo;
  flightDescriptor?: FlightDescriptor;
  progress?: number;
  expirationTime?: Timestamp;
}

/** A message body laid out in pieces: each chunk is copied to `offset` when serialized. */
export interface ScatteredBody {
  byteLength: number;
  chunks: { offset: number; bytes: Uint8Array }[];
}

export interface FlightData {
  flightDescriptor?: FlightDescriptor;
  /** The flatbuffer-encoded Arrow IPC Message; empty for metadata-only messages. */
  dataHeader: Uint8Array;
  appMetadata: Uint8Array;
  /** The IPC message body. Received bodies are always contiguous and 8-byte aligned. */
  dataBody: Uint8Array | ScatteredBody;
}

const protoPath = fileURLToPath(new URL('../proto/Flight.proto', import.meta.url));
const root = protobuf.loadSync(protoPath);

/** Encoder and decoder of one protocol message type. */
export interface MessageCodec<T> {
  encode(value: T): Buffer;
  decode(bytes: Uint8Array): T;
}

const toObjectOptions: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  defaults: true,
  arrays: true,
};

function codecFor<T>(name: string): MessageCodec<T> {
  const type = root.lookupType(`arrow.flight.protocol.${name}`);
  return {
    encode(value: T): Buffer {
      const bytes = type.encode(type.fromObject(value as Record<string, unknown>)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    decode(bytes: Uint8Array): T {
      return type.toObject(type.decode(bytes), toObjectOptions) as T;
    },
  };
}

export const codecs = {
  HandshakeRequest: codecFor<HandshakeRequest>('HandshakeRequest'),
  HandshakeResponse: codecFor<HandshakeResponse>('HandshakeResponse'),
  Criteria: codecFor<Criteria>('Criteria'),
  Action: codecFor<Action>('Action'),
  ActionType: codecFor<ActionType>('ActionType'),
  Result: codecFor<FlightResult>('Result'),
  SchemaResult: codecFor<SchemaResult>('SchemaResult'),
  FlightDescriptor: codecFor<FlightDescriptor>('FlightDescriptor'),
  FlightInfo: codecFor<FlightInfo>('FlightInfo'),
  PollInfo: codecFor<PollInfo>('PollInfo'),
  Ticket: codecFor<Ticket>('Ticket'),
  PutResult: codecFor<PutResult>('PutResult'),
  Empty: codecFor<Empty>('Empty'),
} as const;

const utf8 = new TextEncoder();

/** A PATH descriptor, e.g. `pathDescriptor('embeddings')`. */
export function pathDescriptor(...path: string[]): FlightDescriptor {
  return { type: DescriptorType.PATH, cmd: new Uint8Array(0), path };
}

/** A CMD descriptor carrying an opaque command. */
export function commandDescriptor(cmd: Uint8Array | string): FlightDescriptor {
  const bytes = typeof cmd === 'string' ? utf8.encode(cmd) : cmd;
  return { type: DescriptorType.CMD, cmd: bytes, path: [] };
}
