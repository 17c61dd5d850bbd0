/**
 * Data-channel traffic on top of a minimal channel interface (the peer
 * adapter wraps werift's RTCDataChannel in it): a pacer with back-pressure,
 * the probe echoer, and probe runs that measure round trips.
 *
 * Why a pacer: werift as published queues every send() as its own SCTP send
 * that waits, each with a fresh listener, for the whole outbound queue to
 * drain. With thousands of messages queued at once each flush wakes and
 * re-subscribes every waiter (quadratic work per flush), so a burst stalls
 * the process. patches/ fixes that in werift (docs/rtc.md), but an install
 * of rtcprobe as a dependency runs werift unpatched, and even patched werift
 * carries more when fed steadily than when handed a large backlog. Keeping
 * bufferedAmount under a high-water mark keeps that queue short either way.
 */
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { decodeProbe, encodeProbe, markEcho, type ProbeKind } from '../bench/probe.js';
import type { TimeExchange } from '../bench/clock.js';

export interface Clock {
  /** Monotonic clock, µs. */
  nowUs(): number;
  /** Wall clock, ms since the Unix epoch. */
  wallMs(): number;
}

export const systemClock: Clock = { nowUs: () => performance.now() * 1000, wallMs: () => Date.now() };

/** What the traffic code needs from a data channel. */
export interface DataPipe {
  readonly label: string;
  readonly isOpen: boolean;
  readonly bufferedAmount: number;
  bufferedAmountLowThreshold: number;
  send(data: Buffer): void;
  onMessage(cb: (data: Buffer) => void): () => void;
  onBufferedAmountLow(cb: () => void): () => void;
  onClose(cb: () => void): () => void;
}

/**
 * Default send rate. Measured on loopback (bench/peers/run.mjs): a steady
 * rate keeps werift's SCTP queue nearly empty, so each send resolves at once;
 * back-pressure alone (stop-and-go on bufferedAmount) is several times slower.
 */
export const DEFAULT_MESSAGES_PER_MS = 10;

export interface PacerOptions {
  /** Stop handing messages to the channel at this many buffered bytes (default 16 KiB). */
  highWaterBytes?: number;
  /** bufferedAmountLowThreshold: resume below this many bytes (default 4 KiB). */
  lowWaterBytes?: number;
  /**
   * Stop at this many messages still inside werift (default 64). werift's
   * cost per SCTP flush grows with the square of this number, so it is
   * bounded by count as well as by bytes.
   */
  highWaterMessages?: number;
  /** At most this many messages per millisecond (default 10; Infinity: back-pressure only). */
  messagesPerMs?: number;
}

/** While blocked by back-pressure, look again this often (werift's bufferedamountlow only fires on a crossing). */
const RECHECK_MS = 2;

/**
 * Hands queued messages to a channel no faster than a rate and never above
 * a buffered-amount or outstanding-message high-water mark; resumes on
 * bufferedamountlow (and a short re-check while blocked).
 */
export class Pacer {
  private readonly queue: Buffer[] = [];
  private head = 0;
  /** Sizes of messages handed to werift and not yet out of bufferedAmount (FIFO). */
  private readonly inflight: number[] = [];
  private inflightHead = 0;
  private inflightBytes = 0;
  private timer?: NodeJS.Timeout;
  private readonly offLow: () => void;
  private readonly offClose: () => void;
  private closed = false;
  private tokens: number;
  private lastRefill: number;
  private readonly highBytes: number;
  private readonly highMessages: number;
  private readonly rate: number;
  private drainWaiters: { resolve: () => void; reject: (e: RtcprobeError) => void }[] = [];
  /** Messages handed to the channel. */
  sent = 0;
  /** Highest bufferedAmount seen right after a send. */
  peakBuffered = 0;
  /** Highest number of messages inside werift at once. */
  peakMessages = 0;

