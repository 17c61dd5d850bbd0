// Order statistics for benchmark rounds. The spread reported everywhere is the
// interquartile range (first to third quartile, linear interpolation between
// order statistics, as R's type 7 / numpy's default) together with min and max.

/** Finite values, sorted ascending. */
const clean = (xs) => xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);

/** Quantile q (0..1) of an ascending array, linear interpolation; NaN when empty. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function median(xs) {
  return quantile(clean(xs), 0.5);
}

/**
 * Median and spread of the finite values of xs: n (how many were finite), median,
 * q1, q3, iqr (q3 - q1), min, max. NaN fields when nothing is finite.
 */
export function summary(xs) {
  const s = clean(xs);
  const q1 = quantile(s, 0.25);
  const q3 = quantile(s, 0.75);
  return {
    n: s.length,
    median: quantile(s, 0.5),
    q1,
    q3,
    iqr: q3 - q1,
    min: s.length ? s[0] : NaN,
    max: s.length ? s[s.length - 1] : NaN,
  };
}

/** Per-round ratios a[i] / b[i]; NaN where either is missing or b[i] is 0. */
export function pairedRatios(a, b) {
  return a.map((x, i) => (Number.isFinite(x) && Number.isFinite(b[i]) && b[i] !== 0 ? x / b[i] : NaN));
}
