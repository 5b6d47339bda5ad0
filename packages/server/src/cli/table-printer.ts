/** Record batches as an aligned text table for the terminal (numbers right-aligned). */
import { DataType, type RecordBatch, type Schema } from 'apache-arrow';
import { displayText } from './cell-format.ts';

function isNumeric(type: DataType): boolean {
  return DataType.isInt(type) || DataType.isFloat(type) || DataType.isDecimal(type);
}

/** Display width (code points; good enough for the ASCII this mostly prints). */
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, size: number, right: boolean): string {
  const gap = ' '.repeat(Math.max(0, size - width(text)));
  return right ? gap + text : text + gap;
}

export function renderTable(schema: Schema, batches: readonly RecordBatch[], cellWidthMax = 40): string {
  const header = schema.fields.map((field) => field.name);
  const rows: string[][] = [];
  for (const batch of batches) {
    const columns = schema.fields.map((field, index) => ({ type: field.type, vector: batch.getChildAt(index) }));
    for (let row = 0; row < batch.numRows; row++) {
      rows.push(columns.map(({ type, vector }) => (vector ? displayText(vector.get(row), type, cellWidthMax) : '')));
    }
  }
  const right = schema.fields.map((field) => isNumeric(field.type));
  const widths = header.map((name, column) => Math.max(width(name), ...rows.map((row) => width(row[column]))));
  const line = (cells: readonly string[]) => cells.map((cell, column) => pad(cell, widths[column], right[column])).join('  ').trimEnd();
  const out = [line(header), widths.map((size) => '-'.repeat(size)).join('  '), ...rows.map(line)];
  return `${out.join('\n')}\n`;
}
