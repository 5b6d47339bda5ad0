/**
 * A file layer for tests that injects faults into a real one: torn writes, short writes,
 * failing fsyncs, bit flips on read, and crashes that lose unsynced bytes. Every random choice
 * comes from one seeded generator, so a failing run replays from its seed (given the same
 * sequence of operations, which the WAL writer keeps deterministic by writing one batch at a
 * time). `events` records each injected fault for the test's failure message.
 */
import { dropPrefix, type FileLayer, type OpenMode, type WalFile } from './file-layer.ts';

export interface FaultOptions {
  seed: number;
  /** Per write: write a random prefix, then crash (the write and everything after throws). */
  tornWriteProbability?: number;
  /** Per write: write a random non-empty prefix and report that length (legal short write). */
  shortWriteProbability?: number;
  /** Per sync: throw EIO without syncing. */
  fsyncFailureProbability?: number;
  /** Per read: flip one random bit of the bytes read. */
  readBitFlipProbability?: number;
}

/** Thrown by every operation once the simulated process has crashed. */
export class SimulatedCrashError extends Error {
  override readonly name = 'SimulatedCrashError';
}

/** Mulberry32: small, fast, good enough to choose faults; same seed, same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

type FaultKind = 'tornWrite' | 'shortWrite' | 'fsyncFailure' | 'readBitFlip' | 'writeFailure';

interface FileLengths {
  writtenBytes: number;
  syncedBytes: number;
}

export class FaultyFileLayer implements FileLayer {
  readonly events: string[] = [];
  crashed = false;
  /** Faults armed for the next matching operation, whatever the probabilities say. */
  private readonly armed = new Set<FaultKind>();
  private readonly random: () => number;
  private readonly lengths = new Map<string, FileLengths>();
  /** Inner writes, syncs and truncations not finished yet: a crash lets them land first. */
  private readonly inFlight = new Set<Promise<unknown>>();

  /** `options` may be changed between operations (e.g. faults only after setup). */
  constructor(readonly inner: FileLayer, public options: FaultOptions) {
    this.random = seededRandom(options.seed);
  }

  tearNextWrite(): void { this.armed.add('tornWrite'); }
  shortenNextWrite(): void { this.armed.add('shortWrite'); }
  failNextWrite(): void { this.armed.add('writeFailure'); }
  failNextFsync(): void { this.armed.add('fsyncFailure'); }
  flipBitOnNextRead(): void { this.armed.add('readBitFlip'); }

  /** A random integer in [0, bound). */
  randomBelow(bound: number): number { return Math.floor(this.random() * bound); }

  /**
   * Simulates the process (and, with `loseUnsyncedBytes`, the machine) going down: every later
   * operation throws. Unsynced bytes at the end of each written file are cut at a random point,
   * as after a power loss that persisted only a prefix of the page cache.
   */
  async crash(options: { loseUnsyncedBytes?: boolean } = {}): Promise<void> {
    this.crashed = true;
    this.events.push('crash');
    await Promise.allSettled([...this.inFlight]);
    if (!options.loseUnsyncedBytes) return;
    for (const [path, lengths] of this.lengths) {
      if (lengths.writtenBytes <= lengths.syncedBytes) continue;
      const keptBytes = lengths.syncedBytes + this.randomBelow(lengths.writtenBytes - lengths.syncedBytes + 1);
      this.events.push(`lose unsynced bytes: ${path} cut to ${keptBytes} of ${lengths.writtenBytes}`);
      await this.inner.truncate(path, keptBytes);
    }
  }

  async open(path: string, mode: OpenMode): Promise<WalFile> {
    this.checkAlive();
    const file = await this.inner.open(path, mode);
    if (mode !== 'read') {
      const sizeBytes = await file.sizeBytes();
      this.lengths.set(path, { writtenBytes: sizeBytes, syncedBytes: sizeBytes });
    }
    return new FaultyWalFile(this, file, this.lengths.get(path));
  }

  list(directory: string): Promise<string[]> { this.checkAlive(); return this.inner.list(directory); }
  makeDirectory(directory: string): Promise<void> { this.checkAlive(); return this.inner.makeDirectory(directory); }
  rename(fromPath: string, toPath: string): Promise<void> { this.checkAlive(); return this.inner.rename(fromPath, toPath); }
  syncDirectory(directory: string): Promise<void> { this.checkAlive(); return this.inner.syncDirectory(directory); }

  unlink(path: string): Promise<void> {
    this.checkAlive();
    this.lengths.delete(path);
    return this.inner.unlink(path);
  }

  async truncate(path: string, lengthBytes: number): Promise<void> {
    this.checkAlive();
    await this.inner.truncate(path, lengthBytes);
    this.lengths.set(path, { writtenBytes: lengthBytes, syncedBytes: lengthBytes });
  }

  /** Registers an inner operation so that crash() waits for it. */
  track<T>(operation: Promise<T>): Promise<T> {
    this.inFlight.add(operation);
    operation.then(() => this.inFlight.delete(operation), () => this.inFlight.delete(operation));
    return operation;
  }

  checkAlive(): void {
    if (this.crashed) throw new SimulatedCrashError('simulated crash: the process is gone');
  }

  /** Whether to inject the fault `kind`: armed once, or by its probability. */
  take(kind: FaultKind, probability: number | undefined): boolean {
    if (this.armed.delete(kind)) return true;
    return probability !== undefined && probability > 0 && this.random() < probability;
  }
}

