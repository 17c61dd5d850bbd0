/**
 * NTP-style clock offset estimation from round trips. One exchange gives
 * four times: t1 local send, t2 remote receive, t3 remote send, t4 local
 * receive (t1, t4 on the local clock; t2, t3 on the remote clock, same unit).
 *
 *   offset = ((t2 - t1) + (t3 - t4)) / 2     (remote clock minus local clock)
 *   rtt    = (t4 - t1) - (t3 - t2)
 *
 * Whatever the path asymmetry, the true offset lies within ±rtt/2 of the
 * estimate, so exchanges with the smallest round trip are the most precise:
 * the estimate is the median offset of the `keep` lowest-RTT exchanges and
 * its uncertainty half the smallest RTT among them plus the spread of their
 * offsets.
 */

export interface TimeExchange {
  t1: number;
  t2: number;
  t3: number;
  t4: number;
}

export interface OffsetSample {
  offset: number;
  rtt: number;
}

export interface OffsetEstimate {
  /** Remote clock minus local clock. Local time of a remote instant r: r - offset. */
  offset: number;
  /** Half the smallest round trip plus the spread of the kept offsets. */
  uncertainty: number;
  minRtt: number;
  /** Exchanges used / given (those with a negative RTT are discarded). */
  used: number;
  total: number;
}

export function exchangeSample(e: TimeExchange): OffsetSample {
  return { offset: (e.t2 - e.t1 + (e.t3 - e.t4)) / 2, rtt: e.t4 - e.t1 - (e.t3 - e.t2) };
}

/** Estimate the offset; undefined when no usable exchange was given. */
export function estimateOffset(exchanges: readonly TimeExchange[], keep = 3): OffsetEstimate | undefined {
  const samples = exchanges.map(exchangeSample).filter((s) => Number.isFinite(s.offset) && s.rtt >= 0);
  if (samples.length === 0) return undefined;
  samples.sort((a, b) => a.rtt - b.rtt);
  const best = samples.slice(0, Math.max(1, keep));
  const offsets = best.map((s) => s.offset).sort((a, b) => a - b);
  const mid = offsets.length >> 1;
  const offset = offsets.length % 2 ? offsets[mid]! : (offsets[mid - 1]! + offsets[mid]!) / 2;
  const spread = offsets[offsets.length - 1]! - offsets[0]!;
  const minRtt = best[0]!.rtt;
  return { offset, uncertainty: minRtt / 2 + spread / 2, minRtt, used: best.length, total: exchanges.length };
}
