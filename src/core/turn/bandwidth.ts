/**
 * Bandwidth search over a relayed path: the send rate is raised in steps
 * from a low start until the loss of a step exceeds a threshold, as
 * turnutils_uclient -m does by hand. The ramp logic is a pure state machine
 * (BandwidthRamp); runBandwidth drives it with measurePath.
 */
import { measurePath, type PathEnds, type PathMode, type PathResult } from './datapath.js';

/** Payload bytes of the messages of the bandwidth search: media-sized, well below a 1500-byte MTU with headers. */
export const BANDWIDTH_SIZE = 1000;

export interface BandwidthOptions {
  /** First rate, payload bits per second from A to B. */
  startBps: number;
  /** Highest rate tried. */
  maxBps: number;
  /** Rate multiplier between steps (> 1). */
  factor: number;
  /** Loss above this fraction ends the ramp (after one confirming retry). */
  lossThreshold: number;
  /** Payload bytes per message. */
  size: number;
  /** Duration of one step's sending, ms. */
  stepMs: number;
  /** Wait for late echoes after a step, ms. */
  drain: number;
  signal?: AbortSignal;
}

export interface BandwidthStep {
  /** Rate asked for, payload bit/s A to B. */
  targetBps: number;
  /** Rate actually sent. */
  sentBps: number;
  /** Rate of payload that made the round trip (A to B through the relay and back). */
  receivedBps: number;
  sent: number;
  received: number;
  loss: number;
}

export type BandwidthStop =
  /** A step lost more than the threshold, twice in a row. */
  | 'loss'
  /** This machine could not send at the rate asked for: the server was not the limit. */
  | 'sender'
  /** The highest rate asked for passed. */
  | 'max'
  /** Nothing came back at the first rate: no figure. */
  | 'silence';

export interface BandwidthResult {
  size: number;
  lossThreshold: number;
  steps: BandwidthStep[];
  /** Highest round-trip payload rate of a step whose loss was within the threshold; absent when none passed. */
  bestBps?: number;
  /** The rate asked for at which loss beyond the threshold began (stop 'loss' only). */
  lossStartBps?: number;
  /** The loss measured there. */
  lossStartLoss?: number;
  stoppedBy: BandwidthStop;
}

/** Share of the asked-for rate that must really be sent for a step to count as a test of the server. */
const SENDER_SHORTFALL = 0.7;

/** Bisection steps between the last rate that passed and the first that lost, after the doubling ramp. */
const REFINE_STEPS = 2;

/**
 * The ramp as a state machine: ask next() for a rate, give record() what was
 * measured. Rates double until a step loses more than the threshold twice
 * in a row; then up to two steps at the geometric mean of the last passing
 * and the first losing rate narrow the gap.
 */
export class BandwidthRamp {
  readonly steps: BandwidthStep[] = [];
  private target: number;
  private retried = false;
  private stop: BandwidthStop | undefined;
  private lossAt: BandwidthStep | undefined;
  private passedTarget: number | undefined;
  private refinesLeft = REFINE_STEPS;

  constructor(private readonly o: Pick<BandwidthOptions, 'startBps' | 'maxBps' | 'factor' | 'lossThreshold'>) {
    if (!(o.factor > 1)) throw new RangeError('factor must be > 1');
    this.target = Math.min(o.startBps, o.maxBps);
  }

  /** The next rate to try, or undefined when the ramp is over. */
  next(): number | undefined {
    return this.stop ? undefined : this.target;
  }

  record(s: BandwidthStep): void {
    this.steps.push(s);
    if (s.received === 0 && this.passedTarget === undefined) {
      this.stop = 'silence';
      return;
    }
    if (s.loss > this.o.lossThreshold) {
      // One retry at the same rate: a single bad second on a loaded machine is not the limit.
      if (!this.retried) {
        this.retried = true;
        return;
      }
      this.retried = false;
      this.lossAt = s;
      this.narrowOrStop();
      return;
    }
    this.retried = false;
    this.passedTarget = Math.max(this.passedTarget ?? 0, s.targetBps);
    if (s.sentBps < s.targetBps * SENDER_SHORTFALL) {
      this.stop = 'sender';
      return;
    }
    if (this.lossAt) {
      this.narrowOrStop();
      return;
    }
    if (this.target >= this.o.maxBps) {
      this.stop = 'max';
      return;
    }
    this.target = Math.min(this.o.maxBps, Math.round(this.target * this.o.factor));
  }

  private narrowOrStop(): void {
    const lo = this.passedTarget;
    const hi = this.lossAt!.targetBps;
    if (lo === undefined || this.refinesLeft <= 0 || hi / lo < 1.2) {
      this.stop = 'loss';
      return;
    }
    this.refinesLeft--;
    this.target = Math.round(Math.sqrt(lo * hi));
  }

  result(size: number): BandwidthResult {
    const passed = this.steps.filter((x) => x.loss <= this.o.lossThreshold && x.received > 0);
    const best = passed.length ? Math.max(...passed.map((x) => x.receivedBps)) : undefined;
    return {
      size,
      lossThreshold: this.o.lossThreshold,
      steps: this.steps,
      ...(best !== undefined ? { bestBps: best } : {}),
      ...(this.lossAt ? { lossStartBps: this.lossAt.targetBps, lossStartLoss: this.lossAt.loss } : {}),
      stoppedBy: this.stop ?? (passed.length ? 'max' : 'silence'),
    };
  }
}

export function stepOf(targetBps: number, size: number, r: PathResult): BandwidthStep {
  const bitsPerMsg = size * 8;
  return {
    targetBps,
    sentBps: Math.round(r.sendRate * bitsPerMsg),
    receivedBps: r.throughput.bitsPerSecond,
    sent: r.sent,
    received: r.received,
    loss: r.loss,
  };
}

export async function runBandwidth(ends: PathEnds, mode: PathMode, o: BandwidthOptions): Promise<BandwidthResult> {
  const ramp = new BandwidthRamp(o);
  for (let target = ramp.next(); target !== undefined; target = ramp.next()) {
    const rate = Math.max(1, target / (o.size * 8));
    const count = Math.max(10, Math.round((rate * o.stepMs) / 1000));
    const r = await measurePath(ends, mode, { count, size: o.size, rate, drain: o.drain, ...(o.signal ? { signal: o.signal } : {}) });
    ramp.record(stepOf(target, o.size, r));
  }
  return ramp.result(o.size);
}
