import type { EventEmitter } from 'node:events';

/**
 * Resolves on the emitter's 'drain' or 'close', or when `signal` aborts; removes every
 * listener it added, so a long stream of writes does not pile listeners up.
 */
export function drained(emitter: EventEmitter, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      emitter.off('drain', done);
      emitter.off('close', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    emitter.on('drain', done);
    emitter.on('close', done);
    signal.addEventListener('abort', done);
  });
}
