/** Segment files in the WAL directory: listing them in order and creating a new one. */
import { join } from 'node:path';
import { writeFully, type FileLayer, type OpenMode, type WalFile } from './file-layer.ts';
import { encodeSegmentHeader, parseSegmentFileName, segmentFileName } from './format.ts';

export interface SegmentEntry {
  /** File name, e.g. `00000000000000000001.wal`. */
  name: string;
  path: string;
  /** The sequence the file name states: the first record's, or the next one's if empty. */
  firstSeq: number;
}

/** The segments of `directory` by ascending first sequence; other files are ignored. */
export async function listSegments(files: FileLayer, directory: string): Promise<SegmentEntry[]> {
  let names: string[];
  try {
    names = await files.list(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const segments: SegmentEntry[] = [];
  for (const name of names) {
    const firstSeq = parseSegmentFileName(name);
    if (firstSeq !== undefined) segments.push({ name, path: join(directory, name), firstSeq });
  }
  return segments.sort((left, right) => left.firstSeq - right.firstSeq);
}

/**
 * Creates the segment starting at `firstSeq` (fails if the file exists), writes and fsyncs its
 * header. The file layer has made the directory entry durable by the time this resolves.
 * `append` lets the layer write it with direct I/O (see direct-file.ts).
 */
export async function createSegmentFile(
  files: FileLayer, directory: string, firstSeq: number, mode: Extract<OpenMode, 'create' | 'append'> = 'create',
): Promise<WalFile> {
  const file = await files.open(join(directory, segmentFileName(firstSeq)), mode);
  try {
    await writeFully(file, [encodeSegmentHeader(firstSeq)], 0);
    await file.sync();
    return file;
  } catch (error) {
    await file.close().catch(() => undefined);
    throw error;
  }
}
