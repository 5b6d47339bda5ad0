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
 * version and the addon is checked when it loads: a usearch whose addon lacks a method used here
 * fails at startup with a message saying so, never later with a wrong result. The addon is
 * found the way the wrapper finds it (node-gyp-build, resolved from usearch's own directory, so
 * the prebuilt binary for this platform or a local build).
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** Metric names the addon accepts. */
export type NativeMetric = 'l2sq' | 'ip' | 'cos';
/** Scalar kinds the addon accepts for the graph's copy of the vectors. */
export type NativeScalar = 'f32' | 'bf16' | 'f16';

/** Keys, distances and counts of a search: query q's results start at q x wanted. */
export type NativeSearchResult = [keys: BigUint64Array, distances: Float32Array, counts: BigUint64Array];

/** The addon's index object (usearch `javascript/lib.cpp`, `CompiledIndex`). */
export interface NativeIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads: number): void;
  /** `threads` 0 means one per core; 1 runs on the calling thread. */
  search(queries: Float32Array, wanted: number, threads: number): NativeSearchResult;
  remove(keys: BigUint64Array): number[];
  dimensions(): number;
  size(): number;
  capacity(): number;
  save(path: string): void;
  load(path: string): void;
}

type NativeIndexClass = new (
  dimensions: number,
  metric: NativeMetric,
  scalar: NativeScalar,
  connectivity: number,
  expansionAdd: number,
  expansionSearch: number,
  multi: boolean,
) => NativeIndex;

const METHODS = ['add', 'search', 'remove', 'dimensions', 'size', 'capacity', 'save', 'load'] as const;

function loadAddon(): NativeIndexClass {
  const require = createRequire(import.meta.url);
  const wrapper = require.resolve('usearch'); // <package>/javascript/dist/cjs/usearch.js
  const root = dirname(dirname(dirname(dirname(wrapper))));
  const fromPackage = createRequire(wrapper);
  const build = fromPackage('node-gyp-build') as (dir: string) => { CompiledIndex?: unknown };
  const { version } = fromPackage(`${root}/package.json`) as { version: string };
  const addon = build(root);
  const cls = addon.CompiledIndex as { prototype?: Record<string, unknown> } | undefined;
  const missing = METHODS.filter((name) => typeof cls?.prototype?.[name] !== 'function');
  if (typeof cls !== 'function' || missing.length > 0) {
    throw new Error(
      `usearch ${version} at ${root}: its native addon lacks ${missing.length ? missing.join(', ') : 'CompiledIndex'}; ` +
        'Longbow calls the addon directly and needs the usearch version in packages/server/package.json',
    );
  }
  return cls as unknown as NativeIndexClass;
}

/** Loaded when this module is: the server imports it at startup, so a bad install stops it there. */
const NativeIndexCtor = loadAddon();

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
  for (const [name, value] of Object.entries({ dimensions, connectivity, expansionAdd, expansionSearch })) {
    // The addon converts without checks: a fraction or a negative would become a wrong size.
    if (!Number.isSafeInteger(value) || value < (name === 'dimensions' ? 1 : 0)) {
      throw new RangeError(`usearch ${name} must be a non-negative integer, got ${value}`);
    }
  }
  return new NativeIndexCtor(dimensions, metric, scalar, connectivity, expansionAdd, expansionSearch, false);
}
