/**
 * The run of `rtcprobe turn`: every target in turn, each through the stages
 * in ./stages/ in order (connect, allocate, relayed path, refresh, security,
 * quota, TCP relay, deallocate); an abort or an unexpected error becomes a
 * row and ends the run; whatever a server still holds is released at the
 * end of its check. The verdict comes from ./judge.ts.
 */
import { toRtcprobeError } from '../errors.js';
import { releaseAll, ServerCheck, uriTransport, type TurnCheckOptions, type TurnTarget } from './context.js';
import { judgeRun } from './judge.js';
import { Rows, type TurnReport } from './report.js';
import { allocate, credentialRows } from './stages/allocate.js';
import { connect, resolveServer } from './stages/connect.js';
import { deallocateCheck, refreshCheck } from './stages/deallocate.js';
import { quotaProbe } from './stages/quota.js';
import { relayPath } from './stages/relay-path.js';
import { securityProbes } from './stages/security.js';
import { tcpRelayProbe } from './stages/tcp-relay.js';

/** Run every check against every target. Never throws for network trouble. */
export async function runTurnChecks(targets: TurnTarget[], o: TurnCheckOptions): Promise<TurnReport> {
  const secrets = targets.flatMap((t) => [t.credentials?.password, t.credentials?.username]);
  const rows = new Rows(secrets);
  const report: TurnReport = { ok: false, verdict: 'failed', headline: { status: 'fail', text: '' }, unverified: [], warnings: [], checks: rows.rows, relay: null, paths: [], bandwidth: [], servers: [] };

  credentialRows(targets, o, rows);

  const usedIds = new Map<string, number>();
  let securityDone = false;
  let quotaDone = false;
  for (const t of targets) {
    const transport = uriTransport(t.spec);
    const n = (usedIds.get(transport) ?? 0) + 1;
    usedIds.set(transport, n);
    const prefix = n === 1 ? transport : `${transport}${n}`;
    const x: ServerCheck = new ServerCheck(t, o, rows, report, prefix, transport, o.security && !securityDone, o.quota > 0 && !quotaDone);
    try {
      await checkServer(x);
    } catch (err) {
      // Anything the stages did not turn into a row: an abort, or a bug. The rows so far stand.
      const e = toRtcprobeError(err);
      rows.add(`${prefix}.aborted`, 'fail', `${e.code}: ${e.message}`, e.code === 'ABORTED' ? 'the run was interrupted' : 'unexpected error; please report it', t.spec.input);
      if (e.code === 'ABORTED' || o.signal?.aborted) break;
    }
    if (!x.allocated) {
      report.unverified.push({ server: t.spec.input, reason: x.unverifiedReason ?? 'no allocation was made' });
    }
    securityDone ||= x.securityRan;
    quotaDone ||= x.quotaRan;
  }
  if (o.security && !securityDone) rows.add('security', 'skip', 'no allocation succeeded, so no permission could be probed', 'fix the failures above first');
  const j = judgeRun(rows.rows, report.unverified, report.paths);
  report.relay = j.relay;
  report.verdict = j.verdict;
  report.ok = j.ok;
  report.warnings = j.warnings;
  report.headline = j.headline;
  return report;
}

/** The stages of one server, in order; each adds its rows and says whether the next can run. */
async function checkServer(x: ServerCheck): Promise<void> {
  x.report.servers.push(x.info);
  x.progress('resolving');
  if (!(await resolveServer(x))) return;
  try {
    const connected = await connect(x);
    if (!connected) return;
    const a = await allocate(x, connected);
    if (!a) return;
    const b = await relayPath(x, a);
    await refreshCheck(x, a);
    if (x.wantSecurity) await securityProbes(x, a);
    if (x.wantQuota) await quotaProbe(x);
    if (x.o.tcpRelay) await tcpRelayProbe(x);
    await deallocateCheck(x, a);
    if (b?.allocation) await b.deallocate().catch(() => {});
  } finally {
    // Whatever is still allocated (after a failure or an abort) is released, in parallel.
    await releaseAll(x.clients);
  }
}
