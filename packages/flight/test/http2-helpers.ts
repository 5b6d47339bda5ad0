/** Helpers of the HTTP/2 connection tests (client and server). */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every test ends well within this, or fails instead of hanging the run. */
export const limit = { timeout: 5_000 };

/** Deterministic bytes: `offset + i` mod 251 (a prime, so no chunk or frame size lines up with it). */
export function pattern(length: number, offset = 0): Buffer {
  const period = Buffer.from(Array.from({ length: 251 }, (_, i) => (i + offset) % 251));
  return Buffer.alloc(length).fill(period);
}

export function sha256(...chunks: Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

/** Resolves once `condition()` holds (checked every few ms); gives up with the test's timeout, so no poll outlives it. */
export async function until(condition: () => boolean): Promise<void> {
  const deadline = performance.now() + limit.timeout;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error('gave up waiting');
    await sleep(5);
  }
}
