import { describe, expect, it } from 'vitest';
import { FRAME_SAMPLES, mixFrame } from '../../../src/core/mcu/mixer.js';

const frame = (v: number | ((i: number) => number)): Int16Array =>
  Int16Array.from({ length: FRAME_SAMPLES }, (_, i) => (typeof v === 'number' ? v : v(i)));
const mixOf = (inputs: [string, Int16Array | undefined][]) => mixFrame(new Map(inputs));

/** Reference: sum of the others in plain numbers, then clipped. */
function reference(inputs: [string, Int16Array | undefined][], me: string): number[] {
  return Array.from({ length: FRAME_SAMPLES }, (_, i) => {
    const s = inputs.filter(([k, f]) => k !== me && f).reduce((a, [, f]) => a + f![i]!, 0);
    return Math.max(-32768, Math.min(32767, s));
  });
}

describe('N−1 mixer', () => {
  it.each<[string, [string, Int16Array | undefined][]]>([
    ['three constant', [['a', frame(100)], ['b', frame(-20)], ['c', frame(7)]]],
    ['one missing', [['a', frame(100)], ['b', undefined], ['c', frame(7)]]],
    ['one silent', [['a', frame(100)], ['b', frame(0)], ['c', frame(-7)]]],
    ['ramps', [['a', frame((i) => i * 100)], ['b', frame((i) => -i * 50)], ['c', frame((i) => (i % 2 ? 1000 : -1000))], ['d', frame(3)]]],
    ['clips upwards', [['a', frame(30000)], ['b', frame(30000)], ['c', frame(30000)]]],
    ['clips downwards', [['a', frame(-30000)], ['b', frame(-30000)], ['c', frame(-30000)]]],
    ['total overflows, own brings it back: exact', [['a', frame(32767)], ['b', frame(32767)], ['c', frame(-32768)]]],
    ['extremes of int16', [['a', frame(-32768)], ['b', frame(-32768)], ['c', frame(32767)], ['d', frame(32767)]]],
  ])('%s: every mix is the clipped sum of the others', (_name, inputs) => {
    const { mixes } = mixOf(inputs);
    expect([...mixes.keys()]).toEqual(inputs.map(([k]) => k));
    for (const [k] of inputs) expect([...mixes.get(k)!]).toEqual(reference(inputs, k));
  });

  it('counts clipped samples, both ways', () => {
    expect(mixOf([['a', frame(30000)], ['b', frame(30000)], ['c', frame(30000)]]).clipped).toBe(3 * FRAME_SAMPLES);
    expect(mixOf([['a', frame(-20000)], ['b', frame(-20000)], ['c', frame(0)]]).clipped).toBe(FRAME_SAMPLES); // only c's mix
    expect(mixOf([['a', frame(1)], ['b', frame(2)]]).clipped).toBe(0);
    const up = mixOf([['a', frame(30000)], ['b', frame(30000)], ['c', frame(0)]]).mixes.get('c')!;
    expect(up[0]).toBe(32767);
    const down = mixOf([['a', frame(-30000)], ['b', frame(-30000)], ['c', frame(0)]]).mixes.get('c')!;
    expect(down[0]).toBe(-32768);
  });

  it('a participant never hears itself: its impulse is absent from its own mix only', () => {
    const impulse = (at: number) => frame((i) => (i === at ? 10000 : 0));
    const inputs: [string, Int16Array][] = [['a', impulse(10)], ['b', impulse(20)], ['c', impulse(30)]];
    const { mixes } = mixOf(inputs);
    for (const [k, own] of inputs) {
      const at = own.indexOf(10000);
      expect(mixes.get(k)![at]).toBe(0);
      for (const [other] of inputs) if (other !== k) expect(mixes.get(other)![at]).toBe(10000);
    }
  });

  it('one participant alone hears silence; nobody gives an empty map', () => {
    const { mixes } = mixOf([['a', frame(1234)]]);
    expect([...mixes.get('a')!].every((v) => v === 0)).toBe(true);
    expect(mixFrame(new Map()).mixes.size).toBe(0);
  });

  it('a participant without a frame still gets the mix of the others', () => {
    const { mixes } = mixOf([['a', frame(5)], ['b', undefined]]);
    expect(mixes.get('b')![0]).toBe(5);
    expect(mixes.get('a')![0]).toBe(0);
  });

  it('refuses a frame of the wrong length', () => {
    expect(() => mixOf([['a', new Int16Array(80)]])).toThrow(RangeError);
  });
});
