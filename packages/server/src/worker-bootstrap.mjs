// Entry point of Longbow's worker threads (the HNSW index, the WAL checksum thread). Worker
// threads do not inherit the TypeScript loader that `node --import tsx` installs in the main
// thread (Node 20), so register it here, then load the worker module named by
// `workerData.entry` (a file URL). Without tsx installed, the .ts file is imported as is (for
// runtimes that strip types themselves).
import { workerData } from 'node:worker_threads';

try {
  const { register } = await import('tsx/esm/api');
  register();
} catch {
  // No tsx: rely on the runtime.
}
await import(workerData.entry);
