/**
 * Arrow IPC messages <-> FlightData <-> RecordBatch.
 *
 * A Flight stream is an Arrow IPC stream cut into messages: the schema first, then
 * dictionary batches ahead of the record batches that use them. Each FlightData carries one
 * IPC Message flatbuffer (data_header) and its body (data_body). The decoder keeps the state
 * a stream needs (schema, dictionaries); the encoder tracks which dictionaries were sent.
 */
import {
  Data, makeData, MessageHeader, RecordBatch, Schema, Struct, Vector, type DataType,
} from 'apache-arrow';
import {
  Message, RecordBatch as RecordBatchHeader, DictionaryBatch as DictionaryBatchHeader,
} from 'apache-arrow/ipc/metadata/message';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import { ByteBuffer } from 'flatbuffers';
import { Message as FbMessage } from 'apache-arrow/fb/message';
import { MessageHeader as FbMessageHeader } from 'apache-arrow/fb/message-header';
import { RecordBatch as FbRecordBatch } from 'apache-arrow/fb/record-batch';
import { DictionaryBatch as FbDictionaryBatch } from 'apache-arrow/fb/dictionary-batch';
import { Schema as FbSchema } from 'apache-arrow/fb/schema';
import type { Field as FbField } from 'apache-arrow/fb/field';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import { FlightError, GrpcStatus } from '../errors.ts';
import type { FlightData, FlightDescriptor, ScatteredBody } from '../protocol.ts';
import { contiguousBody } from './flight-data.ts';
import { validateData } from './validate.ts';

const EMPTY = new Uint8Array(0);
const CONTINUATION_MARKER = 0xffffffff;

function malformed(reason: string): FlightError {
  return new FlightError(GrpcStatus.INVALID_ARGUMENT, `malformed FlightData: ${reason}`, 'MALFORMED_FLIGHT_DATA');
}

/** The flatbuffer IPC Message of a schema (what data_header carries). */
export function schemaHeader(schema: Schema): Uint8Array {
  return Message.encode(Message.from(schema));
}

/**
 * A schema as an encapsulated IPC message (continuation marker, length, flatbuffer, padding to
 * 8 bytes): the form FlightInfo.schema and SchemaResult.schema carry.
 */
export function encapsulateSchema(schema: Schema): Uint8Array {
  const header = schemaHeader(schema);
  const paddedLength = (header.byteLength + 7) & ~7;
  const out = new Uint8Array(8 + paddedLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, CONTINUATION_MARKER, true);
  view.setInt32(4, paddedLength, true);
  out.set(header, 8);
  return out;
}

/** Reads a schema in encapsulated IPC form (with or without the continuation marker). */
export function decodeEncapsulatedSchema(bytes: Uint8Array): Schema {
  if (bytes.byteLength < 8) throw malformed('schema message shorter than its prefix');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  if (view.getUint32(0, true) === CONTINUATION_MARKER) offset = 4;
  const length = view.getInt32(offset, true);
  offset += 4;
  if (length < 0 || offset + length > bytes.byteLength) throw malformed('schema length runs past the end');
  const message = decodeMessage(bytes.subarray(offset, offset + length));
  if (!message.isSchema()) throw malformed('expected a schema message');
  return message.header();
}

/** Bytes one entry of a flatbuffer vector takes at the least (FieldNode and Buffer are 16). */
const FB_STRUCT_BYTES = 16;
const FB_TABLE_OFFSET_BYTES = 4;

/**
 * apache-arrow trusts the counts in a header and allocates for them: a 200-byte header can
 * claim two billion field nodes. Every count is checked against the header's size first.
 */
function checkHeaderCounts(header: Uint8Array): void {
  const bytes = header.byteLength;
  const message = FbMessage.getRootAsMessage(new ByteBuffer(header));
  const type = message.headerType();
  const tooMany = (count: number, entryBytes: number) => count * entryBytes > bytes;
  const checkBatch = (batch: FbRecordBatch | null) => {
    if (batch && (tooMany(batch.nodesLength(), FB_STRUCT_BYTES) || tooMany(batch.buffersLength(), FB_STRUCT_BYTES)
      || tooMany(batch.variadicBufferCountsLength(), 8))) {
      throw malformed('header claims more field nodes or buffers than it holds');
    }
  };
  if (type === FbMessageHeader.RecordBatch) checkBatch(message.header(new FbRecordBatch()) as FbRecordBatch | null);
  else if (type === FbMessageHeader.DictionaryBatch) {
    const dictionary = message.header(new FbDictionaryBatch()) as FbDictionaryBatch | null;
    if (!dictionary || !dictionary.data()) throw malformed('dictionary batch without data');
    checkBatch(dictionary.data());
  } else if (type === FbMessageHeader.Schema) {
    const schema = message.header(new FbSchema()) as FbSchema | null;
    if (!schema) throw malformed('schema message without a schema');
    let budget = Math.floor(bytes / FB_TABLE_OFFSET_BYTES);
    const visit = (count: number, get: (index: number) => FbField | null) => {
      budget -= count;
      if (budget < 0) throw malformed('schema claims more fields than it holds');
      for (let i = 0; i < count; i++) {
        const field = get(i);
        if (field) visit(field.childrenLength(), (index) => field.children(index));
      }
    };
    visit(schema.fieldsLength(), (index) => schema.fields(index));
  }
}

