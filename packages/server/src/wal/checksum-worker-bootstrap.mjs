// Entry point of the WAL checksum thread. Worker threads do not inherit the TypeScript loader
// that `node --import tsx` installs in the main thread (Node 20), so register it here, then
// load the worker itself. Without tsx installed, the .ts file is imported as is.
try {
  const { register } = await import('tsx/esm/api');
  register();
} catch {
  // No tsx: rely on the runtime.
}
await import(new URL('./checksum-worker.ts', import.meta.url).href);
