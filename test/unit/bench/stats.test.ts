import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM helper without type declarations
import { median, pairedRatios, quantile, summary } from '../../../bench/lib/stats.mjs';

describe('bench statistics', () => {
  it('median of odd and even counts, non-finite values left out', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 5, Infinity, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });

  it('quartiles by linear interpolation between order statistics', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    expect(quantile(s, 0.25)).toBe(3);
    expect(quantile(s, 0.75)).toBe(7);
    expect(quantile([10, 20], 0.25)).toBe(12.5);
  });

  it('summary gives median, IQR and min-max over the finite values', () => {
    expect(summary([9, 1, 5, 3, 7, NaN])).toEqual({ n: 5, median: 5, q1: 3, q3: 7, iqr: 4, min: 1, max: 9 });
    const empty = summary([NaN]);
    expect(empty.n).toBe(0);
    expect(empty.median).toBeNaN();
  });

  it('ratios are taken round by round, missing rounds are NaN, never 0 or Infinity', () => {
    expect(pairedRatios([10, 20, NaN, 5], [5, 10, 4, 0])).toEqual([2, 2, NaN, NaN]);
  });
});