/**
 * Whether an IPC message header holds a record batch, read from its root table alone (no
 * decoding, no checks): for callers that only sort messages; anything else still goes through
 * decodeMessage.
 */
export function isRecordBatchHeader(header: Uint8Array): boolean {
  try {
    return FbMessage.getRootAsMessage(new ByteBuffer(header)).headerType() === FbMessageHeader.RecordBatch;
  } catch {
    return false;
  }
}

/**
 * Decodes an IPC message header fully (apache-arrow decodes lazily), so every failure is a
 * malformed error here, after checking its counts (apache-arrow allocates for them unchecked).
 */
export function decodeMessage(header: Uint8Array): Message {
  try {
    checkHeaderCounts(header);
    const type = FbMessage.getRootAsMessage(new ByteBuffer(header)).headerType();
    if (type !== FbMessageHeader.Schema && type !== FbMessageHeader.DictionaryBatch && type !== FbMessageHeader.RecordBatch) {
      throw malformed(`unsupported IPC message type ${FbMessageHeader[type] ?? type}`);
    }
    const message = Message.decode(header);
    message.header();
    return message;
  } catch (error) {
    if (error instanceof FlightError) throw error;
    throw malformed(`unreadable IPC message header (${(error as Error).message})`);
  }
}

export type DecodedFlightData =
  | { kind: 'schema'; schema: Schema; descriptor?: FlightDescriptor; appMetadata: Uint8Array; raw: FlightData }
  | { kind: 'dictionary'; id: number; appMetadata: Uint8Array; raw: FlightData }
  | { kind: 'batch'; batch: RecordBatch; appMetadata: Uint8Array; raw: FlightData }
  | { kind: 'metadata'; descriptor?: FlightDescriptor; appMetadata: Uint8Array; raw: FlightData };

/** Turns a stream of FlightData back into schema, dictionaries and record batches. */
export class FlightDataDecoder {
  schema: Schema | null = null;
  readonly dictionaries = new Map<number, Vector>();

  decode(data: FlightData): DecodedFlightData {
    const descriptor = data.flightDescriptor ?? undefined;
    if (data.dataHeader.byteLength === 0) {
      return { kind: 'metadata', descriptor, appMetadata: data.appMetadata, raw: data };
    }
    const message = decodeMessage(data.dataHeader);
    const body = contiguousBody(data.dataBody);
    if (message.bodyLength > body.byteLength) {
      throw malformed(`header announces a ${message.bodyLength}-byte body, got ${body.byteLength} bytes`);
    }
    if (message.isSchema()) {
      this.schema = message.header();
      this.dictionaries.clear();
      return { kind: 'schema', schema: this.schema, descriptor, appMetadata: data.appMetadata, raw: data };
    }
    const schema = this.schema;
    if (schema === null) throw malformed('record batch or dictionary before the schema');
    if (message.isDictionaryBatch()) {
      const header = message.header();
      this.loadDictionary(schema, header, body);
      return { kind: 'dictionary', id: header.id, appMetadata: data.appMetadata, raw: data };
    }
    if (message.isRecordBatch()) {
      const header = message.header();
      const children = this.loadColumns(header, body, schema.fields.map((field) => field.type));
      const structData = makeData({ type: new Struct(schema.fields), length: header.length, nullCount: 0, children });
      const batch = new RecordBatch(schema, structData);
      return { kind: 'batch', batch, appMetadata: data.appMetadata, raw: data };
    }
    throw malformed(`unsupported IPC message type ${MessageHeader[message.headerType] ?? message.headerType}`);
  }

  private loadDictionary(schema: Schema, header: DictionaryBatchHeader, body: Uint8Array): void {
    const type = schema.dictionaries.get(header.id);
    if (type === undefined) throw malformed(`dictionary batch for unknown dictionary id ${header.id}`);
    const [data] = this.loadColumns(header.data, body, [type]);
    const previous = this.dictionaries.get(header.id);
    const vector = header.isDelta && previous ? previous.concat(new Vector([data])) : new Vector([data]);
    this.dictionaries.set(header.id, vector.memoize());
  }

