/**
 * Seeded clustered vectors for index tests and benches: a low-rank Gaussian mixture. Points live
 * near a `rank`-dimensional subspace of the `dimensions`-dimensional space (a random linear map
 * of latent points), grouped around `clusters` centres, plus a little isotropic noise. This is
 * closer to real embeddings than iid random vectors, on which every index looks bad (no
 * structure to exploit) and exact search itself is ill-conditioned (all distances alike).
 *
 * The same seed gives the same vectors on every machine (Mulberry32 + Box-Muller, float64
 * arithmetic rounded to float32 at the end).
 */
import { seededRandom } from '../src/wal/faulty-file-layer.ts';

export interface ClusteredOptions {
  dimensions: number;
  /** Mixture components. */
  clusters?: number;
  /** Dimension of the latent subspace. */
  rank?: number;
  /** Standard deviation of a point around its centre, relative to the spread of the centres. */
  clusterSpread?: number;
  /** Standard deviation of the isotropic noise added in the full space, per coordinate. */
  noise?: number;
  seed: number;
}

/** A reusable generator: the mixture is fixed by the seed; `sample` draws points from it. */
export class ClusteredVectors {
  readonly dimensions: number;
  readonly rank: number;
  private readonly centres: Float64Array; // clusters x rank
  private readonly basis: Float64Array; // dimensions x rank
  private readonly clusterSpread: number;
  private readonly noise: number;
  private readonly clusters: number;
  private readonly random: () => number;
  private readonly gaussian: () => number;

  constructor(options: ClusteredOptions) {
    this.dimensions = options.dimensions;
    this.rank = Math.min(options.rank ?? 24, options.dimensions);
    this.clusters = options.clusters ?? 64;
    this.clusterSpread = options.clusterSpread ?? 0.35;
    this.noise = options.noise ?? 0.02;
    this.random = seededRandom(options.seed);
    this.gaussian = gaussianSource(this.random);
    this.centres = new Float64Array(this.clusters * this.rank).map(() => this.gaussian());
    const scale = 1 / Math.sqrt(this.rank);
    this.basis = new Float64Array(this.dimensions * this.rank).map(() => this.gaussian() * scale);
  }

  /** `rows` new points, row-major in one Float32Array (rows x dimensions). */
  sample(rows: number): Float32Array {
    const { dimensions, rank } = this;
    const out = new Float32Array(rows * dimensions);
    const latent = new Float64Array(rank);
    for (let row = 0; row < rows; row++) {
      const cluster = Math.floor(this.random() * this.clusters);
      for (let j = 0; j < rank; j++) latent[j] = this.centres[cluster * rank + j] + this.clusterSpread * this.gaussian();
      const base = row * dimensions;
      for (let i = 0; i < dimensions; i++) {
        let value = 0;
        const b = i * rank;
        for (let j = 0; j < rank; j++) value += this.basis[b + j] * latent[j];
        out[base + i] = value + this.noise * this.gaussian();
      }
    }
    return out;
  }
}

/** Standard normal variates from a uniform stream (Box-Muller, both outputs used). */
function gaussianSource(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const u = 1 - random();
    const v = random();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
}

/** Data and queries from one mixture: queries are fresh points, not copies of data rows. */
export function clusteredDataset(options: ClusteredOptions & { rows: number; queries: number }): { data: Float32Array; queries: Float32Array } {
  const generator = new ClusteredVectors(options);
  return { data: generator.sample(options.rows), queries: generator.sample(options.queries) };
}

/** Fraction of `expected` found in `actual` (recall@k with k = expected.length). */
export function recallAt(actual: readonly number[], expected: readonly number[]): number {
  if (expected.length === 0) return 1;
  const wanted = new Set(expected);
  let found = 0;
  for (const ordinal of actual) if (wanted.has(ordinal)) found++;
  return found / expected.length;
}
