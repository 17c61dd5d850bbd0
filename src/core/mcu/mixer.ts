/**
 * N−1 audio mixing: every participant receives the sum of all the others'
 * frames, saturated to int16. The total is summed once in int32 and each
 * participant's own frame is subtracted from it before clipping, which is
 * exact (an int32 holds the sum of up to 65536 int16 frames); clipping the
 * total first would not be. Pure.
 */

/** Samples in one 20 ms frame at 8 kHz. */
export const FRAME_SAMPLES = 160;

export interface MixResult<K> {
  /** One mix per participant key given, everyone else's frames summed. */
  mixes: Map<K, Int16Array>;
  /** Samples that had to be clipped, over all mixes. */
  clipped: number;
}

const clip16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);

/**
 * Mix one frame period. `inputs` maps each participant to its decoded frame,
 * or to undefined when it has none this period (lost, not yet started): a
 * missing frame contributes nothing, like a silent one. Every key gets a mix
 * (one participant alone hears silence).
 */
export function mixFrame<K>(inputs: ReadonlyMap<K, Int16Array | undefined>, samples = FRAME_SAMPLES): MixResult<K> {
  const total = new Int32Array(samples);
  for (const frame of inputs.values()) {
    if (!frame) continue;
    if (frame.length !== samples) throw new RangeError(`a frame holds ${frame.length} samples, expected ${samples}`);
    for (let i = 0; i < samples; i++) total[i]! += frame[i]!;
  }
  const mixes = new Map<K, Int16Array>();
  let clipped = 0;
  for (const [key, own] of inputs) {
    const out = new Int16Array(samples);
    for (let i = 0; i < samples; i++) {
      const v = own ? total[i]! - own[i]! : total[i]!;
      const c = clip16(v);
      if (c !== v) clipped++;
      out[i] = c;
    }
    mixes.set(key, out);
  }
  return { mixes, clipped };
}
