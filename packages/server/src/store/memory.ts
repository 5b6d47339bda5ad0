/** Memory accounting: bytes held by Arrow data, counting every buffer of every column. */
import type { Data, RecordBatch } from 'apache-arrow';

/** Bytes of all buffers of `data`: validity, offsets, values, type ids, children, dictionary. */
export function dataBytes(data: Data, seenDictionaries?: Set<unknown>): number {
  let bytes = 0;
  for (const buffer of [data.nullBitmap, data.valueOffsets, data.values, data.typeIds] as (ArrayBufferView | undefined)[]) {
    if (buffer) bytes += buffer.byteLength;
  }
  for (const child of data.children) bytes += dataBytes(child, seenDictionaries);
  const dictionary = data.dictionary;
  if (dictionary && !seenDictionaries?.has(dictionary)) {
    seenDictionaries?.add(dictionary);
    for (const chunk of dictionary.data) bytes += dataBytes(chunk, seenDictionaries);
  }
  return bytes;
}

/** Bytes held by a record batch; a dictionary shared by several columns counts once. */
export function batchBytes(batch: RecordBatch): number {
  const seen = new Set<unknown>();
  let bytes = 0;
  for (const child of batch.data.children) bytes += dataBytes(child, seen);
  return bytes;
}
