/**
 * usearch's native addon, called without its JavaScript wrapper.
 *
 * The package's `Index` class is a thin layer over the addon's `CompiledIndex`: it checks its
 * arguments, and for a single query copies both result arrays into new ones (`BatchMatches.get`)
 * and allocates three more objects. On a 100k x 128 graph that is 5-10 us a call against a
 * search of 30-80 us (docs/performance.md), a cost every single-query search paid. HnswIndex
 * always passes well-formed arguments (BigUint64Array keys, Float32Array vectors, integer counts),
 * so it talks to the addon directly and reads the results where the addon wrote them.
 *
 * The addon is not part of usearch's documented API, so the dependency is pinned to an exact
 * version and checked when this module loads (server.ts imports it at startup): another usearch
 * version, or an addon that lacks a method used here, stops the server with a message saying so,
 * never later with a wrong result. The addon checks none of its arguments, so
 * createNativeIndex checks the constructor's and HnswIndex passes well-formed calls. The addon is
 * found the way the wrapper finds it (node-gyp-build, resolved from usearch's own directory, so
 * the prebuilt binary for this platform or a local build).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** Metric names the addon accepts. */
export type NativeMetric = 'l2sq' | 'ip' | 'cos';
/** Scalar kinds the addon accepts for the graph's copy of the vectors. */
export type NativeScalar = 'f32' | 'bf16' | 'f16' | 'i8';

/** Keys, distances and counts of a search: query q's results start at q x wanted. */
export type NativeSearchResult = [keys: BigUint64Array, distances: Float32Array, counts: BigUint64Array];

/** The addon's index object (usearch `javascript/lib.cpp`, `CompiledIndex`). */
export interface NativeIndex {
  /**
   * The addon checks none of these: `keys.length` x dimensions must equal `vectors.length`, and
   * `threads` (here and in search) must be a non-negative integer. HnswIndex guarantees both.
   */
  add(keys: BigUint64Array, vectors: Float32Array | Int8Array, threads: number): void;
  /**
   * `threads` 0 means one per core; 1 runs on the calling thread. `queries.length` must be a
   * multiple of dimensions. Float32Array vectors and queries are converted to the graph's scalar
   * kind; an Int8Array is taken as int8 (for an i8 graph: stored as it is).
   */
  search(queries: Float32Array | Int8Array, wanted: number, threads: number): NativeSearchResult;
  remove(keys: BigUint64Array): number[];
  dimensions(): number;
  size(): number;
  capacity(): number;
  save(path: string): void;
  load(path: string): void;
}

export type NativeIndexClass = new (
  dimensions: number,
  metric: NativeMetric,
  scalar: NativeScalar,
  connectivity: number,
  expansionAdd: number,
  expansionSearch: number,
  multi: boolean,
) => NativeIndex;

const METHODS = ['add', 'search', 'remove', 'dimensions', 'size', 'capacity', 'save', 'load'] as const;
const METRICS: readonly string[] = ['l2sq', 'ip', 'cos'] satisfies NativeMetric[];
const SCALARS: readonly string[] = ['f32', 'bf16', 'f16', 'i8'] satisfies NativeScalar[];

/** The usearch version whose addon this module was written against (pinned in packages/server/package.json). */
export const USEARCH_VERSION = '2.25.3';

/**
 * Loads the addon of the usearch package that `from` (a file path or URL) resolves, after
 * checking its version. Exported for tests.
 */
export function loadUsearchAddon(from: string = import.meta.url): NativeIndexClass {
  const wrapper = createRequire(from).resolve('usearch'); // <package>/javascript/dist/cjs/usearch.js
  const root = dirname(dirname(dirname(dirname(wrapper))));
  const fromPackage = createRequire(wrapper);
  const { version } = fromPackage(`${root}/package.json`) as { version: string };
  const refuse = (what: string) => new Error(
    `usearch ${version} at ${root}: ${what}; Longbow calls usearch's native addon directly and needs usearch ${USEARCH_VERSION}`,
  );
  // The methods' names say nothing of their arguments or results, which are what matter here.
  if (version !== USEARCH_VERSION) throw refuse('another version');
  const build = fromPackage('node-gyp-build') as (dir: string) => { CompiledIndex?: unknown };
  const addon = build(root);
  const cls: unknown = addon.CompiledIndex;
  if (typeof cls !== 'function') throw refuse('its native addon has no CompiledIndex');
  const prototype = (cls as { prototype?: Record<string, unknown> }).prototype;
  const missing = METHODS.filter((name) => typeof prototype?.[name] !== 'function');
  if (missing.length > 0) throw refuse(`its native addon lacks ${missing.join(', ')}`);
  return cls as unknown as NativeIndexClass;
}

/** Loaded when this module is: the server imports it at startup, so a bad install stops it there. */
const NativeIndexCtor = loadUsearchAddon();

export interface NativeIndexOptions {
  dimensions: number;
  metric: NativeMetric;
  scalar: NativeScalar;
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
}

/** A new, empty native index (single-key: one vector per key). */
export function createNativeIndex(options: NativeIndexOptions): NativeIndex {
  const { dimensions, metric, scalar, connectivity, expansionAdd, expansionSearch } = options;
  // The addon converts without checks: a fraction or a negative would become a wrong size, and
  // an unknown name throws a C++ exception that nothing catches (the process aborts).
  for (const [name, value] of Object.entries({ dimensions, connectivity, expansionAdd, expansionSearch })) {
    const least = name === 'dimensions' ? 1 : 0;
    if (!Number.isSafeInteger(value) || value < least) {
      throw new RangeError(`usearch ${name} must be ${least ? 'a positive' : 'a non-negative'} integer, got ${value}`);
    }
  }
  if (!METRICS.includes(metric)) throw new RangeError(`usearch metric must be one of ${METRICS.join(', ')}, got ${String(metric)}`);
  if (!SCALARS.includes(scalar)) throw new RangeError(`usearch scalar must be one of ${SCALARS.join(', ')}, got ${String(scalar)}`);
  return new NativeIndexCtor(dimensions, metric, scalar, connectivity, expansionAdd, expansionSearch, false);
}
