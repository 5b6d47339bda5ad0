/** What the CLI does when parquet-wasm traps. */

/**
 * While Parquet is read or written. parquet-wasm does not reject its promises when its Rust code
 * panics (a corrupt page, WebAssembly's 4 GiB memory exhausted): the panic is a WebAssembly trap
 * (`RuntimeError: unreachable`) thrown outside any caller, and the promise never settles. The CLI
 * then says what failed and exits 1 instead of printing a WebAssembly stack. Any other uncaught
 * error is reported as Node would (its stack, exit 1). Returns the function that removes the
 * handler.
 */
export function onParquetPanic(what: string): () => void {
  const handler = (error: unknown) => {
    if (error instanceof WebAssembly.RuntimeError) {
      process.stderr.write(`longbow: ${what}: the Parquet library aborted (WebAssembly trap: ${error.message}); `
        + 'a corrupt file, or more data at once than WebAssembly\'s 4 GiB memory holds (write smaller row groups)\n');
    } else {
      process.stderr.write(`${error instanceof Error ? error.stack ?? String(error) : String(error)}\n`);
    }
    process.exit(1);
  };
  process.on('uncaughtException', handler);
  return () => { process.off('uncaughtException', handler); };
}
