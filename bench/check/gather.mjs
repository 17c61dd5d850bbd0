// Gathering benchmark: rtcprobe's gatherCandidates (one werift STUN/TURN client per URL) against a
// werift RTCPeerConnection gathering on the same configuration, on a loopback coturn, alternating
// rounds in one process. Figures: time to the first candidate, to the last, to "complete", and the
// number of candidates (werift's peer uses only the first STUN and the first TURN URL).
// `node bench/check/gather.mjs` after `npm run build`; BENCH_RUNS rounds (default 9). Ends by itself.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RTCPeerConnection } from 'werift';
import { gatherCandidates } from '../../dist/core/rtc/gather.js';
import { weriftConfig } from '../../dist/core/rtc/config.js';
import { freePortRange, stunPing } from '../lib/ports.mjs';
import { have, main, spawnTracked, tempDir } from '../lib/procs.mjs';
import { footer, header } from '../lib/report.mjs';
import { pairedRatios, summary } from '../lib/stats.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 9);
const USER = 'bench';
const PASSWORD = 'bench-password';

/** werift's own gathering: a peer with one data channel, times of onIceCandidate and of "complete". */
async function weriftGathering(iceServers) {
  const t0 = performance.now();
  const pc = new RTCPeerConnection(weriftConfig({ iceServers, loopback: true }));
  const times = [];
  pc.onIceCandidate.subscribe((c) => { if (c) times.push(performance.now() - t0); });
  pc.createDataChannel('gather');
  try {
    const complete = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('werift did not complete gathering in 30 s')), 30_000);
      pc.iceGatheringStateChange.subscribe((s) => { if (s === 'complete') { clearTimeout(t); resolve(); } });
    });
    await pc.setLocalDescription(await pc.createOffer());
    await complete;
    const completeMs = performance.now() - t0;
    return { firstMs: times[0], lastMs: times.at(-1), completeMs, count: times.length };
  } finally {
    await pc.close();
  }
}

main(async () => {
  if (!have('turnserver')) { console.error('needs turnserver (Debian package coturn)'); return 2; }
  const start = header('gathering', `BENCH_RUNS=${RUNS} node bench/check/gather.mjs`);
  const base = await freePortRange(60, { protocols: ['udp', 'tcp'] });
  const dir = tempDir('rtcprobe-bench-gather-');
  writeFileSync(join(dir, 'turnserver.conf'), '');
  const coturn = spawnTracked('turnserver', [
    '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(base), '--alt-listening-port', String(base + 1),
    '--min-port', String(base + 10), '--max-port', String(base + 59), '--no-tls', '--no-dtls',
    '--lt-cred-mech', '--user', `${USER}:${PASSWORD}`, '--realm', 'bench.test',
  ], { stdio: 'ignore' });
  let ready = false;
  for (let i = 0; i < 50 && !ready; i++) ready = await stunPing(base);
  if (!ready) { console.error('coturn did not answer'); return 2; }

  const c = `127.0.0.1:${base}`;
  const iceServers = [{ urls: [`stun:${c}`, `turn:${c}?transport=udp`, `turn:${c}?transport=tcp`], username: USER, credential: PASSWORD }];
  console.log(`  configuration: ${iceServers[0].urls.join(', ')}`);
  const ours = { first: [], last: [], complete: [], count: [] };
  const theirs = { first: [], last: [], complete: [], count: [] };
  for (let r = 0; r < RUNS; r++) {
    const runOurs = async () => {
      const g = await gatherCandidates({ iceServers, timeoutMs: 30_000, signal: AbortSignal.timeout(35_000), loopback: true });
      if (g.errors.length || g.timedOut) throw new Error(`gatherCandidates: ${JSON.stringify(g.errors)}`);
      ours.first.push(g.firstMs); ours.last.push(g.lastMs); ours.complete.push(g.completeMs); ours.count.push(g.candidates.length);
    };
    const runTheirs = async () => {
      const w = await weriftGathering(iceServers);
      theirs.first.push(w.firstMs); theirs.last.push(w.lastMs); theirs.complete.push(w.completeMs); theirs.count.push(w.count);
    };
    // Alternate which goes first, so that a load change hits both alike.
    if (r % 2 === 0) { await runOurs(); await runTheirs(); } else { await runTheirs(); await runOurs(); }
  }
  const fmt = (xs, d = 2) => { const s = summary(xs); return `${s.median.toFixed(d)} (IQR ${s.q1.toFixed(d)}-${s.q3.toFixed(d)}, min-max ${s.min.toFixed(d)}-${s.max.toFixed(d)})`; };
  for (const k of ['first', 'last', 'complete']) {
    console.log(`  time to ${k.padEnd(8)} gatherCandidates ${fmt(ours[k])} ms; werift peer ${fmt(theirs[k])} ms; ratio per round ${fmt(pairedRatios(ours[k], theirs[k]))}`);
  }
  console.log(`  candidates: gatherCandidates ${fmt(ours.count, 0)}; werift peer ${fmt(theirs.count, 0)}`);
  footer(start);
  return 0;
});
