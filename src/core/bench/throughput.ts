/**
 * Data-channel throughput of a benchmark window and whether werift (the
 * process running it), rather than the network, held it back. Pure: the
 * runner passes what it measured.
 *
 * Throughput is the payload that made the round trip: reliable probes sent in
 * the window and echoed, times the probe size, per second of sending, per
 * connection side (one direction of one reliable channel; the echoes double
 * it on the wire). The offered rate is `--rate` x `--size`.
 *
 * werift runs SCTP, DTLS and SRTP in JavaScript on the process's one thread,
 * so the process, not the link, is the limit when
 * - that thread was (nearly) saturated during the window, or
 * - the path is local (loopback, a TURN server on this machine), where the
 *   link has capacity to spare at any rate the bench offers, and yet the
 *   senders could not send the offered rate or the echoes did not come back.
 * Over a real network a shortfall without a saturated process cannot be
 * attributed: the line says so.
 */
import type { ConnectionReport } from './report.js';

export interface DcThroughput {
  /** Offered payload per reliable channel and direction, bytes/s. */
  offeredBps: number;
  /** Reliable probes sent in the window, per side and second: bytes/s (mean over connection sides). */
  sentBps: number;
  /** Reliable probes sent in the window and echoed, per side and second: bytes/s (mean over connection sides). */
  reliableBps: number;
  /** The lowest of the connection sides, bytes/s. */
  minReliableBps: number;
  /** Connection sides measured. */
  sides: number;
}

/**
 * `sendMs`: how long the window sent probes (echoes of the last ones may arrive after it).
 * undefined when no connection side measured a reliable channel (no figure from silence).
 */
export function dcThroughput(sides: readonly ConnectionReport[], traffic: { dataRate: number; dataSize: number }, sendMs: number): DcThroughput | undefined {
  const up = sides.filter((s) => s.state === 'up' && s.dc && s.dc.reliable.sent > 0);
  if (!up.length || !(sendMs > 0)) return undefined;
  const sent = up.map((s) => (s.dc!.reliable.sent * traffic.dataSize * 1000) / sendMs);
  const echoed = up.map((s) => (s.dc!.reliable.echoed * traffic.dataSize * 1000) / sendMs);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    offeredBps: traffic.dataRate * traffic.dataSize,
    sentBps: mean(sent),
    reliableBps: mean(echoed),
    minReliableBps: Math.min(...echoed),
    sides: up.length,
  };
}

export interface LimitInput {
  throughput?: DcThroughput;
  /** CPU time of the process that runs the peers, during the window (ms); undefined when not measured. */
  windowCpuMs?: number;
  windowMs: number;
  /** Every connection runs over this machine (loopback, or a TURN server on it). */
  localPath: boolean;
}

export type LimitKind = 'werift' | 'none' | 'unknown';

export interface LimitVerdict {
  /** werift: the process running werift held the traffic back; none: the offered rate went through; unknown: not attributable. */
  limit: LimitKind;
  /** CPU of the process over the window, as a share of one core. */
  cpuShare?: number;
  reasons: string[];
}

/** A process at or above this share of one core counts as saturated (its one JavaScript thread is busy). */
export const CPU_SATURATED = 0.9;
/** Below this share of the offered rate, the traffic fell short. */
export const SHORTFALL = 0.9;

export function weriftLimit(i: LimitInput): LimitVerdict {
  const out: LimitVerdict = { limit: 'none', reasons: [] };
  if (i.windowCpuMs !== undefined && i.windowMs > 0) out.cpuShare = i.windowCpuMs / i.windowMs;
  const t = i.throughput;
  if (!t) {
    out.limit = 'unknown';
    out.reasons.push('no reliable data channel was measured');
    return out;
  }
  const saturated = out.cpuShare !== undefined && out.cpuShare >= CPU_SATURATED;
  const sendShort = t.sentBps < SHORTFALL * t.offeredBps;
  const echoShort = t.reliableBps < SHORTFALL * t.sentBps;
  if (saturated) out.reasons.push(`the process running the peers used ${(out.cpuShare! * 100).toFixed(0)}% of a core during the window`);
  if (sendShort) out.reasons.push(`the senders handed over ${pct(t.sentBps / t.offeredBps)} of the offered rate`);
  if (echoShort) out.reasons.push(`${pct(t.reliableBps / t.sentBps)} of what was sent came back within the window`);
  if (saturated || ((sendShort || echoShort) && i.localPath)) {
    out.limit = 'werift';
    if (!saturated) out.reasons.push('the path is local, so the link had capacity to spare');
  } else if (sendShort || echoShort) {
    out.limit = 'unknown';
    out.reasons.push('the process was not saturated: the network or werift, not told apart over a real network');
  }
  return out;
}

const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
const rate = (bps: number) => (bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} MB/s` : `${(bps / 1e3).toFixed(1)} kB/s`);

/** One line for the human output. */
export function limitLine(t: DcThroughput | undefined, v: LimitVerdict): string {
  const head = t ? `data channel: ${rate(t.reliableBps)} per reliable channel and direction (offered ${rate(t.offeredBps)}, lowest side ${rate(t.minReliableBps)})` : 'data channel: no throughput measured';
  const cpu = v.cpuShare !== undefined ? `, process CPU ${pct(v.cpuShare)} of a core` : '';
  if (v.limit === 'werift') return `${head}; limited by werift in this process, not the network: ${v.reasons.join('; ')}`;
  if (v.limit === 'unknown') return `${head}; limit not attributed: ${v.reasons.join('; ')}`;
  return `${head}; the offered rate went through${cpu}`;
}
