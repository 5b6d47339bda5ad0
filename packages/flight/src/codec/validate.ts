/**
 * Structural validation of decoded Arrow data. A peer can send a header whose lengths do not
 * fit its buffers; apache-arrow would then read past the end silently. Everything here is
 * linear in the number of values at worst (offset monotonicity, dictionary indices).
 */
import { DataType, type Data } from 'apache-arrow';
import { FlightError, GrpcStatus } from '../errors.ts';

function malformed(reason: string): FlightError {
  return new FlightError(GrpcStatus.INVALID_ARGUMENT, `malformed FlightData: ${reason}`, 'MALFORMED_FLIGHT_DATA');
}

function elementCount(buffer: ArrayLike<unknown> | undefined): number {
  return buffer === undefined ? 0 : buffer.length;
}

function checkOffsets(data: Data, targetLength: number): void {
  const offsets = data.valueOffsets as ArrayLike<number | bigint> | undefined;
  const end = data.offset + data.length;
  if (data.length === 0) return;
  if (offsets === undefined || offsets.length < end + 1) throw malformed(`${data.type} column has too few offsets`);
  let previous = Number(offsets[data.offset]);
  if (previous < 0) throw malformed(`${data.type} column has a negative offset`);
  for (let i = data.offset + 1; i <= end; i++) {
    const current = Number(offsets[i]);
    if (current < previous) throw malformed(`${data.type} column has decreasing offsets`);
    previous = current;
  }
  if (previous > targetLength) throw malformed(`${data.type} column offsets point past its values`);
}

/** Throws FlightError(INVALID_ARGUMENT) when `data` does not fit its buffers or `expectedLength`. */
export function validateData(data: Data, expectedLength: number): void {
  const { type } = data;
  if (data.length !== expectedLength) {
    throw malformed(`${type} column has ${data.length} values where ${expectedLength} were expected`);
  }
  const end = data.offset + data.length;
  if (data.nullCount > data.length) throw malformed(`${type} column has more nulls (${data.nullCount}) than values`);
  if (DataType.isNull(type)) return; // no buffers: every value is null by definition
  if (data.nullCount > 0 && (data.nullBitmap === undefined || data.nullBitmap.byteLength * 8 < end)) {
    throw malformed(`${type} column validity bitmap is too short`);
  }
  if (DataType.isBool(type)) {
    if (data.length > 0 && data.values.byteLength * 8 < end) throw malformed('bool column values are too short');
  } else if (DataType.isInt(type) || DataType.isFloat(type) || DataType.isDate(type) || DataType.isTime(type)
    || DataType.isTimestamp(type) || DataType.isDuration(type) || DataType.isDecimal(type)
    || DataType.isInterval(type) || DataType.isFixedSizeBinary(type)) {
    if (elementCount(data.values) < end * data.stride) throw malformed(`${type} column values are too short`);
  } else if (DataType.isUtf8(type) || DataType.isBinary(type) || DataType.isLargeUtf8(type) || DataType.isLargeBinary(type)) {
    checkOffsets(data, elementCount(data.values));
  } else if (DataType.isList(type) || DataType.isMap(type) || DataType.isLargeList(type)) {
    const child = data.children[0];
    if (child == null) throw malformed('list column has no child');
    checkOffsets(data, child.length);
    validateData(child, child.length);
  } else if (DataType.isFixedSizeList(type)) {
    const child = data.children[0];
    if (child == null) throw malformed('fixed-size list column has no child');
    if (child.length < end * type.listSize) throw malformed(`${type} column child has too few values`);
    validateData(child, child.length);
  } else if (DataType.isStruct(type)) {
    for (const child of data.children) {
      if (child == null) throw malformed('struct column is missing a child');
      if (child.length < end) throw malformed(`${type} column child is too short`);
      validateData(child, child.length);
    }
  } else if (DataType.isDictionary(type)) {
    validateDictionary(data);
  }
}

function validateDictionary(data: Data): void {
  const dictionary = data.dictionary;
  if (dictionary === undefined) throw malformed('dictionary-encoded column arrived before its dictionary');
  const indices = data.values as ArrayLike<number | bigint>;
  const end = data.offset + data.length;
  if (elementCount(indices) < end) throw malformed('dictionary indices are too short');
  const size = dictionary.length;
  for (let i = data.offset; i < end; i++) {
    const index = Number(indices[i]);
    if ((index < 0 || index >= size) && data.getValid(i - data.offset)) {
      throw malformed(`dictionary index ${index} is out of range (dictionary has ${size} entries)`);
    }
  }
}
