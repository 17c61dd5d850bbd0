/**
 * Receive statistics when several sources share one connection (a room
 * server forwards every other participant's streams): one ReceiveTracker per
 * source (RTP SSRC, or the stream id a server puts in forwarded probes), and
 * a report that sums them. With a single source the report is that source's,
 * unchanged. Pure.
 */
import { ReceiveTracker, type Arrival, type StreamReport, type TrackerOptions } from './tracker.js';

export class SourceTrackers {
  private readonly bySource = new Map<number, ReceiveTracker>();

  constructor(private readonly options: TrackerOptions) {}

  add(source: number, a: Arrival): void {
    let t = this.bySource.get(source);
    if (!t) {
      t = new ReceiveTracker(this.options);
      this.bySource.set(source, t);
    }
    t.add(a);
  }

  get size(): number {
    return this.bySource.size;
  }

  /** The sum over sources; jitter is the mean of the sources' jitters. */
  report(): StreamReport {
    const reports = [...this.bySource.values()].map((t) => t.report());
    if (reports.length === 1) return reports[0]!;
    if (reports.length === 0) return new ReceiveTracker(this.options).report();
    const sum = (f: (r: StreamReport) => number) => reports.reduce((a, r) => a + f(r), 0);
    const expected = sum((r) => r.expected);
    const lost = sum((r) => r.lost);
    const jit = reports.filter((r) => r.jitterMs !== undefined).map((r) => r.jitterMs!);
    return {
      received: sum((r) => r.received),
      expected,
      lost,
      lossRatio: expected ? lost / expected : 0,
      reordered: sum((r) => r.reordered),
      duplicates: sum((r) => r.duplicates),
      outOfRange: sum((r) => r.outOfRange),
      ...(jit.length ? { jitterMs: jit.reduce((a, b) => a + b, 0) / jit.length } : {}),
    };
  }
}
