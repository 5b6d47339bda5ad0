/**
 * Vector columns (Arrow FixedSizeList<float32|float16|float64|int8|uint8>[dim]) as the float32
 * rows the indexes take. float32 is a view of the Arrow buffer (no copy); the other element
 * types are converted into a new array (int8/uint8 keep their integer values: 5 becomes 5.0).
 * A null vector becomes a row of NaN, which never matches a search and is never indexed.
 */
import { DataType, type Data, type FixedSizeList, type RecordBatch } from 'apache-arrow';

export interface Float32Vectors {
  /** rows x dimensions, row-major. */
  vectors: Float32Array;
  dimensions: number;
  /** Whether `vectors` is a new array (its bytes count as the index's memory). */
  copied: boolean;
}

let halfToFloat: Float32Array | undefined;

/** float16 bit pattern -> float32 value, for all 65,536 patterns (256 KiB, built once). */
function halfTable(): Float32Array {
  if (halfToFloat) return halfToFloat;
  const table = new Float32Array(65_536);
  for (let bits = 0; bits < 65_536; bits++) {
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) table[bits] = sign * fraction * 2 ** -24;
    else if (exponent === 31) table[bits] = fraction === 0 ? sign * Infinity : NaN;
    else table[bits] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  halfToFloat = table;
  return table;
}

function float16ToFloat32(values: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = table[values[i]];
  return out;
}

/** The float32 rows of a FixedSizeList vector column's data. */
export function vectorsFromData(data: Data<FixedSizeList>): Float32Vectors {
  const type = data.type;
  if (!DataType.isFixedSizeList(type)) throw new TypeError(`a vector column is a FixedSizeList, got ${String(type)}`);
  const dimensions = type.listSize;
  const rows = data.length;
  const length = rows * dimensions;
  const child = data.children[0];
  // Arrow JS positions a child's values at the parent's first row (slices included).
  const values = child.values as Float32Array | Float64Array | Uint16Array | Int8Array | Uint8Array;
  if (values.length < length) throw new RangeError(`vector column holds ${values.length} values, ${rows} rows of ${dimensions} need ${length}`);
  const elementType = child.type as DataType;
  let vectors: Float32Array;
  let copied = true;
  if (DataType.isFloat(elementType) && elementType.precision === 1) {
    vectors = (values as Float32Array).subarray(0, length);
    copied = false;
  } else if (DataType.isFloat(elementType) && elementType.precision === 0) {
    vectors = float16ToFloat32((values as Uint16Array).subarray(0, length));
  } else if (DataType.isFloat(elementType) || (DataType.isInt(elementType) && elementType.bitWidth === 8)) {
    vectors = new Float32Array((values as Float64Array | Int8Array | Uint8Array).subarray(0, length));
  } else {
    throw new TypeError(`vector elements must be float32, float16, float64, int8 or uint8, got ${String(elementType)}`);
  }
  if (data.nullCount > 0) {
    if (!copied) {
      vectors = vectors.slice();
      copied = true;
    }
    for (let row = 0; row < rows; row++) {
      if (!data.getValid(row)) vectors.fill(NaN, row * dimensions, (row + 1) * dimensions);
    }
  }
  return { vectors, dimensions, copied };
}

/** The float32 rows of column `columnIndex` of a record batch. */
export function vectorsFromBatch(batch: RecordBatch, columnIndex: number): Float32Vectors {
  return vectorsFromData(batch.data.children[columnIndex] as Data<FixedSizeList>);
}
