/**
 * The verdict of a `rtcprobe turn` run, from its rows alone: works, not
 * verified or failed; whether it is ok (exit 0; otherwise the diagnosis found
 * a problem, exit 1); the distinct warning labels for the headline; and which
 * measured path the report shows as the relay. Pure: no I/O, no clock.
 */
import type { CheckRow, CheckStatus, RelaySummary, ReportPath, TurnVerdict, Unverified } from './report.js';

/** The first line of the human output: the verdict in words, and the hint of the first failure. */
export interface Headline {
  status: 'ok' | 'warn' | 'fail';
  text: string;
  hint?: string;
}

export type RowCounts = Record<CheckStatus, number>;

export interface Judgement {
  verdict: TurnVerdict;
  /** True only for "works": the run exits 0. */
  ok: boolean;
  /** Distinct labels of the warning rows, in the order they first appear. */
  warnings: string[];
  /** The path to show (channels that carried data first, then any path that did, then the first); null when none was measured. */
  relay: RelaySummary | null;
  headline: Headline;
}

/**
 * A failed row fails the run; otherwise a server that was reached but not
 * verified (no allocation) makes it "not verified"; only then does it work.
 */
export function judgeRun(rows: readonly CheckRow[], unverified: readonly Unverified[], paths: readonly ReportPath[]): Judgement {
  const failed = rows.some((r) => r.status === 'fail');
  const verdict: TurnVerdict = failed ? 'failed' : unverified.length > 0 ? 'not-verified' : 'works';
  const warnings = [...new Set(rows.filter((r) => r.status === 'warn').map((r) => r.label!))];
  return {
    verdict,
    ok: verdict === 'works',
    warnings,
    relay: relaySummary(paths),
    headline: headlineOf(rows, verdict, unverified, warnings),
  };
}

/** How many rows have each status. */
export function countRows(rows: readonly CheckRow[]): RowCounts {
  const n: RowCounts = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of rows) n[r.status]++;
  return n;
}

/** The counts in words: "3 passed, 1 warning(s), 0 failed, 2 skipped". */
export function countsText(n: RowCounts): string {
  return `${n.pass} passed, ${n.warn} warning(s), ${n.fail} failed, ${n.skip} skipped`;
}

/**
 * The headline, verdict first: the first failed row (with its hint); else,
 * when a server was not verified, why (its reason, or the servers); else
 * "works", with the number of warning rows and their distinct labels.
 */
export function headlineOf(rows: readonly CheckRow[], verdict: TurnVerdict, unverified: readonly Unverified[], warnings: readonly string[]): Headline {
  const first = rows.find((r) => r.status === 'fail');
  if (first) return { status: 'fail', text: `TURN check failed: ${first.detail}`, ...(first.hint ? { hint: first.hint } : {}) };
  if (verdict === 'not-verified') {
    const why = unverified.length === 1 ? unverified[0]!.reason : `${unverified.length} servers not verified (${unverified.map((x) => x.server).join(', ')})`;
    return { status: 'warn', text: `TURN server reached, but not verified: ${why}` };
  }
  const warned = rows.filter((r) => r.status === 'warn').length;
  if (warned > 0) return { status: 'warn', text: `TURN server works, with ${warned} warning${warned === 1 ? '' : 's'}: ${warnings.join(', ')}` };
  return { status: 'ok', text: 'TURN server works' };
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
