/** What the CLI does when parquet-wasm panics. */

/**
 * While Parquet is read or written: parquet-wasm does not reject its promises when its Rust code
 * panics (a corrupt page, WebAssembly's 4 GiB memory exhausted); the panic surfaces as an
 * uncaught exception and the promise never settles. The CLI then says what failed and exits 1
 * instead of printing a WebAssembly stack. Returns the function that removes the handler.
 */
export function onParquetPanic(what: string): () => void {
  const handler = (error: unknown) => {
    const detail = error instanceof Error ? error.message : String(error);
    process.stderr.write(`longbow: ${what}: the Parquet library failed (${detail}); `
      + 'a corrupt file, or more data at once than WebAssembly\'s 4 GiB memory holds (try smaller row groups)\n');
    process.exit(1);
  };
  process.on('uncaughtException', handler);
  return () => { process.off('uncaughtException', handler); };
}
