/**
 * An append-only file written with O_DIRECT: the WAL's segments when every commit is fsync'd.
 *
 * Why: a buffered write first fills new page-cache pages, and allocating them is most of what
 * a large WAL append costs (measured on the bench machine: 52 MB appended in ~135 ms buffered,
 * ~30 ms direct, and the fdatasync after it drops from ~20 ms to under 1 ms). The log is read
 * only by recovery, so keeping it out of the page cache loses nothing.
 *
 * How: O_DIRECT needs the memory address, the file offset and the length aligned to the
 * device's block. Records are copied into an aligned staging buffer and written in whole
 * blocks; the last, partial block is padded with zeros and kept in the buffer, so the next
 * write rewrites that block with the same leading bytes plus what follows. The file therefore
 * ends with fewer than BLOCK_BYTES zero bytes after its last record until close() cuts them.
 * Recovery treats such a zero tail of the newest segment as padding (see reader.ts).
 *
 * JavaScript cannot see an ArrayBuffer's address, so the aligned offset inside a staging buffer
 * is found once by probing: writing one block from successive offsets until the kernel accepts
 * it. Where O_DIRECT is refused (tmpfs, some network file systems) `openDirectAppend` returns
 * null and the caller writes through the page cache instead.
 */
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import type { WalFile } from './file-layer.ts';
import { roundUp } from './format.ts';

/** Write granularity: the largest logical block size in common use (4Kn disks). */
export const BLOCK_BYTES = 4096;
/** Bytes copied per direct write; a record larger than this goes out in several writes. */
const STAGING_BYTES = 8 << 20;
/** Step of the alignment probe: V8 backing stores are at least 8-byte aligned. */
const PROBE_STEP = 8;
/** Size of the aligned buffers writes into reserved space are copied through. */
const RESERVED_CHUNK_BYTES = 4 << 20;
/** Bytes glibc keeps before the data of an allocation it maps on its own (64-bit). */
const MALLOC_HEADER_BYTES = 16;
/** The offset into a new buffer that the last alignment probe found (see alignedBuffer). */
let lastAlignedOffset = 0;
/** Memory the kernel refused direct writes from: not tried again. */
const misaligned = new WeakSet<ArrayBufferLike>();

interface Staging {
  /** The aligned view writes are made from (STAGING_BYTES long). */
  bytes: Uint8Array;
}

/** Staging buffers of closed files, reused so their pages are touched only once. */
const pool: Staging[] = [];
const POOL_MAX = 2;
/** Aligned buffers for writes into reserved space (several may be in flight). */
const reservedPool: Uint8Array[] = [];
const RESERVED_POOL_MAX = 8;

/**
 * Creates `path` (error if it exists) for direct appends, or returns null when the file
 * system does not take O_DIRECT writes (the file is then removed again).
 */
export async function openDirectAppend(path: string): Promise<WalFile | null> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_DIRECT } = constants;
  if (O_DIRECT === undefined) return null;
  let handle: FileHandle;
  try {
    handle = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EINVAL') return null;
    throw error;
  }
  try {
    const staging = pool.pop() ?? await probeStaging(handle);
    if (staging) return new DirectAppendFile(path, handle, staging);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  await handle.close();
  await unlink(path);
  return null;
}

/**
 * A staging buffer whose view starts on an address the kernel accepts for direct writes to
 * `handle`'s file, or null when no offset is accepted. Probes by writing one zero block at
 * position 0 (the file is new and empty, and the first real write covers that block).
 */
async function probeStaging(handle: FileHandle): Promise<Staging | null> {
  const bytes = await alignedBuffer(handle, STAGING_BYTES, 0);
  if (!bytes) return null;
  await handle.truncate(0);
  return { bytes };
}

/**
 * `length` bytes of memory the kernel takes direct writes from, found by writing one zero block
 * at `position` (which the caller is about to overwrite) from successive offsets; null when no
 * offset is accepted. The offset that worked last time is tried first, then the one glibc's
 * large allocations usually need (their data starts 16 bytes into a page): a blind scan in
 * steps of 8 takes ~500 writes, each waiting for an event-loop turn, and used to hold up the
 * first rotations of a busy log for ~50 ms.
 */
