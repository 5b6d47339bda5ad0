/**
 * CSV as RFC 4180 writes it: fields split by a delimiter, quoted with `"` when they hold the
 * delimiter, a quote or a line break, `""` for a quote inside quotes, lines ended by LF or
 * CRLF. The parser is incremental: feed it text as it is read.
 */

export class CsvParser {
  private field = '';
  private record: string[] = [];
  private inQuotes = false;
  /** The previous chunk ended on a quote inside a quoted field: escaped quote or closing quote? */
  private quotePending = false;
  private fieldStarted = false;
  private lastWasCr = false;

  constructor(private readonly delimiter = ',') {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new TypeError(`unusable CSV delimiter ${JSON.stringify(delimiter)}`);
    }
  }

  /** Records completed by `text`. */
  push(text: string): string[][] {
    const out: string[][] = [];
    let i = 0;
    if (this.quotePending) {
      this.quotePending = false;
      if (text.length > 0 && text[0] === '"') {
        this.field += '"';
        i = 1;
      } else this.inQuotes = false;
    }
    for (; i < text.length; i++) {
      const char = text[i];
      if (this.inQuotes) {
        if (char !== '"') {
          const next = text.indexOf('"', i);
          const end = next === -1 ? text.length : next;
          this.field += text.slice(i, end);
          i = end - 1;
          continue;
        }
        if (i + 1 === text.length) this.quotePending = true;
        else if (text[i + 1] === '"') {
          this.field += '"';
          i++;
        } else this.inQuotes = false;
        continue;
      }
      if (char === '\n') {
        if (!this.lastWasCr) this.endRecord(out);
        this.lastWasCr = false;
        continue;
      }
      this.lastWasCr = false;
      if (char === '\r') {
        this.endRecord(out);
        this.lastWasCr = true;
      } else if (char === this.delimiter) {
        this.record.push(this.field);
        this.field = '';
        this.fieldStarted = true;
      } else if (char === '"' && this.field === '') {
        this.inQuotes = true;
        this.fieldStarted = true;
      } else {
        this.field += char;
        this.fieldStarted = true;
      }
    }
    return out;
  }

  /** The last record, when the text did not end with a line break. */
  end(): string[][] {
    if (this.quotePending) {
      this.quotePending = false;
      this.inQuotes = false;
    }
    if (this.inQuotes) throw new TypeError('CSV ends inside a quoted field');
    const out: string[][] = [];
    if (this.fieldStarted || this.field !== '' || this.record.length > 0) this.endRecord(out);
    return out;
  }

  private endRecord(out: string[][]): void {
    this.record.push(this.field);
    // A blank line is not a record.
    if (!(this.record.length === 1 && this.record[0] === '' && !this.fieldStarted)) out.push(this.record);
    this.record = [];
    this.field = '';
    this.fieldStarted = false;
  }
}

/** Parses a whole CSV text into records. */
export function parseCsv(text: string, delimiter = ','): string[][] {
  const parser = new CsvParser(delimiter);
  return [...parser.push(text), ...parser.end()];
}

/** One CSV field, quoted when it needs to be. */
export function csvField(text: string, delimiter = ','): string {
  if (text.includes('"') || text.includes(delimiter) || text.includes('\n') || text.includes('\r')) {
    return `"${text.replaceAll('"', '""')}"`;
  }
  return text;
}

export function csvLine(fields: readonly string[], delimiter = ','): string {
  return `${fields.map((field) => csvField(field, delimiter)).join(delimiter)}\n`;
}
