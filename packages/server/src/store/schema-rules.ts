/**
 * Dataset schema rules: which column is the vector, which the id,
 * which metric; and which later schemas a dataset accepts (the same, or new nullable columns
 * at the end).
 */
import { DataType, type Field, type Schema } from 'apache-arrow';
import { longbowError } from '../errors.ts';
import { VECTOR_DIMENSIONS_MAX } from '../limits.ts';
import { METRIC_METADATA_KEY, UnknownMetricError, metricFromMetadata, type Metric } from '../index/metric.ts';

export { METRICS, METRIC_METADATA_KEY, type Metric } from '../index/metric.ts';

export const VECTOR_COLUMN_NAMES = ['vector', 'embedding'] as const;
export const ID_COLUMN_NAME = 'id';

export type VectorElementType = 'float32' | 'float16' | 'float64' | 'int8' | 'uint8';

export interface VectorColumn {
  name: string;
  index: number;
  dimensions: number;
  elementType: VectorElementType;
}

export interface IdColumn {
  name: string;
  index: number;
  type: 'int64' | 'uint64' | 'int32' | 'uint32' | 'utf8';
}

export interface SchemaRoles {
  vector: VectorColumn | undefined;
  id: IdColumn | undefined;
  metric: Metric;
}

function vectorElementType(type: DataType): VectorElementType | undefined {
  if (DataType.isFloat(type)) {
    return ({ 0: 'float16', 1: 'float32', 2: 'float64' } as const)[type.precision as 0 | 1 | 2];
  }
  if (DataType.isInt(type) && type.bitWidth === 8) return type.isSigned ? 'int8' : 'uint8';
  return undefined;
}

function idType(type: DataType): IdColumn['type'] | undefined {
  if (DataType.isUtf8(type)) return 'utf8';
  if (DataType.isInt(type) && (type.bitWidth === 32 || type.bitWidth === 64)) {
    return `${type.isSigned ? 'int' : 'uint'}${type.bitWidth}` as IdColumn['type'];
  }
  return undefined;
}

/** Finds the vector and id columns and the metric; throws INVALID_SCHEMA when a rule is broken. */
export function schemaRoles(schema: Schema): SchemaRoles {
  let vector: VectorColumn | undefined;
  let id: IdColumn | undefined;
  const seen = new Set<string>();
  schema.fields.forEach((field, index) => {
    if (seen.has(field.name)) throw longbowError('INVALID_SCHEMA', `duplicate column name "${field.name}"`);
    seen.add(field.name);
    if ((VECTOR_COLUMN_NAMES as readonly string[]).includes(field.name) && vector === undefined) {
      vector = vectorColumn(field, index);
    } else if (field.name === ID_COLUMN_NAME) {
      const type = idType(field.type);
      if (type === undefined) {
        throw longbowError('INVALID_SCHEMA', `column "id" must be int64, uint64, int32, uint32 or utf8, got ${field.type}`);
      }
      id = { name: field.name, index, type };
    }
  });
  let metric: Metric;
  try {
    metric = metricFromMetadata(schema.metadata);
  } catch (error) {
    if (error instanceof UnknownMetricError) throw longbowError('INVALID_SCHEMA', error.message);
    throw error;
  }
  return { vector, id, metric };
}

function vectorColumn(field: Field, index: number): VectorColumn {
  const type = field.type;
  const expected = 'FixedSizeList<float32|float16|float64|int8|uint8>[dim]';
  if (!DataType.isFixedSizeList(type)) {
    throw longbowError('INVALID_SCHEMA', `column "${field.name}" must be ${expected}, got ${type}`);
  }
  const elementType = vectorElementType(type.children[0].type);
  if (elementType === undefined) {
    throw longbowError('INVALID_SCHEMA', `column "${field.name}" must be ${expected}, got ${type}`);
  }
  if (type.listSize < 1 || type.listSize > VECTOR_DIMENSIONS_MAX) {
    throw longbowError('INVALID_SCHEMA', `column "${field.name}" must have 1 to ${VECTOR_DIMENSIONS_MAX} dimensions, got ${type.listSize}`);
  }
  return { name: field.name, index, dimensions: type.listSize, elementType };
}

/** A comparable description of a field: name, type (dictionary ids ignored), nullability. */
export function fieldSignature(field: Field): string {
  return `${field.name}: ${typeSignature(field.type)}${field.nullable ? '' : ' not null'}`;
}

function typeSignature(type: DataType): string {
  if (DataType.isDictionary(type)) return `dictionary<${typeSignature(type.dictionary)}, ${type.indices}>`;
  if (type.children?.length) return `${type}<${type.children.map((child) => typeSignature(child.type)).join(', ')}>`;
  return String(type);
}

export type SchemaChange = 'same' | 'extends';

/**
 * How `incoming` relates to the dataset's `current` schema: the same, or `extends` (current
 * plus new nullable columns at the end: the dataset takes the new schema). Anything else,
 * including a schema without the dataset's newest columns, throws SCHEMA_MISMATCH naming the
 * first difference.
 */
export function compareSchemas(current: Schema, incoming: Schema): SchemaChange {
  const common = Math.min(current.fields.length, incoming.fields.length);
  for (let i = 0; i < common; i++) {
    const have = fieldSignature(current.fields[i]);
    const got = fieldSignature(incoming.fields[i]);
    if (have !== got) throw longbowError('SCHEMA_MISMATCH', `column ${i} is "${got}", the dataset has "${have}"`);
  }
  const currentMetric = current.metadata.get(METRIC_METADATA_KEY) ?? 'euclidean';
  const incomingMetric = incoming.metadata.get(METRIC_METADATA_KEY) ?? currentMetric;
  if (currentMetric !== incomingMetric) {
    throw longbowError('SCHEMA_MISMATCH', `${METRIC_METADATA_KEY} is "${incomingMetric}", the dataset uses "${currentMetric}"`);
  }
  if (incoming.fields.length < current.fields.length) {
    const missing = current.fields.slice(incoming.fields.length).map((field) => `"${field.name}"`).join(', ');
    throw longbowError('SCHEMA_MISMATCH', `missing column(s) ${missing} (send the dataset's full schema)`);
  }
  for (let i = common; i < incoming.fields.length; i++) {
    const field = incoming.fields[i];
    if (!field.nullable) {
      throw longbowError('SCHEMA_MISMATCH', `new column "${fieldSignature(field)}" is not nullable (only nullable columns may be added at the end)`);
    }
  }
  return incoming.fields.length === current.fields.length ? 'same' : 'extends';
}