async function alignedBuffer(handle: FileHandle, length: number, position: number): Promise<Uint8Array | null> {
  const buffer = new ArrayBuffer(length + BLOCK_BYTES);
  const candidates = new Set([lastAlignedOffset, BLOCK_BYTES - MALLOC_HEADER_BYTES]);
  for (let offset = 0; offset < BLOCK_BYTES; offset += PROBE_STEP) candidates.add(offset);
  for (const offset of candidates) {
    try {
      await handle.write(new Uint8Array(buffer, offset, BLOCK_BYTES), 0, BLOCK_BYTES, position);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EINVAL') continue;
      throw error;
    }
    lastAlignedOffset = offset;
    return new Uint8Array(buffer, offset, length);
  }
  return null;
}

class DirectAppendFile implements WalFile {
  /** Bytes appended so far: the file's content, without padding. */
  private logicalBytes = 0;
  /** File offset of staging.bytes[0]: the start of the block holding the end of the content. */
  private stagedFrom = 0;
  /** The file's length on disk (content plus zero padding up to a block boundary). */
  private physicalBytes = 0;
  private staging: Staging | null;

  constructor(readonly path: string, private readonly handle: FileHandle, staging: Staging) {
    this.staging = staging;
  }

  /**
   * Appends `buffers` at `position`: the end of what was written, or a block boundary past it
   * when the end is on one too (space skipped for a put region, filled by writeReserved).
   * Returns their length.
   */
  async write(buffers: readonly Uint8Array[], position: number): Promise<number> {
    if (position > this.logicalBytes && position % BLOCK_BYTES === 0 && this.logicalBytes % BLOCK_BYTES === 0) {
      this.logicalBytes = position;
      this.stagedFrom = position;
    }
    if (position !== this.logicalBytes) {
      throw new Error(`${this.path} is append-only: write at ${position}, content ends at ${this.logicalBytes}`);
    }
    const stage = this.stagingBytes();
    let filled = this.logicalBytes - this.stagedFrom; // the partial block kept from the last write
    let total = 0;
    for (const buffer of buffers) {
      let taken = 0;
      while (taken < buffer.length) {
        const count = Math.min(buffer.length - taken, stage.length - filled);
        stage.set(buffer.subarray(taken, taken + count), filled);
        filled += count;
        taken += count;
        if (filled === stage.length) {
          await this.writeBlocks(stage, stage.length);
          this.stagedFrom += stage.length;
          filled = 0;
        }
      }
      total += buffer.length;
    }
    this.logicalBytes += total;
    if (filled > 0) {
      const padded = roundUp(filled, BLOCK_BYTES);
      stage.fill(0, filled, padded);
      await this.writeBlocks(stage, padded);
      const keptFrom = filled - (filled % BLOCK_BYTES);
      if (keptFrom > 0) stage.copyWithin(0, keptFrom, filled);
      this.stagedFrom += keptFrom;
    }
    return total;
  }

  /**
   * Writes `buffers` into reserved space at block boundary `position`. Whole blocks that start
   * on a block boundary of the file are written straight from the caller's memory when the
   * kernel accepts its address (a buffer placed on a page boundary, see grpc-framing.ts); the
   * rest is copied through aligned buffers, the last block padded with zeros (reserved space
   * runs to a block boundary).
   */
  async writeReserved(buffers: readonly Uint8Array[], position: number): Promise<number> {
    if (position % BLOCK_BYTES !== 0) throw new Error(`${this.path}: reserved write at ${position}, not on a block boundary`);
    let cursor = position;
    let copied: Uint8Array[] = [];
    let copiedBytes = 0;
    const flushCopied = async () => {
      if (copiedBytes === 0) return;
      await this.writeCopied(copied, cursor - copiedBytes);
      copied = [];
      copiedBytes = 0;
    };
    for (const buffer of buffers) {
      let rest = buffer;
      // A direct candidate: starts on a block boundary of the file, at least one whole block.
      if (cursor % BLOCK_BYTES === 0 && rest.length >= BLOCK_BYTES && !misaligned.has(rest.buffer)) {
        await flushCopied();
        const whole = rest.length - (rest.length % BLOCK_BYTES);
        if (await this.writeFromCaller(rest.subarray(0, whole), cursor)) {
          cursor += whole;
          rest = rest.subarray(whole);
        }
      }
      if (rest.length > 0) {
        copied.push(rest);
        copiedBytes += rest.length;
        cursor += rest.length;
      }
    }
    await flushCopied();
    return cursor - position;
  }

