/**
 * Mouth-to-ear delay through an audio mixer, from tone bursts. Pure.
 *
 * Every sender puts its own burst (impulse.ts) at the start of a frame at
 * known times. A listener's received frames are put back in order by RTP
 * sequence number (gaps become silence), decoded, and searched for every
 * burst id by cross-correlation; a burst found at sample `o` was heard when
 * the frame holding that sample arrived (plus the sample's place in it).
 * Its mouth time is when its first sample was captured: the send time of the
 * frame that starts it minus one frame (20 ms of packetization). The match
 * is the latest burst of that id sent before the ear time and within
 * `maxDelayMs`; each sent burst is matched at most once per listener.
 * `maxDelayMs` must stay below the time between two bursts of one sender
 * (the default, 500 ms, is half the 1 s the benchmark uses): a burst later
 * than that would be matched with the next one and give a delay that is too
 * short; beyond the limit it is counted as unmatched instead. A burst later
 * than a whole period would still alias onto the next one; such matches are
 * caught when they come out below `minDelayMs` (default 20 ms: the
 * packetization alone takes that long, so nothing can be heard sooner) and
 * counted as unmatched too, never reported as a delay.
 */
import { ulawDecodeFrame } from './g711.js';
import { detectBursts, SAMPLE_RATE } from './impulse.js';
import { FRAME_SAMPLES } from './mixer.js';

export interface ReceivedFrame {
  /** RTP sequence number (16-bit). */
  seq: number;
  /** Arrival, ms on the clock the senders' mouth times use. */
  arrivalMs: number;
  /** PCMU payload (one 20 ms frame). */
  payload: Uint8Array;
}

export interface BurstSent {
  source: string;
  id: number;
  /** When its first sample was captured (ms). */
  mouthMs: number;
}

export interface Heard {
  source: string;
  listener: string;
  id: number;
  mouthMs: number;
  earMs: number;
  delayMs: number;
  score: number;
  /**
   * Whether the frame holding the burst's first samples carried them. When the
   * mixer played that frame before it arrived (concealed as silence), the rest
   * of the burst is still found at the right place, but the ear time is the
   * concealed frame's: too early. Such bursts count as heard; their delay
   * must not go into the figures.
   */
  intact: boolean;
}

export interface ListenerAnalysis {
  listener: string;
  /** Matched detections of other participants' bursts. */
  heard: Heard[];
  /** Detections of the listener's own burst (must be 0). */
  self: number;
  /** Detections of a burst id no participant sent, or with no sent burst to match. */
  unmatched: number;
  /** Per source: bursts it sent that this listener should have heard, and how many were heard. */
  perSource: Record<string, { expected: number; heard: number }>;
  frames: number;
  /** Frames missing from the sequence (filled with silence). */
  gaps: number;
}

/** Order frames by extended sequence number and decode them; missing frames are silence. */
export function assemble(frames: readonly ReceivedFrame[]): { pcm: Int16Array; arrivalMs: (number | undefined)[]; gaps: number } {
  if (frames.length === 0) return { pcm: new Int16Array(0), arrivalMs: [], gaps: 0 };
  // Extend 16-bit sequence numbers in arrival order.
  let maxExt = frames[0]!.seq;
  const ext = frames.map((f) => {
    const cur = maxExt & 0xffff;
    const fwd = (f.seq - cur + 65536) % 65536;
    const e = fwd < 32768 ? maxExt + fwd : maxExt - (65536 - fwd);
    if (e > maxExt) maxExt = e;
    return e;
  });
  const lo = Math.min(...ext);
  const hi = Math.max(...ext);
  const n = hi - lo + 1;
  const pcm = new Int16Array(n * FRAME_SAMPLES);
  const arrivalMs: (number | undefined)[] = new Array(n).fill(undefined);
  let have = 0;
  frames.forEach((f, i) => {
    const k = ext[i]! - lo;
    if (arrivalMs[k] !== undefined) return; // duplicate
    arrivalMs[k] = f.arrivalMs;
    have++;
    ulawDecodeFrame(f.payload.subarray(0, FRAME_SAMPLES), pcm.subarray(k * FRAME_SAMPLES, (k + 1) * FRAME_SAMPLES));
  });
  return { pcm, arrivalMs, gaps: n - have };
}

