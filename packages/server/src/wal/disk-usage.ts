/** How much disk the write-ahead log takes: its segment files and their total size. */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSegmentFileName } from './format.ts';

export interface WalDiskUsage {
  segments: number;
  bytes: number;
}

/** Sizes the segments under `directory` (a missing directory is empty; a file deleted meanwhile is skipped). */
export async function walDiskUsage(directory: string): Promise<WalDiskUsage> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { segments: 0, bytes: 0 };
    throw error;
  }
  let segments = 0;
  let bytes = 0;
  for (const name of names) {
    if (parseSegmentFileName(name) === undefined) continue;
    try {
      bytes += (await stat(join(directory, name))).size;
      segments += 1;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return { segments, bytes };
}
