import { describe, expect, it } from 'vitest';
import { JitterBuffer } from '../../../src/core/mcu/jitter.js';

/** Feed seq 0..n-1 one per tick, except that the sender stalls at `stallAt` for `stall` ticks and then sends the backlog at once. */
function run(hold: boolean) {
  const jb = new JitterBuffer<number>({ depth: 2, holdOnUnderrun: hold });
  const played: (number | undefined)[] = [];
  let seq = 0;
  for (let t = 0; t < 40; t++) {
    if (t < 10 || t >= 15) {
      // After the stall (ticks 10..14) the five frames held back come at once.
      const upto = t >= 15 && seq < t + 1 ? t + 1 : seq + 1;
      while (seq < upto) jb.push(seq, seq * 160, seq), seq++;
    }
    const f = jb.tick();
    if (f) played.push(f.payload);
  }
  return { jb, played };
}

describe('jitter buffer: hold on underrun', () => {
  it('without it, frames held back by a stalled sender are dropped as late', () => {
    const { jb, played } = run(false);
    expect(jb.stats.late).toBeGreaterThan(0);
    expect(played.filter((p) => p !== undefined).length).toBeLessThan(40 - 1);
  });

  it('with it, they are played in order after the stall, none late', () => {
    const { jb, played } = run(true);
    expect(jb.stats.late).toBe(0);
    const got = played.filter((p): p is number => p !== undefined);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(new Set(got).size).toBe(got.length);
    // Every frame up to the ones still buffered at the end was played.
    expect(got[got.length - 1]! - got[0]! + 1).toBe(got.length);
    expect(jb.stats.underruns).toBeGreaterThan(0);
  });

  it('a lost packet with later ones waiting is still skipped', () => {
    const jb = new JitterBuffer<number>({ depth: 2, holdOnUnderrun: true });
    for (const s of [0, 1, 3, 4]) jb.push(s, s * 160, s);
    expect([jb.tick(), jb.tick(), jb.tick(), jb.tick()].map((f) => f?.payload)).toEqual([0, 1, undefined, 3]);
  });
});
