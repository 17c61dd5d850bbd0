/**
 * Percentile summaries. `summarizeExact` sorts every sample (exact, memory
 * grows with the run); `Reservoir` keeps a bounded uniform sample (Vitter's
 * algorithm R with a seeded generator) for long runs, and its summary is an
 * estimate over the kept samples; `count`, `min` and `max` stay exact.
 * Percentiles use the nearest-rank method.
 */
import { percentile } from '../stats.js';

export interface Summary {
  count: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** true when the percentiles come from every sample; false for a reservoir estimate. */
  exact: boolean;
}

/** Exact summary over all samples; undefined when there are none (no figure from silence). */
export function summarizeExact(values: readonly number[]): Summary | undefined {
  if (values.length === 0) return undefined;
  const s = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of values) sum += v;
  const arr = Array.from(s);
  return {
    count: values.length,
    min: arr[0]!,
    p50: percentile(arr, 50),
    p95: percentile(arr, 95),
    p99: percentile(arr, 99),
    max: arr[arr.length - 1]!,
    mean: sum / values.length,
    exact: true,
  };
}

/** A small deterministic PRNG (mulberry32) so that runs and tests repeat. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Reservoir {
  private readonly kept: number[] = [];
  private seen = 0;
  private lo = Infinity;
  private hi = -Infinity;
  private sum = 0;
  private readonly random: () => number;

  constructor(readonly capacity: number, seed = 1) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('reservoir capacity must be a positive integer');
    this.random = mulberry32(seed);
  }

  add(v: number): void {
    this.seen++;
    this.sum += v;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
    if (this.kept.length < this.capacity) {
      this.kept.push(v);
      return;
    }
    const j = Math.floor(this.random() * this.seen);
    if (j < this.capacity) this.kept[j] = v;
  }

  get count(): number {
    return this.seen;
  }

  summary(): Summary | undefined {
    const s = summarizeExact(this.kept);
    if (!s) return undefined;
    return { ...s, count: this.seen, min: this.lo, max: this.hi, mean: this.sum / this.seen, exact: this.seen <= this.capacity };
  }
}
