import { describe, expect, it } from 'vitest';
import { BURST_SAMPLES, addBurst, burst, correlate, detectBursts, DEFAULT_THRESHOLD } from '../../../src/core/mcu/impulse.js';
import { FRAME_SAMPLES, mixFrame } from '../../../src/core/mcu/mixer.js';
import { ulawDecodeFrame, ulawEncodeFrame } from '../../../src/core/mcu/g711.js';
import { mulberry32 } from '../../../src/core/bench/summary.js';

const SECOND = 8000;

function noise(length: number, amplitude: number, seed: number): Int16Array {
  const rnd = mulberry32(seed);
  return Int16Array.from({ length }, () => Math.round((rnd() * 2 - 1) * amplitude));
}

/** Mix per-participant signals frame by frame through the N−1 mixer. */
function mixAll(signals: Map<number, Int16Array>): Map<number, Int16Array> {
  const length = [...signals.values()][0]!.length;
  const out = new Map([...signals.keys()].map((k) => [k, new Int16Array(length)] as const));
  for (let f = 0; f + FRAME_SAMPLES <= length; f += FRAME_SAMPLES) {
    const frames = new Map([...signals].map(([k, s]) => [k, s.subarray(f, f + FRAME_SAMPLES)] as const));
    for (const [k, m] of mixFrame(frames).mixes) out.get(k)!.set(m, f);
  }
  return out;
}

describe('tone bursts', () => {
  it('a burst correlates with itself at 1, at its offset', () => {
    const s = new Int16Array(2000);
    addBurst(s, 3, 777);
    const c = correlate(s, 3);
    expect(c[777]).toBeGreaterThan(0.9999);
    expect(detectBursts(s, [3])).toEqual([{ id: 3, offset: 777, score: c[777] }]);
  });

  it('different ids barely correlate (cross-correlation below 0.15 for all pairs, at any offset)', () => {
    let worst = 0;
    for (let a = 0; a < 8; a++) {
      const s = new Int16Array(BURST_SAMPLES * 3);
      s.set(burst(a), BURST_SAMPLES);
      for (let b = 0; b < 8; b++) if (a !== b) worst = Math.max(worst, ...correlate(s, b));
    }
    expect(worst).toBeLessThan(0.15); // measured 0.086
  });

  it.each<[string, [number, number][], number]>([
    ['2 participants', [[0, 1000], [1, 3000]], 500],
    ['3 participants, overlapping', [[2, 1200], [5, 1300], [7, 1450]], 800],
    ['4 participants', [[0, 500], [4, 2500], [7, 4100], [3, 6000]], 1500],
    ['4 participants, fully overlapping, quiet noise', [[1, 2000], [3, 2000], [6, 2000], [0, 2000]], 300],
  ])('%s: each burst is found in the mixes of the others, with its source and offset (±1)', (_n, placed, noiseAmp) => {
    const signals = new Map<number, Int16Array>();
    placed.forEach(([id, at], i) => {
      const s = noise(SECOND, noiseAmp, 100 + i);
      addBurst(s, id, at);
      signals.set(id, s);
    });
    const mixes = mixAll(signals);
    const ids = placed.map(([id]) => id);
    for (const [me] of placed) {
      const found = detectBursts(mixes.get(me)!, ids);
      const expected = placed.filter(([id]) => id !== me);
      expect(found.map((d) => d.id).sort()).toEqual(expected.map(([id]) => id).sort());
      for (const [id, at] of expected) expect(Math.abs(found.find((d) => d.id === id)!.offset - at)).toBeLessThanOrEqual(1);
      expect(found.some((d) => d.id === me)).toBe(false); // its own burst is not in its mix
    }
  });

  it('survives G.711 μ-law coding of the mix', () => {
    const s = noise(SECOND, 500, 7);
    addBurst(s, 6, 3210);
    addBurst(s, 2, 5000);
    const coded = ulawDecodeFrame(ulawEncodeFrame(s));
    const found = detectBursts(coded, [2, 6]);
    expect(found.map((d) => [d.id, d.offset])).toEqual([[6, 3210], [2, 5000]]);
  });

  it(`false positives on random noise: none in 16 s × 4 ids at threshold ${DEFAULT_THRESHOLD}`, () => {
    let detections = 0;
    let maxScore = 0;
    for (let k = 0; k < 16; k++) {
      const s = noise(SECOND, [100, 3000, 20000][k % 3]!, 1000 + k);
      const ids = [k % 8, (k + 3) % 8, (k + 5) % 8, (k + 7) % 8];
      detections += detectBursts(s, ids).length;
      for (const id of ids) maxScore = Math.max(maxScore, ...correlate(s, id));
    }
    expect(detections).toBe(0);
    expect(maxScore).toBeLessThan(0.3); // measured 0.236: the margin to the threshold on white noise
  });

  it('refuses ids out of range, finds nothing in silence or a short signal', () => {
    expect(() => burst(8)).toThrow(RangeError);
    expect(detectBursts(new Int16Array(4000), [0, 1])).toEqual([]);
    expect(detectBursts(new Int16Array(10), [0])).toEqual([]);
  });
});
