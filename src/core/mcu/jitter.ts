/**
 * A per-participant jitter buffer for constant-rate audio (one RTP packet per
 * frame, e.g. PCMU 20 ms), and the steady frame clock that drives it. Pure:
 * packets and ticks are passed in; the clock reads a time the caller gives.
 *
 * Packets are ordered by extended sequence number (16-bit RTP sequence
 * numbers extended across wrap-around relative to the highest seen). The
 * buffer first fills to `depth` frames, then `tick()` plays one frame per
 * call: the packet of the next sequence number, or a concealed (missing)
 * frame when it has not arrived — the mixer treats that as silence.
 *
 * - A packet whose frame was already played or skipped is dropped as `late`,
 *   or as a `duplicate` when it had been received before (also while the
 *   buffer refills after a gap).
 * - A packet already waiting in the buffer is dropped as a `duplicate`.
 * - A packet too far ahead (at or beyond `capacity` frames past the next one
 *   to play) is an overrun: playback jumps forward so that the packet is
 *   `depth` frames ahead, the skipped frames are counted in `overrunSkipped`.
 * - A tick with nothing buffered is an underrun (also concealed). After
 *   `resetAfter` concealed ticks in a row the buffer goes back to filling, so
 *   a stream that pauses and resumes gets its depth back.
 *
 * The timestamp of a played frame is the packet's; for a concealed frame it
 * is extrapolated from the last played packet (`samplesPerFrame` per frame).
 */

export interface JitterOptions {
  /** Frames buffered before playback starts (default 3: 60 ms at 20 ms). */
  depth?: number;
  /** Frames the buffer spans at most, from the next one to play (default 4 × depth, at least depth + 1). */
  capacity?: number;
  /** RTP timestamp units per frame (default 160: 20 ms at 8 kHz). */
  samplesPerFrame?: number;
  /** Consecutive concealed ticks after which the buffer refills (default 50: 1 s at 20 ms). */
  resetAfter?: number;
  /**
   * On a tick with nothing buffered at all, conceal without moving on: the
   * frame due is probably late rather than lost (its sender stalled), and is
   * played when it comes instead of being dropped as late. The delay this
   * adds stays until something trims it (see LatencyTrim). Default false.
   */
  holdOnUnderrun?: boolean;
}

export type PushResult = 'queued' | 'duplicate' | 'late' | 'overrun';

export interface PlayedFrame<T> {
  /** RTP sequence number of the frame (16-bit). */
  seq: number;
  /** RTP timestamp (32-bit), extrapolated when concealed and known. */
  timestamp?: number;
  /** The packet's payload; undefined when concealed. */
  payload?: T;
  concealed: boolean;
}

export interface JitterStats {
  received: number;
  played: number;
  concealed: number;
  underruns: number;
  late: number;
  duplicates: number;
  overruns: number;
  overrunSkipped: number;
  /** Times the buffer went back to filling after a long gap. */
  resets: number;
}

interface Slot<T> {
  timestamp: number;
  payload: T;
}

const SEQ = 65536;

export class JitterBuffer<T> {
  readonly depth: number;
  readonly capacity: number;
  private readonly samplesPerFrame: number;
  private readonly resetAfter: number;
  private readonly holdOnUnderrun: boolean;
  private readonly slots = new Map<number, Slot<T>>();
  /** Extended sequence numbers received recently (for duplicates of played frames). */
  private readonly recent = new Set<number>();
  private maxExt?: number;
  /** Next extended sequence to play; undefined while filling. */
  private next?: number;
  private lastTs?: { ext: number; ts: number };
  /** After a refill: one past the last frame played, so stragglers stay late. */
  private playedUpTo?: number;
  private concealedRun = 0;
  readonly stats: JitterStats = { received: 0, played: 0, concealed: 0, underruns: 0, late: 0, duplicates: 0, overruns: 0, overrunSkipped: 0, resets: 0 };

  constructor(o: JitterOptions = {}) {
    this.depth = Math.max(1, Math.floor(o.depth ?? 3));
    this.capacity = Math.max(this.depth + 1, Math.floor(o.capacity ?? this.depth * 4));
    this.samplesPerFrame = o.samplesPerFrame ?? 160;
    this.resetAfter = Math.max(1, o.resetAfter ?? 50);
    this.holdOnUnderrun = o.holdOnUnderrun ?? false;
  }

  /** Frames waiting. */
  get size(): number {
    return this.slots.size;
  }

  /** True once the buffer has filled and plays. */
  get playing(): boolean {
    return this.next !== undefined;
  }