/** Sample runs with sound in them (padded by a burst length), so that silence is not correlated. */
function activeRuns(pcm: Int16Array, pad: number): [number, number][] {
  const runs: [number, number][] = [];
  let start = -1;
  let lastLoud = -1;
  for (let i = 0; i < pcm.length; i++) {
    if (pcm[i] !== 0) {
      if (start < 0) start = Math.max(0, i - pad);
      lastLoud = i;
    } else if (start >= 0 && i - lastLoud > pad) {
      runs.push([start, Math.min(pcm.length, lastLoud + pad)]);
      start = -1;
    }
  }
  if (start >= 0) runs.push([start, Math.min(pcm.length, lastLoud + pad)]);
  return runs;
}

const energy = (pcm: Int16Array, from: number, to: number): number => {
  let e = 0;
  for (let i = Math.max(0, from); i < Math.min(pcm.length, to); i++) e += pcm[i]! * pcm[i]!;
  return e;
};

/** The burst's first frame holds at least a tenth of the energy of its second (the first has the fade-in). */
function firstFrameIntact(pcm: Int16Array, off: number): boolean {
  const first = energy(pcm, off, off + FRAME_SAMPLES);
  const second = energy(pcm, off + FRAME_SAMPLES, off + 2 * FRAME_SAMPLES);
  return second > 0 && first >= 0.1 * second;
}

export interface AnalyseOptions {
  /** The listener's own burst id. */
  ownId: number;
  /** Burst ids to look for (every participant's, the listener's own included). */
  ids: readonly number[];
  /** Ear times later than this after a burst's mouth time are not that burst (default 500). */
  maxDelayMs?: number;
  threshold?: number;
  /** Delays below this are impossible (aliasing onto a later burst): counted as unmatched (default 20). */
  minDelayMs?: number;
  /** Count a burst as expected only when sent within [from, to] (ms): the listener's listening span. */
  expectFrom?: number;
  expectTo?: number;
}

export function analyseListener(listener: string, frames: readonly ReceivedFrame[], sent: readonly BurstSent[], o: AnalyseOptions): ListenerAnalysis {
  const maxDelay = o.maxDelayMs ?? 500;
  const minDelay = o.minDelayMs ?? 20;
  const { pcm, arrivalMs, gaps } = assemble(frames);
  const byId = new Map<number, BurstSent[]>();
  for (const s of sent) {
    const l = byId.get(s.id) ?? [];
    l.push(s);
    byId.set(s.id, l);
  }
  for (const l of byId.values()) l.sort((a, b) => a.mouthMs - b.mouthMs);
  const used = new Set<BurstSent>();
  const heard: Heard[] = [];
  let self = 0;
  let unmatched = 0;
  const pad = 400;
  for (const [a, b] of activeRuns(pcm, pad)) {
    const seg = pcm.subarray(a, b);
    for (const d of detectBursts(seg, o.ids, o.threshold !== undefined ? { threshold: o.threshold } : {})) {
      if (d.id === o.ownId) {
        self++;
        continue;
      }
      const off = a + d.offset;
      const frame = Math.floor(off / FRAME_SAMPLES);
      const at = arrivalMs[frame];
      if (at === undefined) {
        unmatched++;
        continue;
      }
      const earMs = at + ((off % FRAME_SAMPLES) * 1000) / SAMPLE_RATE;
      const cands = byId.get(d.id) ?? [];
      let match: BurstSent | undefined;
      for (const c of cands) if (c.mouthMs <= earMs && earMs - c.mouthMs <= maxDelay && !used.has(c)) match = c;
      if (!match || earMs - match.mouthMs < minDelay) {
        unmatched++;
        continue;
      }
      used.add(match);
      heard.push({ source: match.source, listener, id: d.id, mouthMs: match.mouthMs, earMs, delayMs: earMs - match.mouthMs, score: d.score, intact: firstFrameIntact(pcm, off) });
    }
  }
  const perSource: ListenerAnalysis['perSource'] = {};
  for (const s of sent) {
    if (s.id === o.ownId) continue;
    if (o.expectFrom !== undefined && s.mouthMs < o.expectFrom) continue;
    if (o.expectTo !== undefined && s.mouthMs > o.expectTo) continue;
    const r = (perSource[s.source] ??= { expected: 0, heard: 0 });
    r.expected++;
    if (used.has(s)) r.heard++;
  }
  return { listener, heard, self, unmatched, perSource, frames: frames.length, gaps };
}
