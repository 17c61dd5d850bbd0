import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, StrikeCounter, TokenBucket } from '../../../src/core/signaling/limits.js';

// Each step: [time in ms, expected outcome]. The clock is a plain number.
type Step = [at: number, expected: boolean];

describe('relay limits: token bucket', () => {
  const cases: { name: string; rate: number; burst: number; steps: Step[] }[] = [
    { name: 'starts full: a burst passes, the next is refused', rate: 1, burst: 3, steps: [[0, true], [0, true], [0, true], [0, false]] },
    { name: 'refills at the rate', rate: 10, burst: 1, steps: [[0, true], [50, false], [100, true], [150, false], [200, true]] },
    { name: 'a refused take spends nothing', rate: 4, burst: 1, steps: [[0, true], [125, false], [250, true]] },
    { name: 'never holds more than the burst', rate: 100, burst: 2, steps: [[0, true], [10_000, true], [10_000, true], [10_000, false]] },
    { name: 'a clock that steps back refills nothing', rate: 10, burst: 1, steps: [[1000, true], [500, false], [1000, false], [1100, true]] },
    { name: 'a burst of zero refuses everything', rate: 50, burst: 0, steps: [[0, false], [5000, false]] },
  ];
  it.each(cases)('$name', ({ rate, burst, steps }) => {
    const b = new TokenBucket(rate, burst, steps[0]![0]);
    expect(steps.map(([at]) => b.take(at))).toEqual(steps.map(([, ok]) => ok));
  });

  it('reports the tokens available without spending them', () => {
    const b = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) b.take(0);
    expect(b.available(250)).toBeCloseTo(2.5);
    expect(b.available(250)).toBeCloseTo(2.5);
    expect(b.available(60_000)).toBe(5);
  });
});

describe('relay limits: strikes that fade', () => {
  // Each step: [time of a strike, whether that strike is over the limit].
  const cases: { name: string; max: number; fade?: number; steps: Step[] }[] = [
    { name: 'up to the limit is tolerated, one more is over', max: 2, steps: [[0, false], [0, false], [0, true]] },
    { name: 'strikes fade at one per second', max: 2, steps: [[0, false], [0, false], [2300, false], [2300, false], [2300, true]] },
    { name: 'partly faded strikes still count', max: 2, steps: [[0, false], [0, false], [500, true]] },
    { name: 'a steady one per second never adds up', max: 1, steps: [[0, false], [1000, false], [2000, false], [3000, false]] },
    { name: 'twice a second adds up', max: 2, steps: [[0, false], [500, false], [1000, false], [1500, true]] },
    { name: 'a faster fade rate', max: 1, fade: 4, steps: [[0, false], [250, false], [300, true]] },
    { name: 'a limit of zero closes at the first strike', max: 0, steps: [[0, true]] },
  ];
  it.each(cases)('$name', ({ max, fade, steps }) => {
    const s = new StrikeCounter(max, fade);
    expect(steps.map(([at]) => s.strike(at))).toEqual(steps.map(([, over]) => over));
  });

  it('shows the faded count, never below zero', () => {
    const s = new StrikeCounter(10);
    s.strike(0);
    s.strike(0);
    expect(s.current(0)).toBe(2);
    expect(s.current(1500)).toBeCloseTo(0.5);
    expect(s.current(60_000)).toBe(0);
  });

  it('has defaults that tolerate honest races', () => {
    expect(DEFAULT_LIMITS.maxStrikes).toBeGreaterThanOrEqual(5);
    expect(DEFAULT_LIMITS.messageBurst).toBeGreaterThanOrEqual(DEFAULT_LIMITS.messagesPerSecond);
  });
});
