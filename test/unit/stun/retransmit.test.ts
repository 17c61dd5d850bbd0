import { describe, expect, it } from 'vitest';
import { retransmitSchedule, RFC_RETRANSMIT } from '../../../src/core/stun/retransmit.js';
import { percentile, summarize } from '../../../src/core/stats.js';

describe('retransmitSchedule (RFC 8489 §6.2.1)', () => {
  it('RFC defaults: 7 requests at 0, 500, 1500, ... 31500 and failure at 39500 ms', () => {
    expect(retransmitSchedule(RFC_RETRANSMIT)).toEqual({ sendAt: [0, 500, 1500, 3500, 7500, 15500, 31500], giveUpAt: 39500 });
  });
  it.each([
    [{ rto: 100, rc: 3, rm: 4 }, [0, 100, 300], 700],
    [{ rto: 500, rc: 7, rm: 16, timeout: 3000 }, [0, 500, 1500], 3000],
    [{ rto: 500, rc: 7, rm: 16, timeout: 1500 }, [0, 500], 1500],
    [{ rto: 200, rc: 1, rm: 2 }, [0], 400],
    [{ rto: 200, rc: 2, rm: 16, timeout: 10000 }, [0, 200], 3400],
  ])('%j', (o, sendAt, giveUpAt) => {
    expect(retransmitSchedule(o)).toEqual({ sendAt, giveUpAt });
  });
  it('rejects nonsense', () => {
    expect(() => retransmitSchedule({ rto: 0, rc: 7, rm: 16 })).toThrow(RangeError);
    expect(() => retransmitSchedule({ rto: 500, rc: 0, rm: 16 })).toThrow(RangeError);
  });
});

describe('stats', () => {
  it('nearest-rank percentiles', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(s, 95)).toBe(95);
    expect(percentile(s, 99)).toBe(99);
    expect(percentile([5], 95)).toBe(5);
  });
  it('summary with jitter', () => {
    expect(summarize([1, 3, 2, 4])).toMatchObject({ min: 1, max: 4, median: 2.5, jitter: 1.667, samples: 4 });
    expect(summarize([])).toBeUndefined();
  });
});