  private loadColumns(header: RecordBatchHeader, body: Uint8Array, types: DataType[]): Data[] {
    // The codec is declared on the batch header (Message.compression is never filled in).
    if (header.compression != null) {
      throw new FlightError(GrpcStatus.UNIMPLEMENTED,
        'compressed IPC bodies are not supported: send uncompressed record batches', 'COMPRESSION_UNSUPPORTED');
    }
    for (const region of header.buffers) {
      if (region.offset < 0 || region.length < 0 || region.offset + region.length > body.byteLength) {
        throw malformed(`buffer [${region.offset}, +${region.length}) lies outside the ${body.byteLength}-byte body`);
      }
    }
    let columns: Data[];
    try {
      const loader = new VectorLoader(body, header.nodes, header.buffers, this.dictionaries, undefined, header.variadicBufferCounts);
      columns = loader.visitMany(types) as Data[];
    } catch (error) {
      throw malformed(`record batch does not match the schema (${(error as Error).message})`);
    }
    for (const column of columns) validateData(column, header.length);
    return columns;
  }
}

/** Encodes record batches of one schema as FlightData messages. */
export class FlightDataEncoder {
  private readonly sentDictionaries = new Map<number, { first: Data; chunks: number }>();

  constructor(readonly schema: Schema) {}

  /** The first message of a stream: the schema, optionally with a descriptor (DoPut). */
  schemaMessage(descriptor?: FlightDescriptor, appMetadata: Uint8Array = EMPTY): FlightData {
    return { flightDescriptor: descriptor, dataHeader: schemaHeader(this.schema), appMetadata, dataBody: EMPTY };
  }

  /**
   * Dictionary messages the batch needs, then the batch itself. A dictionary not sent before is
   * sent whole (chunk 0 as a replacement, further chunks as deltas); one that grew since it was
   * sent (apache-arrow appends chunks) gets its new chunks as deltas.
   */
  batchMessages(batch: RecordBatch, appMetadata: Uint8Array = EMPTY): FlightData[] {
    const out: FlightData[] = [];
    for (const [id, dictionary] of batch.dictionaries) {
      const chunks = dictionary.data;
      const sent = this.sentDictionaries.get(id);
      const continues = sent !== undefined && sent.first === chunks[0] && sent.chunks <= chunks.length;
      const start = continues ? sent.chunks : 0;
      for (let index = start; index < chunks.length; index++) {
        out.push(this.dictionaryMessage(id, chunks[index], index > 0));
      }
      if (chunks.length > 0) this.sentDictionaries.set(id, { first: chunks[0], chunks: chunks.length });
    }
    const { byteLength, nodes, bufferRegions, buffers, variadicBufferCounts } = VectorAssembler.assemble(batch);
    const header = new RecordBatchHeader(batch.numRows, nodes, bufferRegions, null, variadicBufferCounts);
    out.push({
      dataHeader: Message.encode(Message.from(header, byteLength)),
      appMetadata,
      dataBody: scatter(byteLength, bufferRegions, buffers),
    });
    return out;
  }

  private dictionaryMessage(id: number, chunk: Data, isDelta: boolean): FlightData {
    const vector = new Vector([chunk]);
    const { byteLength, nodes, bufferRegions, buffers, variadicBufferCounts } = VectorAssembler.assemble(vector);
    const data = new RecordBatchHeader(chunk.length, nodes, bufferRegions, null, variadicBufferCounts);
    const header = new DictionaryBatchHeader(data, id, isDelta);
    return { dataHeader: Message.encode(Message.from(header, byteLength)), appMetadata: EMPTY, dataBody: scatter(byteLength, bufferRegions, buffers) };
  }
}

function scatter(byteLength: number, regions: { offset: number; length: number }[], buffers: ArrayBufferView[]): ScatteredBody {
  const chunks: ScatteredBody['chunks'] = [];
  for (let i = 0; i < regions.length; i++) {
    const buffer = buffers[i];
    if (buffer.byteLength === 0) continue;
    chunks.push({ offset: regions[i].offset, bytes: new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength) });
  }
  return { byteLength, chunks };
}

/** All messages of a stream: schema (with optional descriptor), then every batch. */
export function* encodeRecordBatches(
  schema: Schema, batches: Iterable<RecordBatch>, descriptor?: FlightDescriptor,
): Generator<FlightData> {
  const encoder = new FlightDataEncoder(schema);
  yield encoder.schemaMessage(descriptor);
  for (const batch of batches) yield* encoder.batchMessages(batch);
}
