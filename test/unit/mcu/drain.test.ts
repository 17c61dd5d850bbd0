import { describe, expect, it } from 'vitest';
import { LatencyTrim } from '../../../src/core/mcu/drain.js';
import { JitterBuffer } from '../../../src/core/mcu/jitter.js';

describe('standing-latency trim', () => {
  it('leaves a buffer at its depth alone, and normal jitter too', () => {
    const t = new LatencyTrim(2, 10);
    for (let i = 0; i < 1000; i++) expect(t.afterTick(i % 7 === 0 ? 3 : 1)).toBe(false);
    expect(t.trimmed).toBe(0);
  });

  it('drops one frame after a lasting excess, then counts again', () => {
    const t = new LatencyTrim(2, 10);
    const drops = Array.from({ length: 30 }, () => t.afterTick(5)).map((d, i) => (d ? i : -1)).filter((i) => i >= 0);
    expect(drops).toEqual([9, 19, 29]);
    expect(t.trimmed).toBe(3);
  });

  it('brings a jitter buffer that took a burst back to its depth', () => {
    const depth = 2;
    const jb = new JitterBuffer<number>({ depth });
    const trim = new LatencyTrim(depth, 10);
    let seq = 0;
    // Steady: one in, one out.
    for (let i = 0; i < 20; i++) {
      jb.push(seq, seq * 160, seq);
      seq++;
      jb.tick();
    }
    // A sender stall: four frames at once, then steady again.
    for (let k = 0; k < 4; k++) jb.push(seq, seq * 160, seq++);
    const sizes: number[] = [];
    for (let i = 0; i < 100; i++) {
      jb.push(seq, seq * 160, seq++);
      jb.tick();
      if (trim.afterTick(jb.size)) jb.tick();
      sizes.push(jb.size);
    }
    expect(sizes[0]).toBeGreaterThan(depth);
    expect(sizes[sizes.length - 1]).toBeLessThanOrEqual(depth);
    expect(trim.trimmed).toBeGreaterThanOrEqual(2);
    expect(jb.stats.late).toBe(0);
  });
});
