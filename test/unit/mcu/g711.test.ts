import { describe, expect, it } from 'vitest';
import { ulawDecode, ulawDecodeFrame, ulawEncode, ulawEncodeFrame } from '../../../src/core/mcu/g711.js';

/** Decode computed from the G.711 formula, independently of the module. */
function reference(code: number): number {
  const inv = 255 - code; // bit inversion of an 8-bit value
  const negative = inv >= 128;
  const exponent = Math.floor((inv % 128) / 16);
  const mantissa = inv % 16;
  const magnitude = (mantissa * 8 + 132) * 2 ** exponent - 132;
  return negative ? 0 - magnitude : magnitude; // no -0
}

const codes = Array.from({ length: 256 }, (_, c) => c);

describe('G.711 μ-law', () => {
  it('decodes all 256 codes as the formula gives', () => {
    expect(codes.map(ulawDecode)).toEqual(codes.map(reference));
    expect(ulawDecode(0x80)).toBe(32124);
    expect(ulawDecode(0x00)).toBe(-32124);
  });

  it('encode∘decode is the identity on every code but 0x7F (-0), which encodes back as 0xFF (+0)', () => {
    expect(ulawDecode(0x7f)).toBe(0);
    expect(ulawDecode(0xff)).toBe(0);
    for (const c of codes) expect(ulawEncode(ulawDecode(c))).toBe(c === 0x7f ? 0xff : c);
  });

  it.each([
    [0, 0xff], [32767, 0x80], [-32768, 0x00], [32635, 0x80], [32124, 0x80], [-32124, 0x00],
    [1, 0xff], [-1, 0x7f], [8, 0xfe], [-8, 0x7e], [100000, 0x80], [-100000, 0x00],
  ])('encodes %i as %i', (pcm, code) => {
    expect(ulawEncode(pcm)).toBe(code);
  });

  // The encoder's segment e covers |x| + 0x84 in [0x80 << e, 0x100 << e): it starts at (0x80 << e) - 0x84.
  it.each([1, 2, 3, 4, 5, 6, 7])('segment boundary %i: at it mantissa 0, one below it the previous segment, mantissa 15', (e) => {
    const start = (0x80 << e) - 0x84;
    expect(ulawEncode(start)).toBe(~(e << 4) & 0xff);
    expect(ulawEncode(start - 1)).toBe(~(((e - 1) << 4) | 0x0f) & 0xff);
    expect(ulawEncode(-start)).toBe(~(0x80 | (e << 4)) & 0xff);
    expect(ulawEncode(-(start - 1))).toBe(~(0x80 | ((e - 1) << 4) | 0x0f) & 0xff);
  });

  it("the decoded value of each segment's first code is (0x84 << e) - 0x84", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((e) => ulawDecode(~(e << 4) & 0xff))).toEqual([0, 132, 396, 924, 1980, 4092, 8316, 16764]);
  });

  it('is monotonic: larger input never decodes smaller, over the whole int16 range', () => {
    let prev = -Infinity;
    for (let x = -32768; x <= 32767; x++) {
      const y = ulawDecode(ulawEncode(x));
      expect(y >= prev).toBe(true);
      prev = y;
    }
    const ordered = codes.map(ulawDecode).sort((a, b) => a - b);
    expect(new Set(ordered).size).toBe(255); // +0 and -0 coincide
  });

  it('the quantisation error stays within half a step of the segment (plus clipping at the top)', () => {
    for (let x = -32124; x <= 32124; x += 7) {
      const y = ulawDecode(ulawEncode(x));
      const e = ulawEncode(Math.abs(x)) ^ 0xff;
      const step = 8 << ((e >> 4) & 7);
      expect(Math.abs(y - x)).toBeLessThanOrEqual(step / 2);
    }
  });

  it('frame helpers map every sample', () => {
    const pcm = Int16Array.from([0, 1000, -1000, 32767, -32768]);
    const bytes = ulawEncodeFrame(pcm);
    expect([...bytes]).toEqual([...pcm].map(ulawEncode));
    expect([...ulawDecodeFrame(bytes)]).toEqual([...bytes].map(ulawDecode));
    expect(() => ulawEncodeFrame(pcm, new Uint8Array(2))).toThrow(RangeError);
  });
});
