export interface RttSummary {
  min: number;
  median: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
  /** Mean absolute difference between consecutive samples (RFC 3550 style, unsmoothed). */
  jitter: number;
  samples: number;
}

/** Nearest-rank percentile over sorted values (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Summarise RTT samples (ms, in arrival order); undefined when there are none. */
export function summarize(samples: readonly number[]): RttSummary | undefined {
  if (samples.length === 0) return undefined;
  const sorted = [...samples].sort((a, b) => a - b);
  let jitter = 0;
  for (let i = 1; i < samples.length; i++) jitter += Math.abs(samples[i]! - samples[i - 1]!);
  if (samples.length > 1) jitter /= samples.length - 1;
  return {
    min: round3(sorted[0]!),
    median: round3(median(sorted)),
    p95: round3(percentile(sorted, 95)),
    p99: round3(percentile(sorted, 99)),
    max: round3(sorted[sorted.length - 1]!),
    mean: round3(samples.reduce((a, b) => a + b, 0) / samples.length),
    jitter: round3(jitter),
    samples: samples.length,
  };
}
