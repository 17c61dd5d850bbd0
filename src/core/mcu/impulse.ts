/**
 * Tone bursts for mouth-to-ear delay through an audio mixer, and their
 * detector. Pure.
 *
 * Each participant id 0..7 has its own 50 ms burst at 8 kHz: a rising linear
 * chirp across a 300 Hz band, the bands 100 Hz apart (200–500 Hz, 600–900 Hz,
 * ..., 3000–3300 Hz, all inside the telephone band G.711 carries), with 5 ms
 * raised-cosine ramps. The guard between bands matters: the correlation is
 * normalised by the energy of the window, so the tail of one burst next to
 * the head of another of an adjacent band would otherwise score high.
 *
 * The detector slides each wanted burst over the signal and computes the
 * normalised cross-correlation (dot product over the product of the two
 * windows' norms, in −1..1); every local peak at or above the threshold,
 * kept apart by at least a burst length from a stronger one of the same id,
 * is a detection at that sample offset.
 */

export const SAMPLE_RATE = 8000;
export const BURST_SAMPLES = 400;
export const BURST_IDS = 8;
export const DEFAULT_THRESHOLD = 0.4;
const RAMP = 40;
const BAND_HZ = 300;
const SLOT_HZ = 400;
const LOW_HZ = 200;

/** The burst of one id as floating-point samples of peak `amplitude`. */
export function burstShape(id: number, amplitude = 8000): Float64Array {
  if (!Number.isInteger(id) || id < 0 || id >= BURST_IDS) throw new RangeError(`burst id ${id} out of 0..${BURST_IDS - 1}`);
  const fa = LOW_HZ + id * SLOT_HZ;
  const fb = fa + BAND_HZ;
  const T = BURST_SAMPLES / SAMPLE_RATE;
  const k = (fb - fa) / T;
  const out = new Float64Array(BURST_SAMPLES);
  for (let n = 0; n < BURST_SAMPLES; n++) {
    const t = n / SAMPLE_RATE;
    const phase = 2 * Math.PI * (fa * t + (k * t * t) / 2);
    const edge = Math.min(n, BURST_SAMPLES - 1 - n);
    const w = edge >= RAMP ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * edge) / RAMP);
    out[n] = amplitude * w * Math.sin(phase);
  }
  return out;
}

/** The burst of one id as int16 samples. */
export function burst(id: number, amplitude = 8000): Int16Array {
  return Int16Array.from(burstShape(id, amplitude), (v) => Math.round(v));
}

/** Add the burst of `id` into `signal` at `offset`, saturating to int16. */
export function addBurst(signal: Int16Array, id: number, offset: number, amplitude = 8000): void {
  const b = burst(id, amplitude);
  for (let n = 0; n < b.length && offset + n < signal.length; n++) {
    if (offset + n < 0) continue;
    const v = signal[offset + n]! + b[n]!;
    signal[offset + n] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
}

/** Normalised cross-correlation of the burst of `id` at every offset 0..length − BURST_SAMPLES. */
export function correlate(signal: ArrayLike<number>, id: number): Float64Array {
  const b = burstShape(id, 1);
  const L = b.length;
  const N = signal.length;
  if (N < L) return new Float64Array(0);
  let bb = 0;
  for (let n = 0; n < L; n++) bb += b[n]! * b[n]!;
  const nb = Math.sqrt(bb);
  const out = new Float64Array(N - L + 1);
  let energy = 0;
  for (let n = 0; n < L; n++) energy += signal[n]! * signal[n]!;
  for (let o = 0; o + L <= N; o++) {
    if (o > 0) {
      const gone = signal[o - 1]!;
      const come = signal[o + L - 1]!;
      energy += come * come - gone * gone;
    }
    if (energy <= 1e-9) continue; // silence: no correlation
    let dot = 0;
    for (let n = 0; n < L; n++) dot += signal[o + n]! * b[n]!;
    out[o] = dot / (nb * Math.sqrt(energy));
  }
  return out;
}

export interface Detection {
  id: number;
  /** Sample offset of the burst's first sample in the signal. */
  offset: number;
  /** Normalised cross-correlation at the peak, threshold..1. */
  score: number;
}

export interface DetectOptions {
  /** Minimum normalised correlation (default 0.4). */
  threshold?: number;
}

/** Find the bursts of `ids` in `signal`, sorted by offset. */
export function detectBursts(signal: ArrayLike<number>, ids: readonly number[], o: DetectOptions = {}): Detection[] {
  const threshold = o.threshold ?? DEFAULT_THRESHOLD;
  const found: Detection[] = [];
  for (const id of ids) {
    const c = correlate(signal, id);
    const candidates: Detection[] = [];
    for (let i = 0; i < c.length; i++) {
      const v = c[i]!;
      if (v >= threshold && (i === 0 || v >= c[i - 1]!) && (i === c.length - 1 || v > c[i + 1]!)) candidates.push({ id, offset: i, score: v });
    }
    candidates.sort((a, b) => b.score - a.score);
    const kept: Detection[] = [];
    for (const d of candidates) if (kept.every((k) => Math.abs(k.offset - d.offset) >= BURST_SAMPLES)) kept.push(d);
    found.push(...kept);
  }
  return found.sort((a, b) => a.offset - b.offset || a.id - b.id);
}