  constructor(readonly pipe: DataPipe, o: PacerOptions = {}, private readonly nowMs: () => number = () => performance.now()) {
    this.highBytes = o.highWaterBytes ?? 16 * 1024;
    this.highMessages = o.highWaterMessages ?? 64;
    this.rate = o.messagesPerMs ?? DEFAULT_MESSAGES_PER_MS;
    this.tokens = Number.isFinite(this.rate) ? Math.max(1, this.rate) : Infinity;
    this.lastRefill = nowMs();
    pipe.bufferedAmountLowThreshold = Math.min(o.lowWaterBytes ?? 4 * 1024, this.highBytes);
    this.offLow = pipe.onBufferedAmountLow(() => this.pumpSafely());
    this.offClose = pipe.onClose(() => this.close(new RtcprobeError('CONNECTION', `data channel "${pipe.label}" closed`)));
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Messages handed to werift whose bytes are still buffered (werift completes them in order). */
  get outstanding(): number {
    const buffered = this.pipe.bufferedAmount;
    while (this.inflightHead < this.inflight.length && this.inflightBytes > buffered) this.inflightBytes -= this.inflight[this.inflightHead++]!;
    if (this.inflightHead === this.inflight.length) {
      this.inflight.length = 0;
      this.inflightHead = 0;
      this.inflightBytes = 0;
    }
    return this.inflight.length - this.inflightHead;
  }

  send(data: Buffer): void {
    if (this.closed) throw new RtcprobeError('CONNECTION', `data channel "${this.pipe.label}" is closed`);
    this.queue.push(data);
    this.pump();
  }

  private pump(): void {
    if (this.closed) return;
    if (Number.isFinite(this.rate)) {
      const now = this.nowMs();
      this.tokens = Math.min(Math.max(1, this.rate), this.tokens + (now - this.lastRefill) * this.rate);
      this.lastRefill = now;
    }
    let outstanding = this.outstanding;
    while (this.head < this.queue.length && this.tokens >= 1 && this.pipe.bufferedAmount < this.highBytes && outstanding < this.highMessages) {
      const msg = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Buffer;
      this.tokens -= 1;
      const before = this.pipe.bufferedAmount;
      this.pipe.send(msg);
      this.sent++;
      const added = this.pipe.bufferedAmount - before;
      if (added > 0) {
        this.inflight.push(added);
        this.inflightBytes += added;
        outstanding++;
      }
      if (this.pipe.bufferedAmount > this.peakBuffered) this.peakBuffered = this.pipe.bufferedAmount;
      if (outstanding > this.peakMessages) this.peakMessages = outstanding;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const x of w) x.resolve();
      return;
    }
    if (this.timer) return;
    // Blocked by the rate (wait for a token) or by back-pressure (bufferedamountlow, or look again soon).
    const wait = this.tokens < 1 ? Math.max(1, Math.ceil((1 - this.tokens) / this.rate)) : RECHECK_MS;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pumpSafely();
    }, wait);
  }

  /** pump() from a timer or a werift event: a failing send closes the pacer instead of throwing into werift. */
  private pumpSafely(): void {
    try {
      this.pump();
    } catch (err) {
      this.close(toRtcprobeError(err, `data channel "${this.pipe.label}"`));
    }
  }

  /** Resolves once every queued message was handed to the channel. */
  drained(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return withDeadline<void>(timeoutMs, signal, `data channel "${this.pipe.label}" did not drain`, (resolve, reject) => {
      const w = { resolve, reject };
      this.drainWaiters.push(w);
      return () => {
        this.drainWaiters = this.drainWaiters.filter((x) => x !== w);
      };
    });
  }

  close(err?: RtcprobeError): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.offLow();
    this.offClose();
    this.queue.length = 0;
    this.head = 0;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const x of w) x.reject(err ?? new RtcprobeError('ABORTED', 'pacer closed'));
  }
}

/**
 * A promise with a timeout and an AbortSignal. `body` gets resolve/reject and
 * returns its cleanup, called however the promise settles. `what` names what
 * did not happen; a function is called when the deadline passes.
 */
export function withDeadline<T>(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  what: string | (() => string),
  body: (resolve: (v: T) => void, reject: (e: RtcprobeError) => void) => (() => void) | void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal.reason }));
    let done = false;
    let cleanup: (() => void) | void;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (cleanup) cleanup();
      fn();
    };
    const onAbort = () => finish(() => reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal?.reason })));
    const timer = setTimeout(() => finish(() => reject(new RtcprobeError('TIMEOUT', `${typeof what === 'function' ? what() : what} within ${timeoutMs} ms`))), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    cleanup = body(
      (v) => finish(() => resolve(v)),
      (e) => finish(() => reject(e)),
    );
    if (done && cleanup) cleanup();
  });
}

/**
 * Answer every probe arriving on `pipe` with its echo (flag set, echoer's
 * receive/send times filled in). Echoes go through `pacer` when given.
 * Returns a function that stops echoing.
 */
export function startEcho(pipe: DataPipe, clock: Clock = systemClock, pacer?: Pacer): () => void {
  return pipe.onMessage((data) => {
    const recvUs = clock.nowUs();
    const h = decodeProbe(data);
    if (!h || h.echo) return;
    const out = Buffer.from(data); // werift may reuse the buffer
    markEcho(out, recvUs, clock.nowUs());
    try {
      if (pacer) pacer.send(out);
      else if (pipe.isOpen) pipe.send(out);
    } catch {
      // The channel or the pacer closed under us: the sender sees the probe as lost.
    }
  });
}

