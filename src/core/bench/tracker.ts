/**
 * Per-stream receive statistics: loss, reordering and duplicates over
 * extended sequence numbers (RFC 3550 A.1 style), one-way delay given a
 * clock offset, and RFC 3550 A.8 interarrival jitter. Pure: every arrival
 * time is passed in by the caller.
 */
import { summarizeExact, type Summary } from './summary.js';

export interface TrackerOptions {
  /** Sequence-number space: 2**16 for RTP, 2**32 for probe headers. */
  seqModulo?: number;
  /** RTP clock rate (Hz) for jitter; 1000 means timestamps are already ms. */
  clockRate?: number;
  /** Beyond this forward jump the packet counts as a restart candidate (A.1 MAX_DROPOUT). */
  maxDropout?: number;
  /** How far back (in sequence numbers) duplicates are still recognised. */
  dupWindow?: number;
}

export interface Arrival {
  /** Sequence number as sent (modulo `seqModulo`). */
  seq: number;
  /** Arrival time on the receiver's clock, ms. */
  arrivalMs: number;
  /** RTP timestamp (clock-rate units), for jitter. */
  rtpTimestamp?: number;
  /** Send time on the sender's clock, ms, for one-way delay. */
  sentMs?: number;
}

export interface StreamReport {
  received: number;
  /** Highest extended sequence minus the first plus one. */
  expected: number;
  lost: number;
  /** lost / expected, 0..1 (0 when nothing is expected). */
  lossRatio: number;
  reordered: number;
  duplicates: number;
  /** Packets whose sequence number jumped too far to place (counted, not used). */
  outOfRange: number;
  /** RFC 3550 jitter in ms; undefined without two timestamped packets. */
  jitterMs?: number;
  /** One-way delay summary (ms); undefined without an offset or send times. */
  oneWayDelayMs?: Summary;
}

export class ReceiveTracker {
  private readonly modulo: number;
  private readonly clockRate: number;
  private readonly maxDropout: number;
  private readonly dupWindow: number;
  private baseExt?: number;
  private maxExt = 0;
  private readonly seen = new Set<number>();
  private received = 0;
  private reordered = 0;
  private duplicates = 0;
  private outOfRange = 0;
  private jitter = 0; // timestamp units
  private lastTransit?: number;
  private jitterSamples = 0;
  private readonly owd: number[] = [];
  /** Remote clock minus local clock (ms), when known. */
  offsetMs?: number;

  constructor(o: TrackerOptions = {}) {
    this.modulo = o.seqModulo ?? 2 ** 16;
    this.clockRate = o.clockRate ?? 1000;
    this.maxDropout = o.maxDropout ?? Math.min(3000, this.modulo / 4);
    this.dupWindow = o.dupWindow ?? 8192;
  }

  /** Extend a sequence number relative to the highest seen so far. */
  private extend(seq: number): number {
    const M = this.modulo;
    const cur = this.maxExt % M;
    const cycles = this.maxExt - cur;
    const forward = (seq - cur + M) % M; // distance ahead, modulo
    if (forward < M / 2) return cycles + cur + forward; // ahead (maybe wrapped)
    return cycles + cur - (M - forward); // behind
  }

  /** Record one packet. Returns its extended sequence number, or undefined when out of range. */
  add(a: Arrival): number | undefined {
    if (this.baseExt === undefined) {
      this.baseExt = this.maxExt = a.seq;
      this.accept(a.seq, a);
      return a.seq;
    }
    const ext = this.extend(a.seq);
    if (ext - this.maxExt > this.maxDropout || ext < this.baseExt) {
      this.outOfRange++;
      return undefined;
    }
    if (this.seen.has(ext)) {
      this.duplicates++;
      return ext;
    }
    if (ext < this.maxExt) {
      if (this.maxExt - ext > this.dupWindow) {
        this.outOfRange++;
        return undefined;
      }
      this.reordered++;
    } else this.maxExt = ext;
    this.accept(ext, a);
    return ext;
  }

  private accept(ext: number, a: Arrival): void {
    this.received++;
    this.seen.add(ext);
    if (this.seen.size > this.dupWindow * 2) {
      const floor = this.maxExt - this.dupWindow;
      for (const s of this.seen) if (s < floor) this.seen.delete(s);
    }
    if (a.rtpTimestamp !== undefined) {
      // A.8: transit in timestamp units; J += (|D| - J) / 16.
      const arrivalTs = (a.arrivalMs * this.clockRate) / 1000;
      const transit = arrivalTs - a.rtpTimestamp;
      if (this.lastTransit !== undefined) {
        const d = Math.abs(transit - this.lastTransit);
        this.jitter += (d - this.jitter) / 16;
        this.jitterSamples++;
      }
      this.lastTransit = transit;
    }
    if (a.sentMs !== undefined && this.offsetMs !== undefined) this.owd.push(a.arrivalMs - (a.sentMs - this.offsetMs));
  }

  /** Jitter in timestamp units (as an RTCP receiver report carries it). */
  get jitterUnits(): number {
    return this.jitter;
  }

  report(): StreamReport {
    const expected = this.baseExt === undefined ? 0 : this.maxExt - this.baseExt + 1;
    const lost = Math.max(0, expected - this.received);
    const r: StreamReport = {
      received: this.received,
      expected,
      lost,
      lossRatio: expected ? lost / expected : 0,
      reordered: this.reordered,
      duplicates: this.duplicates,
      outOfRange: this.outOfRange,
    };
    if (this.jitterSamples > 0) r.jitterMs = (this.jitter * 1000) / this.clockRate;
    const owd = summarizeExact(this.owd);
    if (owd) r.oneWayDelayMs = owd;
    return r;
  }
}