type InnerWrite = (buffers: readonly Uint8Array[], position: number) => Promise<number>;

class FaultyWalFile implements WalFile {
  constructor(
    private readonly layer: FaultyFileLayer,
    private readonly inner: WalFile,
    private readonly lengths: FileLengths | undefined,
  ) {}

  get path(): string { return this.inner.path; }

  write(buffers: readonly Uint8Array[], position: number): Promise<number> {
    return this.faultyWrite(buffers, position, (rest, at) => this.inner.write(rest, at));
  }

  writeReserved(buffers: readonly Uint8Array[], position: number): Promise<number> {
    if (!this.inner.writeReserved) return Promise.reject(new Error(`${this.path} takes no reserved writes`));
    return this.faultyWrite(buffers, position, (rest, at) => this.inner.writeReserved!(rest, at));
  }

  /** A write through `inner`, unless a fault is due. */
  private async faultyWrite(buffers: readonly Uint8Array[], position: number, inner: InnerWrite): Promise<number> {
    this.layer.checkAlive();
    const { options } = this.layer;
    const totalBytes = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    if (this.layer.take('writeFailure', undefined)) {
      this.layer.events.push(`write failure: ${this.path} at ${position}`);
      throw ioError('EIO', 'write');
    }
    if (this.layer.take('tornWrite', options.tornWriteProbability)) {
      const prefixBytes = this.layer.randomBelow(totalBytes);
      this.layer.events.push(`torn write: ${this.path} at ${position}, ${prefixBytes} of ${totalBytes} bytes`);
      await this.writePrefix(buffers, position, prefixBytes, inner);
      this.layer.crashed = true;
      throw new SimulatedCrashError(`simulated crash during a write to ${this.path}`);
    }
    if (totalBytes > 1 && this.layer.take('shortWrite', options.shortWriteProbability)) {
      const prefixBytes = 1 + this.layer.randomBelow(totalBytes - 1);
      this.layer.events.push(`short write: ${this.path} at ${position}, ${prefixBytes} of ${totalBytes} bytes`);
      return this.writePrefix(buffers, position, prefixBytes, inner);
    }
    return this.record(position, await this.layer.track(inner(buffers, position)));
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    this.layer.checkAlive();
    const read = await this.inner.read(buffer, offset, length, position);
    if (read > 0 && this.layer.take('readBitFlip', this.layer.options.readBitFlipProbability)) {
      const bit = this.layer.randomBelow(read * 8);
      buffer[offset + (bit >>> 3)] ^= 1 << (bit & 7);
      this.layer.events.push(`bit flip on read: ${this.path} byte ${position + (bit >>> 3)} bit ${bit & 7}`);
    }
    return read;
  }

  async sync(): Promise<void> {
    this.layer.checkAlive();
    if (this.layer.take('fsyncFailure', this.layer.options.fsyncFailureProbability)) {
      this.layer.events.push(`fsync failure: ${this.path}`);
      throw ioError('EIO', 'fsync');
    }
    const writtenBytes = this.lengths?.writtenBytes ?? 0;
    await this.layer.track(this.inner.sync());
    if (this.lengths) this.lengths.syncedBytes = Math.max(this.lengths.syncedBytes, writtenBytes);
  }

  async truncate(lengthBytes: number): Promise<void> {
    this.layer.checkAlive();
    await this.layer.track(this.inner.truncate(lengthBytes));
    if (this.lengths) this.lengths.writtenBytes = lengthBytes;
  }

  sizeBytes(): Promise<number> { this.layer.checkAlive(); return this.inner.sizeBytes(); }
  close(): Promise<void> { return this.inner.close(); }

  private async writePrefix(buffers: readonly Uint8Array[], position: number, prefixBytes: number, inner: InnerWrite): Promise<number> {
    let rest = takePrefix(buffers, prefixBytes);
    let written = 0;
    while (rest.length > 0) {
      const bytes = await this.layer.track(inner(rest, position + written));
      if (bytes <= 0) throw new Error(`write to ${this.path} made no progress`);
      written += bytes;
      rest = dropPrefix(rest, bytes);
    }
    return this.record(position, written);
  }

  private record(position: number, written: number): number {
    if (this.lengths) this.lengths.writtenBytes = Math.max(this.lengths.writtenBytes, position + written);
    return written;
  }
}

/** The first `bytes` bytes of `buffers`, as views. */
function takePrefix(buffers: readonly Uint8Array[], bytes: number): Uint8Array[] {
  const prefix: Uint8Array[] = [];
  let left = bytes;
  for (const buffer of buffers) {
    if (left === 0) break;
    const part = buffer.subarray(0, Math.min(left, buffer.length));
    prefix.push(part);
    left -= part.length;
  }
  return prefix;
}

function ioError(code: string, operation: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: i/o error, ${operation} (injected)`);
  error.code = code;
  return error;
}