export interface ProbeRunOptions {
  count: number;
  /** Gap between probes, ms (0: all queued at once, paced by the pacer). Ignored when sequential. */
  intervalMs?: number;
  /** Send the next probe only after the previous one came back (ping-pong). */
  sequential?: boolean;
  /** Bytes per message (at least the 48-byte header; default 100). */
  payloadBytes?: number;
  streamId?: number;
  kind?: ProbeKind;
  /** Overall limit for the run, ms. */
  timeoutMs: number;
  /** After the last send, wait at most this long for outstanding echoes (default 2000). */
  settleMs?: number;
  signal?: AbortSignal;
  clock?: Clock;
  pacer?: Pacer;
}

export interface ProbeRunResult {
  sent: number;
  /** Echoes received (unique). */
  received: number;
  duplicates: number;
  /** Round trip of each echoed probe, ms, in arrival order (t4 - t1). */
  rttMs: number[];
  /** Four timestamps per echo (µs), for clock-offset estimation. */
  exchanges: TimeExchange[];
  /** Sequence numbers that never came back. */
  missing: number[];
  /** true when the run stopped at its timeout before every echo came back. */
  timedOut: boolean;
  durationMs: number;
}

/** Send probes on `pipe` and collect their echoes. Rejects only on abort or a closed channel. */
export async function runProbes(pipe: DataPipe, o: ProbeRunOptions): Promise<ProbeRunResult> {
  const clock = o.clock ?? systemClock;
  const size = Math.max(48, o.payloadBytes ?? 100);
  const streamId = o.streamId ?? 1;
  const sentAt = new Set<number>();
  const back = new Set<number>();
  const res: ProbeRunResult = { sent: 0, received: 0, duplicates: 0, rttMs: [], exchanges: [], missing: [], timedOut: false, durationMs: 0 };
  const t0 = clock.nowUs();
  // One waiter at a time; woken by echoes, the channel closing, the deadline, a pause timer or abort.
  let waiter: { cond: () => boolean; resolve: () => void } | undefined;
  let closed = false;
  let expired = false;
  let aborted = false;
  const wake = () => {
    if (waiter && (closed || expired || aborted || waiter.cond())) {
      const w = waiter;
      waiter = undefined;
      w.resolve();
    }
  };
  const waitFor = (cond: () => boolean) =>
    new Promise<void>((resolve) => {
      waiter = { cond, resolve };
      wake();
    });
  const off = pipe.onMessage((data) => {
    const t4 = clock.nowUs();
    const h = decodeProbe(data);
    if (!h || !h.echo || h.streamId !== streamId || !sentAt.has(h.seq)) return;
    if (back.has(h.seq)) {
      res.duplicates++;
      return;
    }
    back.add(h.seq);
    res.received++;
    res.rttMs.push((t4 - h.sentUs) / 1000);
    res.exchanges.push({ t1: h.sentUs, t2: h.echoRecvUs, t3: h.echoSendUs, t4 });
    wake();
  });
  const offClose = pipe.onClose(() => {
    closed = true;
    wake();
  });
  const deadline = setTimeout(() => {
    expired = true;
    wake();
  }, o.timeoutMs);
  const onAbort = () => {
    aborted = true;
    wake();
  };
  if (o.signal?.aborted) aborted = true;
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let pause: NodeJS.Timeout | undefined;
  let paused = false;
  const sleep = async (ms: number) => {
    if (ms <= 0) return;
    paused = true;
    pause = setTimeout(() => {
      paused = false;
      wake();
    }, ms);
    await waitFor(() => !paused);
    clearTimeout(pause);
  };
  try {
    for (let seq = 0; seq < o.count && !closed && !expired && !aborted; seq++) {
      const t1 = clock.nowUs();
      const msg = encodeProbe({ kind: o.kind ?? 'probe', echo: false, streamId, seq, sentUs: t1, sentWallMs: clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, size);
      sentAt.add(seq);
      if (o.pacer) o.pacer.send(msg);
      else pipe.send(msg);
      res.sent++;
      if (o.sequential) await waitFor(() => back.has(seq));
      else if ((o.intervalMs ?? 0) > 0 && seq + 1 < o.count) await sleep(t0 / 1000 + (seq + 1) * o.intervalMs! - clock.nowUs() / 1000);
    }
    if (!closed && !expired && !aborted && res.received < res.sent) {
      const settle = setTimeout(() => {
        expired = true;
        wake();
      }, o.settleMs ?? 2000);
      await waitFor(() => res.received >= res.sent);
      clearTimeout(settle);
    }
  } finally {
    off();
    offClose();
    clearTimeout(deadline);
    clearTimeout(pause);
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (aborted) throw new RtcprobeError('ABORTED', 'aborted', { cause: o.signal?.reason });
  if (closed && res.received < res.sent) throw new RtcprobeError('CONNECTION', `data channel "${pipe.label}" closed during the probe run`);
  res.timedOut = res.received < res.sent || res.sent < o.count;
  for (const s of sentAt) if (!back.has(s)) res.missing.push(s);
  res.durationMs = (clock.nowUs() - t0) / 1000;
  return res;
}
