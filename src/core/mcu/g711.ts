/**
 * G.711 μ-law (ITU-T G.711, as used by RTP payload type 0, PCMU).
 *
 * Encoding of a 16-bit linear sample: take the sign, the magnitude clipped to
 * 32635, add the bias 0x84, find the segment (exponent 0..7: the position of
 * the highest set bit among bits 7..14), keep the four bits below it as the
 * mantissa, and invert all eight bits of sign|exponent|mantissa.
 *
 * Decoding inverts the bits and computes ((mantissa << 3) + 0x84) << exponent
 * minus 0x84, negated when the sign bit is set. The decoded magnitudes go from
 * 0 to 32124. Codes 0xFF (+0) and 0x7F (-0) both decode to 0; 0 encodes to
 * 0xFF, so encode(decode(0x7F)) is 0xFF. No zero-code suppression is applied
 * (0x00 is a valid code: -32124).
 */

export const ULAW_BIAS = 0x84;
export const ULAW_CLIP = 32635;

/** Encode one linear sample (any number; rounded and saturated to int16 first). */
export function ulawEncode(sample: number): number {
  let pcm = Math.round(sample);
  if (pcm > 32767) pcm = 32767;
  else if (pcm < -32768) pcm = -32768;
  let sign = 0;
  if (pcm < 0) {
    sign = 0x80;
    pcm = -pcm;
  }
  if (pcm > ULAW_CLIP) pcm = ULAW_CLIP;
  pcm += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (pcm & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (pcm >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Decode one μ-law byte to a linear sample (-32124..32124). */
export function ulawDecode(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  const mantissa = u & 0x0f;
  const magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
  return u & 0x80 ? 0 - magnitude : magnitude; // 0 - 0 is +0, never -0
}

const DECODE_TABLE: Int16Array = (() => {
  const t = new Int16Array(256);
  for (let c = 0; c < 256; c++) t[c] = ulawDecode(c);
  return t;
})();

/** Encode a frame of linear samples to μ-law bytes. */
export function ulawEncodeFrame(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length)): Uint8Array {
  if (out.length < pcm.length) throw new RangeError(`output holds ${out.length} bytes, need ${pcm.length}`);
  for (let i = 0; i < pcm.length; i++) out[i] = ulawEncode(pcm[i]!);
  return out;
}

/** Decode μ-law bytes to linear samples. */
export function ulawDecodeFrame(bytes: Uint8Array, out: Int16Array = new Int16Array(bytes.length)): Int16Array {
  if (out.length < bytes.length) throw new RangeError(`output holds ${out.length} samples, need ${bytes.length}`);
  for (let i = 0; i < bytes.length; i++) out[i] = DECODE_TABLE[bytes[i]!]!;
  return out;
}
