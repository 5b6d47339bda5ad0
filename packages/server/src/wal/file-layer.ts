/**
 * The file operations the WAL needs, behind a small interface so tests can inject faults
 * (faulty-file-layer.ts) and the WAL code never touches `node:fs` itself.
 *
 * Contract: create, rename, unlink and truncate-by-path are durable when their promise
 * resolves (the implementation fsyncs the file and/or the directory). Writes are durable only
 * after `sync()` on the handle.
 */
import { open, mkdir, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { openDirectAppend } from './direct-file.ts';

/** An open file. Positions and lengths are in bytes. */
export interface WalFile {
  readonly path: string;
  /**
   * Writes `buffers` back to back starting at `position`. Returns the bytes written, which may
   * be fewer than asked (a short write): the caller writes the rest.
   */
  write(buffers: readonly Uint8Array[], position: number): Promise<number>;
  /**
   * Writes `buffers` at `position` inside space that later writes already went past (a put
   * region reserved by the writer): `position` is a multiple of 4096, and the space after the
   * bytes up to the next multiple of 4096 is reserved too (a direct-I/O file pads into it). The
   * buffers are not read after the promise settles. Optional: without it, puts are not
   * written while they arrive.
   */
  writeReserved?(buffers: readonly Uint8Array[], position: number): Promise<number>;
  /** Reads up to `length` bytes at `position` into `buffer` at `offset`; 0 means end of file. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Makes every write so far durable (fdatasync: data and the size, not timestamps). */
  sync(): Promise<void>;
  /** Cuts or extends the file to `lengthBytes` (not durable until sync). */
  truncate(lengthBytes: number): Promise<void>;
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `read`: existing file, read only. `readWrite`: existing file. `create`: new file, error if it
 * exists. `append`: new file as `create`, written only at its end and never read through the
 * handle; the layer may bypass the page cache (direct I/O), in which case the file can end in
 * zero padding until it is closed.
 */
export type OpenMode = 'read' | 'readWrite' | 'create' | 'append';

export interface FileLayer {
  open(path: string, mode: OpenMode): Promise<WalFile>;
  /** Names (not paths) of the entries of `directory`, in no particular order. */
  list(directory: string): Promise<string[]>;
  /** Creates `directory` and its parents if missing. */
  makeDirectory(directory: string): Promise<void>;
  rename(fromPath: string, toPath: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Cuts the file at `path` to `lengthBytes`, durably. */
  truncate(path: string, lengthBytes: number): Promise<void>;
  /** Makes the directory's entries (creations, renames, deletions) durable. */
  syncDirectory(directory: string): Promise<void>;
}

const OPEN_FLAGS: Record<OpenMode, string> = { read: 'r', readWrite: 'r+', create: 'wx', append: 'wx' };

class NodeWalFile implements WalFile {
  readonly path: string;
  private readonly handle: FileHandle;

  constructor(path: string, handle: FileHandle) {
    this.path = path;
    this.handle = handle;
  }

  async write(buffers: readonly Uint8Array[], position: number): Promise<number> {
    if (buffers.length === 1) return (await this.handle.write(buffers[0], 0, buffers[0].length, position)).bytesWritten;
    return (await this.handle.writev(buffers as Uint8Array[], position)).bytesWritten;
  }

  writeReserved(buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.write(buffers, position);
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return (await this.handle.read(buffer, offset, length, position)).bytesRead;
  }

  sync(): Promise<void> { return this.handle.datasync(); }
  truncate(lengthBytes: number): Promise<void> { return this.handle.truncate(lengthBytes); }
  async sizeBytes(): Promise<number> { return (await this.handle.stat()).size; }
  close(): Promise<void> { return this.handle.close(); }
}

export interface NodeFileLayerOptions {
  /** Open `append` files with O_DIRECT where the file system allows it (default true). */
  directIo?: boolean;
}

/** The real file layer on `node:fs/promises`. */
export class NodeFileLayer implements FileLayer {
  private readonly directIo: boolean;

  constructor(options: NodeFileLayerOptions = {}) {
    this.directIo = options.directIo ?? true;
  }

  async open(path: string, mode: OpenMode): Promise<WalFile> {
    const direct = mode === 'append' && this.directIo ? await openDirectAppend(path) : null;
    const file = direct ?? new NodeWalFile(path, await open(path, OPEN_FLAGS[mode]));
    if (mode === 'create' || mode === 'append') await this.syncDirectory(dirname(path));
    return file;
  }

  list(directory: string): Promise<string[]> { return readdir(directory); }

  async makeDirectory(directory: string): Promise<void> {
    await mkdir(directory, { recursive: true });
    await this.syncDirectory(dirname(directory));
  }

  async rename(fromPath: string, toPath: string): Promise<void> {
    await rename(fromPath, toPath);
    await this.syncDirectory(dirname(toPath));
    if (dirname(fromPath) !== dirname(toPath)) await this.syncDirectory(dirname(fromPath));
  }

  async unlink(path: string): Promise<void> {
    await unlink(path);
    await this.syncDirectory(dirname(path));
  }

  async truncate(path: string, lengthBytes: number): Promise<void> {
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(lengthBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async syncDirectory(directory: string): Promise<void> {
    const handle = await open(directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

/** Writes all of `buffers` at `position`, continuing after short writes (`reserved`: with writeReserved). */
export async function writeFully(file: WalFile, buffers: readonly Uint8Array[], position: number, reserved = false): Promise<number> {
  let remaining = buffers.filter((buffer) => buffer.length > 0);
  let total = 0;
  while (remaining.length > 0) {
    const written = reserved ? await file.writeReserved!(remaining, position + total) : await file.write(remaining, position + total);
    if (written <= 0) throw new Error(`write to ${file.path} made no progress at byte ${position + total}`);
    total += written;
    remaining = dropPrefix(remaining, written);
  }
  return total;
}

/** Reads the whole file into one buffer, continuing after short reads. */
export async function readWhole(files: FileLayer, path: string): Promise<Uint8Array> {
  const file = await files.open(path, 'read');
  try {
    const bytes = new Uint8Array(await file.sizeBytes());
    let filled = 0;
    while (filled < bytes.length) {
      const read = await file.read(bytes, filled, bytes.length - filled, filled);
      if (read === 0) return bytes.subarray(0, filled); // shrank while reading
      filled += read;
    }
    return bytes;
  } finally {
    await file.close();
  }
}

/** `buffers` without their first `bytes` bytes (views, no copies). */
export function dropPrefix(buffers: readonly Uint8Array[], bytes: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let skip = bytes;
  for (const buffer of buffers) {
    if (skip >= buffer.length) {
      skip -= buffer.length;
      continue;
    }
    rest.push(skip > 0 ? buffer.subarray(skip) : buffer);
    skip = 0;
  }
  return rest;
}