  private extend(seq: number): number {
    if (this.maxExt === undefined) return seq + SEQ; // start one cycle up so that early stragglers stay positive
    const cur = ((this.maxExt % SEQ) + SEQ) % SEQ;
    const forward = (seq - cur + SEQ) % SEQ;
    return forward < SEQ / 2 ? this.maxExt + forward : this.maxExt - (SEQ - forward);
  }

  push(seq: number, timestamp: number, payload: T): PushResult {
    const ext = this.extend(seq & 0xffff);
    if (this.slots.has(ext)) {
      this.stats.duplicates++;
      return 'duplicate';
    }
    const floor = this.next ?? this.playedUpTo;
    if (floor !== undefined && ext < floor) {
      if (this.recent.has(ext)) {
        this.stats.duplicates++;
        return 'duplicate';
      }
      this.stats.late++;
      return 'late';
    }
    let result: PushResult = 'queued';
    if (this.next !== undefined && ext - this.next >= this.capacity) {
      const newNext = ext - this.depth + 1;
      for (const k of [...this.slots.keys()]) if (k < newNext) this.slots.delete(k);
      this.stats.overruns++;
      this.stats.overrunSkipped += newNext - this.next;
      this.next = newNext;
      result = 'overrun';
    }
    if (this.next === undefined && this.maxExt !== undefined && ext - Math.min(...this.slots.keys()) >= this.capacity) {
      // Filling and the span grew too wide: forget what is too old.
      for (const k of [...this.slots.keys()]) if (ext - k >= this.capacity) this.slots.delete(k);
    }
    this.slots.set(ext, { timestamp: timestamp >>> 0, payload });
    this.remember(ext);
    this.stats.received++;
    if (this.maxExt === undefined || ext > this.maxExt) this.maxExt = ext;
    if (this.next === undefined && this.slots.size >= this.depth) this.next = Math.min(...this.slots.keys());
    return result;
  }

  private remember(ext: number): void {
    this.recent.add(ext);
    if (this.recent.size > this.capacity * 4) {
      const floor = (this.maxExt ?? ext) - this.capacity * 2;
      for (const k of this.recent) if (k < floor) this.recent.delete(k);
    }
  }

  /** Play one frame period: undefined while filling, otherwise the next frame (maybe concealed). */
  tick(): PlayedFrame<T> | undefined {
    if (this.next === undefined) return undefined;
    if (this.holdOnUnderrun && this.slots.size === 0) return this.conceal(this.next);
    const ext = this.next++;
    const seq = ext % SEQ;
    const slot = this.slots.get(ext);
    if (slot) {
      this.slots.delete(ext);
      this.stats.played++;
      this.concealedRun = 0;
      this.lastTs = { ext, ts: slot.timestamp };
      return { seq, timestamp: slot.timestamp, payload: slot.payload, concealed: false };
    }
    return this.conceal(ext);
  }

  /** A concealed frame for `ext` (already moved past, or held when nothing is buffered). */
  private conceal(ext: number): PlayedFrame<T> {
    const seq = ext % SEQ;
    this.stats.concealed++;
    if (this.slots.size === 0) this.stats.underruns++;
    const frame: PlayedFrame<T> = { seq, concealed: true };
    if (this.lastTs) frame.timestamp = (this.lastTs.ts + (ext - this.lastTs.ext) * this.samplesPerFrame) >>> 0;
    if (++this.concealedRun >= this.resetAfter && this.slots.size === 0) {
      this.playedUpTo = this.next;
      this.next = undefined;
      this.concealedRun = 0;
      this.stats.resets++;
    }
    return frame;
  }
}

/**
 * A steady frame clock: frame k is due at start + k × period, whatever the
 * timer jitter. `due(now)` says how many frames to produce now; after a stall
 * longer than `maxCatchUp` frames the excess is skipped (counted), so the
 * output never bursts more than that.
 */
export class FrameClock {
  private emitted = 0;
  skipped = 0;

  constructor(
    private readonly startMs: number,
    readonly periodMs = 20,
    private readonly maxCatchUp = 5,
  ) {}

  due(nowMs: number): number {
    const target = Math.floor((nowMs - this.startMs) / this.periodMs) + 1; // frame 0 is due at start
    let n = target - this.emitted;
    if (n <= 0) return 0;
    if (n > this.maxCatchUp) {
      this.skipped += n - this.maxCatchUp;
      n = this.maxCatchUp;
    }
    this.emitted = target;
    return n;
  }

  /** When the next frame is due (ms, the caller's clock). */
  nextDueMs(): number {
    return this.startMs + this.emitted * this.periodMs;
  }
}
