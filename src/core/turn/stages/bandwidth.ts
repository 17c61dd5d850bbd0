/**
 * The bandwidth search (--bandwidth) on the relayed path that already
 * carried messages: the rate ramp of ../bandwidth.ts, as one row and an entry
 * of the report's bandwidth list. Called by the relayed-path stage.
 * Row: bandwidth.
 */
import { BANDWIDTH_SIZE, runBandwidth } from '../bandwidth.js';
import type { ServerCheck } from '../context.js';
import type { PathEnds, PathMode } from '../datapath.js';
import { BANDWIDTH_LIMIT } from '../hints.js';
import { formatBps } from '../units.js';

export async function bandwidthCheck(x: ServerCheck, ends: PathEnds, mode: PathMode, b: { maxBps: number; lossThreshold: number }): Promise<void> {
  const { o } = x;
  x.progress('searching the relayed bandwidth');
  const r = await runBandwidth(ends, mode, {
    startBps: Math.min(100_000, b.maxBps),
    maxBps: b.maxBps,
    factor: 2,
    lossThreshold: b.lossThreshold,
    size: BANDWIDTH_SIZE,
    stepMs: 1000,
    drain: Math.max(1000, Math.min(o.timeout, 2000)),
    ...x.signalOption,
  });
  x.report.bandwidth.push({ ...r, server: x.label, transport: x.transport, mode });
  const pct = `${+(b.lossThreshold * 100).toFixed(2)}%`;
  const what = `${mode === 'channel' ? 'ChannelData' : 'Send/Data indications'}, ${r.size}-byte messages echoed back, ${r.steps.length} steps of 1 s`;
  if (r.bestBps === undefined) {
    x.add('bandwidth', 'warn', `no step passed: at the first rate, ${formatBps(r.steps[0]?.targetBps ?? 0)}, ${r.steps[0] ? `${r.steps[0].received}/${r.steps[0].sent} messages came back` : 'nothing was sent'} (${what})`,
      'no throughput figure: the relayed path lost messages even at a low rate; check the relay-path rows and the server load', 'bandwidth not measured');
    return;
  }
  const best = `highest relayed rate with loss <= ${pct}: ${formatBps(r.bestBps)} each way`;
  if (r.stoppedBy === 'loss') {
    x.add('bandwidth', 'pass', `${best}; loss began when ${formatBps(r.lossStartBps!)} was sent (${(r.lossStartLoss! * 100).toFixed(1)}% lost) (${what})`, x.hint(BANDWIDTH_LIMIT));
  } else if (r.stoppedBy === 'sender') {
    const last = r.steps[r.steps.length - 1]!;
    x.add('bandwidth', 'pass', `${best}; this machine could send only ${formatBps(last.sentBps)} of the ${formatBps(last.targetBps)} asked for, so the server's limit lies above (${what})`);
  } else {
    x.add('bandwidth', 'pass', `${best}; no loss up to the highest rate tried, ${formatBps(b.maxBps)} (--bandwidth-max) (${what})`);
  }
}
