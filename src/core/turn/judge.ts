/**
 * The verdict of a `rtcprobe turn` run, from its rows alone: works, not
 * verified or failed; whether it is ok (exit 0; otherwise the diagnosis found
 * a problem, exit 1); the distinct warning labels for the headline; and which
 * measured path the report shows as the relay. Pure: no I/O, no clock.
 */
import type { CheckRow, RelaySummary, ReportPath, TurnVerdict, Unverified } from './report.js';

export interface Judgement {
  verdict: TurnVerdict;
  /** True only for "works": the run exits 0. */
  ok: boolean;
  /** Distinct labels of the warning rows, in the order they first appear. */
  warnings: string[];
  /** The path to show (channels that carried data first, then any path that did, then the first); null when none was measured. */
  relay: RelaySummary | null;
}

/**
 * A failed row fails the run; otherwise a server that was reached but not
 * verified (no allocation) makes it "not verified"; only then does it work.
 */
export function judgeRun(rows: readonly CheckRow[], unverified: readonly Unverified[], paths: readonly ReportPath[]): Judgement {
  const failed = rows.some((r) => r.status === 'fail');
  const verdict: TurnVerdict = failed ? 'failed' : unverified.length > 0 ? 'not-verified' : 'works';
  return {
    verdict,
    ok: verdict === 'works',
    warnings: [...new Set(rows.filter((r) => r.status === 'warn').map((r) => r.label!))],
    relay: relaySummary(paths),
  };
}

function relaySummary(paths: readonly ReportPath[]): RelaySummary | null {
  const first = paths.find((p) => p.mode === 'channel' && p.received > 0) ?? paths.find((p) => p.received > 0) ?? paths[0];
  if (!first) return null;
  return {
    server: first.server,
    transport: first.transport,
    address: first.relayA,
    ...(first.rtt ? { rtt: { min: first.rtt.min, median: first.rtt.median, p95: first.rtt.p95, p99: first.rtt.p99, max: first.rtt.max } } : {}),
    loss: first.loss,
    ...(first.jitter !== undefined ? { jitter: first.jitter } : {}),
    throughput: first.throughput,
    mode: first.mode,
  };
}