  /**
   * Writes `bytes` (whole blocks) at `position` from their own memory; false if the kernel
   * refuses its address (whatever got written is then written again through a copy).
   */
  private async writeFromCaller(bytes: Uint8Array, position: number): Promise<boolean> {
    try {
      await this.writeBlocksAt(bytes, bytes.length, position);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
      misaligned.add(bytes.buffer);
      return false;
    }
  }

  /** Writes `pieces` at block boundary `position` through aligned buffers, padding the last block. */
  private async writeCopied(pieces: readonly Uint8Array[], position: number): Promise<void> {
    let offset = position;
    let queue = [...pieces];
    while (queue.length > 0) {
      const chunk = reservedPool.pop() ?? await alignedBuffer(this.handle, RESERVED_CHUNK_BYTES, offset);
      if (!chunk) throw new Error(`${this.path}: no memory alignment accepted for direct writes`);
      try {
        let filled = 0;
        while (queue.length > 0 && filled < chunk.length) {
          const piece = queue[0];
          const count = Math.min(piece.length, chunk.length - filled);
          chunk.set(piece.subarray(0, count), filled);
          filled += count;
          if (count === piece.length) queue.shift();
          else queue[0] = piece.subarray(count);
        }
        const padded = roundUp(filled, BLOCK_BYTES);
        chunk.fill(0, filled, padded);
        await this.writeBlocksAt(chunk, padded, offset);
        offset += filled;
      } finally {
        if (reservedPool.length < RESERVED_POOL_MAX) reservedPool.push(chunk);
      }
    }
  }

  read(): Promise<number> {
    return Promise.reject(new Error(`${this.path} is open for direct appends only`));
  }

  sync(): Promise<void> { return this.handle.datasync(); }

  /**
   * Cuts or extends the content to `lengthBytes`; only at a block boundary (what is kept is not
   * staged) or at the end.
   */
  async truncate(lengthBytes: number): Promise<void> {
    if (lengthBytes % BLOCK_BYTES !== 0 && lengthBytes !== this.logicalBytes) {
      throw new Error(`${this.path}: direct append files are cut at block boundaries or at their end only`);
    }
    await this.handle.truncate(lengthBytes);
    if (lengthBytes !== this.logicalBytes) {
      this.logicalBytes = lengthBytes;
      this.stagedFrom = lengthBytes;
    }
    this.physicalBytes = lengthBytes;
  }

  async sizeBytes(): Promise<number> { return this.logicalBytes; }

  /** Cuts the zero padding (durably) and closes; the staging buffer goes back to the pool. */
  async close(): Promise<void> {
    try {
      if (this.physicalBytes !== this.logicalBytes) {
        await this.handle.truncate(this.logicalBytes);
        await this.handle.datasync();
        this.physicalBytes = this.logicalBytes;
      }
    } finally {
      await this.handle.close();
      if (this.staging && pool.length < POOL_MAX) pool.push(this.staging);
      this.staging = null;
    }
  }

  private stagingBytes(): Uint8Array {
    if (!this.staging) throw new Error(`${this.path} is closed`);
    return this.staging.bytes;
  }

  /** Writes stage[0, length) at stagedFrom; length is a multiple of BLOCK_BYTES. */
  private writeBlocks(stage: Uint8Array, length: number): Promise<void> {
    return this.writeBlocksAt(stage, length, this.stagedFrom);
  }

  /** Writes bytes[0, length) at `position` (both multiples of BLOCK_BYTES), continuing after short writes. */
  private async writeBlocksAt(bytes: Uint8Array, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await this.handle.write(bytes, done, length - done, position + done);
      if (bytesWritten <= 0 || bytesWritten % BLOCK_BYTES !== 0) {
        throw new Error(`direct write to ${this.path} wrote ${bytesWritten} of ${length - done} bytes at ${position + done}`);
      }
      done += bytesWritten;
    }
    this.physicalBytes = Math.max(this.physicalBytes, position + length);
  }
}
