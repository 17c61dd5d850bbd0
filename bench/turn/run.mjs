#!/usr/bin/env node
// Benchmark: `rtcprobe turn` against coturn's turnutils_uclient (client to client, -y),
// on the same loopback coturn, in one run, over BENCH_RUNS rounds (default 3). In every
// round both tools get the same message size, the same loss limit and the same
// stopping rule, and they alternate (the one that goes first changes round by round),
// so that load from elsewhere on the machine affects both alike.
//   1. Same workload (message size, rate, count): both tools' RTT and loss.
//   2. Highest relayed message rate each one reaches with loss <= BENCH_LOSS (1%):
//      a ramp that starts low and grows geometrically, keeps the best rate that met the
//      loss limit, and stops after BENCH_MISSES (2) consecutive misses.
//        rtcprobe: --rate from 500 echoes/s (1000 relayed msg/s) up, x2 per level until the
//                  first miss, then x sqrt(2) from the best level that met; BENCH_LEVEL_S
//                  (1) second of traffic per level; a level misses when
//                  loss > limit or the relayed rate falls short of 90% of the target.
//        uclient:  -z 0 (it has no usable rate control: at -z 1 it sends in bursts),
//                  2, 4, 8, 16, 32 sessions; a level misses when loss > limit or it
//                  relays no more than the best level so far.
//      Figures are relayed messages per second, both directions: rtcprobe's average over
//      the level, uclient's best full second of its per-second counters (this favours
//      uclient). A round in which no level met the loss limit gives no figure; a tool
//      that relayed nothing at all is a failure (exit 1), never a figure of 0.
//   npm run bench:turn      (BENCH_RUNS, BENCH_SIZE, BENCH_COUNT, BENCH_INTERVAL, BENCH_LOSS)
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortRange, stunPing } from '../lib/ports.mjs';
import { have, main, run, spawnTracked, tempDir } from '../lib/procs.mjs';
import { fmt, footer, header, printTable, sig } from '../lib/report.mjs';
import { median } from '../lib/stats.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/rtcprobe.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZE = Number(process.env.BENCH_SIZE ?? 100);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL ?? 10); // uclient -z: per-session interval
const COUNT = Number(process.env.BENCH_COUNT ?? 300);
const LOSS = Number(process.env.BENCH_LOSS ?? 0.01);
const MISSES = Number(process.env.BENCH_MISSES ?? 2);
const LEVEL_S = Number(process.env.BENCH_LEVEL_S ?? 1);
const UCLIENT_TOTAL = Number(process.env.BENCH_UCLIENT_TOTAL ?? 30000); // messages per uclient level (at least), all sessions
const FIRST_RATE = 500; // rtcprobe --rate (echoes/s) of the first level; relayed = 2x
const MAX_RATE = 128000;
const SESSIONS = [2, 4, 8, 16, 32];
const USER = 'bench';
const PASSWORD = 'bench-password';

main(async () => {
  for (const tool of ['turnserver', 'turnutils_uclient']) {
    if (!have(tool)) { console.error(`bench:turn needs ${tool} (Debian package coturn)`); return 2; }
  }
  // A wide relay range: uclient does not free its allocations on exit.
  const RELAY_PORTS = 2000;
  const base = await freePortRange(RELAY_PORTS + 10, { protocols: ['udp', 'tcp'] });
  const PORT = base;
  const dir = tempDir('rtcprobe-bench-turn-');
  writeFileSync(join(dir, 'turnserver.conf'), '');
  const coturn = spawnTracked('turnserver', [
    '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(PORT), '--alt-listening-port', String(PORT + 1),
    '--min-port', String(base + 10), '--max-port', String(base + 9 + RELAY_PORTS), '--no-tls', '--no-dtls',
    '--lt-cred-mech', '--user', `${USER}:${PASSWORD}`, '--realm', 'bench.test',
    // The two ends of both tools are relays on loopback.
    '--allow-loopback-peers',
  ], { stdio: 'ignore' });
  let exited = false;
  coturn.once('exit', () => { exited = true; });
  // What this run started, for whoever checks that it is gone afterwards.
  process.stderr.write(`bench:turn: started coturn pid ${coturn.pid} on port ${PORT}, temp dir ${dir}\n`);
  let ready = false;
  for (let i = 0; i < 50 && !ready && !exited; i++) ready = await stunPing(PORT);
  if (!ready) { console.error(exited ? 'turnserver exited before it answered' : 'coturn did not answer'); return 2; }

  /** turnutils_uclient client to client (-y), no RTCP (-c): `sessions` clients in pairs, each sending n messages. */
  async function uclient(n, intervalMs, sessions) {
    const r = await run('turnutils_uclient', ['-y', '-c', '-m', String(sessions), '-u', USER, '-w', PASSWORD, '-p', String(PORT),
      '-n', String(n), '-l', String(SIZE), '-z', String(intervalMs), '127.0.0.1'], { cwd: ROOT, timeoutMs: 120_000 });
    const out = r.stdout + r.stderr;
    const totals = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
    const lost = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
    const rtt = /Average round trip delay ([\d.]+) ms; min = (\d+) ms, max = (\d+) ms/.exec(out);
    if (!totals || !lost || !rtt) return { error: `uclient output not understood (exit ${r.code}${r.timedOut ? ', timed out' : ''})`, received: Number(totals?.[2] ?? 0) };
    // Per-second progress lines: "<t>: : start_mclient: msz=N, tot_send_msgs=X, tot_recv_msgs=Y, ..."
    const ticks = [...out.matchAll(/^(\d+): : start_mclient: msz=\d+, tot_send_msgs=(\d+), tot_recv_msgs=(\d+),/gm)].map((x) => ({ t: Number(x[1]), recv: Number(x[3]) }));
    let bestSecond = NaN;
    for (let k = 1; k < ticks.length; k++) {
      // A full second: the previous tick had already received (sending under way), consecutive seconds.
      if (ticks[k - 1].recv > 0 && ticks[k].t === ticks[k - 1].t + 1) {
        const d = ticks[k].recv - ticks[k - 1].recv;
        if (!(d <= bestSecond)) bestSecond = d;
      }
    }
    return { sent: Number(totals[1]), received: Number(totals[2]), loss: Number(lost[2]) / 100, rttAvg: Number(rtt[1]), rttMax: Number(rtt[3]), bestSecond };
  }

  /** rtcprobe turn; the channel path (uclient relays over channels too). */
  async function rtcprobe(count, rate, extra = []) {
    const r = await run(process.execPath, [BIN, 'turn', `turn:127.0.0.1:${PORT}`, '--user', USER, '--password', PASSWORD,
      '--count', String(count), '--size', String(SIZE), '--rate', String(rate), ...extra, '--json'], { cwd: ROOT, timeoutMs: 120_000 });
    let j;
    try { j = JSON.parse(r.stdout); } catch { return { error: `rtcprobe output not JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''})`, received: 0 }; }
    const p = j.paths?.find((x) => x.mode === 'channel');
    if (!p) return { error: 'rtcprobe measured no channel path', received: 0 };
    return p;
  }

  /**
   * rtcprobe's ramp: the rate doubles while every level meets the limits; after the first
   * miss it goes on from the best level in steps of sqrt(2). Returns the best relayed rate
   * with loss <= LOSS, and whether anything got through at all.
   */
  async function rampRtcprobe() {
    let best = NaN;
    let bestRate = NaN;
    let misses = 0;
    let anything = false;
    let factor = 2;
    const trace = [];
    for (let rate = FIRST_RATE; rate <= MAX_RATE;) {
      const t0 = performance.now();
      // --timeout 2000 also bounds the wait for late echoes after a level (2 s instead of 3 s).
      const q = await rtcprobe(Math.max(100, Math.round(rate * LEVEL_S)), rate, ['--timeout', '2000']);
      if (q.received > 0) anything = true;
      const relayed = q.throughput?.relayedMessagesPerSecond ?? NaN;
      const lossOk = !q.error && q.loss <= LOSS;
      if (lossOk && !(relayed <= best)) { best = relayed; bestRate = rate; }
      const met = lossOk && relayed >= 0.9 * 2 * rate;
      trace.push(`${rate}:${q.error ? 'error' : `${sig(relayed)}/${fmt(q.loss * 100, 1)}%`}${met ? '' : '*'}`);
      if (process.env.BENCH_DEBUG) process.stderr.write(`rtcprobe --rate ${rate}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      misses = met ? 0 : misses + 1;
      if (misses >= MISSES) break;
      if (!met && factor === 2) {
        // First miss: continue from the best level that met, in finer steps.
        factor = Math.SQRT2;
        if (Number.isFinite(bestRate)) { rate = Math.round(bestRate * factor); continue; }
      }
      rate = Math.round(rate * factor);
    }
    return { best, bestRate, anything, trace };
  }

  /** uclient's ramp over the number of sessions at -z 0. */
  async function rampUclient() {
    let best = NaN;
    let bestSessions = NaN;
    let bestLoss = NaN;
    let misses = 0;
    let anything = false;
    const trace = [];
    for (const sessions of SESSIONS) {
      // Enough messages for about 3 s at the best rate so far (several full seconds).
      const total = Math.min(4 * UCLIENT_TOTAL, Math.max(UCLIENT_TOTAL, Number.isFinite(best) ? 3 * best : 0));
      const t0 = performance.now();
      const u = await uclient(Math.round(total / sessions), 0, sessions);
      if (process.env.BENCH_DEBUG) process.stderr.write(`uclient ${sessions} sessions ${total} msgs: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      if (u.received > 0) anything = true;
      const lossOk = !u.error && u.loss <= LOSS && Number.isFinite(u.bestSecond);
      const gain = lossOk && !(u.bestSecond <= best);
      if (gain) { best = u.bestSecond; bestSessions = sessions; bestLoss = u.loss; }
      trace.push(`${sessions}:${u.error ? 'error' : `${sig(u.bestSecond)}/${fmt(u.loss * 100, 1)}%`}${gain ? '' : '*'}`);
      misses = gain ? 0 : misses + 1;
      if (misses >= MISSES) break;
    }
    return { best, bestSessions, bestLoss, anything, trace };
  }

  const start = header('bench:turn', `BENCH_RUNS=${RUNS} npm run bench:turn`);
  console.log(`  loopback coturn on port ${PORT}; ${SIZE}-byte messages; loss limit ${fmt(LOSS * 100, 1)}%; a ramp stops after ${MISSES} consecutive misses`);
  const perSessionRate = 1000 / INTERVAL_MS;
  const rows = { uRttAvg: [], uRttMax: [], uLoss: [], rRttMedian: [], rRttMean: [], rRttMax: [], rLoss: [], uRate: [], rRate: [] };
  let uAnything = false;
  let rAnything = false;
  for (let i = 0; i < RUNS; i++) {
    // 1. Same workload. uclient: 2 clients x COUNT messages, one way each, at perSessionRate.
    //    rtcprobe: COUNT messages A->B echoed B->A at the same rate: the same 2 x COUNT relayed messages.
    const same = [
      async () => {
        const u = await uclient(COUNT, INTERVAL_MS, 2);
        rows.uRttAvg.push(u.error ? NaN : u.rttAvg);
        rows.uRttMax.push(u.error ? NaN : u.rttMax);
        rows.uLoss.push(u.error ? NaN : u.loss);
      },
      async () => {
        const p = await rtcprobe(COUNT, perSessionRate);
        rows.rRttMedian.push(p.rtt?.median ?? NaN);
        rows.rRttMean.push(p.rtt?.mean ?? NaN);
        rows.rRttMax.push(p.rtt?.max ?? NaN);
        rows.rLoss.push(p.error ? NaN : p.loss);
      },
    ];
    // 2. Ramps, the same rules for both.
    let u;
    let r;
    const ramps = [async () => { u = await rampUclient(); }, async () => { r = await rampRtcprobe(); }];
    const order = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const k of order) await same[k]();
    for (const k of order) await ramps[k]();
    rows.uRate.push(u.best);
    rows.rRate.push(r.best);
    uAnything ||= u.anything;
    rAnything ||= r.anything;
    console.log(`  round ${i + 1}/${RUNS} (${order[0] === 0 ? 'uclient' : 'rtcprobe'} first): uclient ${sig(u.best)} msg/s (${u.bestSessions} sessions), rtcprobe ${sig(r.best)} msg/s (--rate ${r.bestRate})`);
    console.log(`    ramps, level:relayed msg/s/loss, * = miss: uclient ${u.trace.join(' ')}; rtcprobe ${r.trace.join(' ')}`);
  }

  console.log(`  same workload: ${COUNT} messages each way at ${fmt(perSessionRate, 0)}/s per direction (uclient -y -c -m 2 -n ${COUNT} -l ${SIZE} -z ${INTERVAL_MS}; rtcprobe --count ${COUNT} --size ${SIZE} --rate ${fmt(perSessionRate, 0)})`);
  console.log(`    turnutils_uclient  RTT avg ${fmt(median(rows.uRttAvg), 3)} ms (whole-ms clock), max ${fmt(median(rows.uRttMax), 0)} ms, loss ${fmt(median(rows.uLoss) * 100, 2)}%`);
  console.log(`    rtcprobe turn      RTT median ${fmt(median(rows.rRttMedian), 3)} ms, mean ${fmt(median(rows.rRttMean), 3)} ms, max ${fmt(median(rows.rRttMax), 3)} ms, loss ${fmt(median(rows.rLoss) * 100, 2)}%`);
  const rttDiff = Math.abs(median(rows.rRttMedian) - median(rows.uRttAvg));
  console.log(`    RTT difference ${fmt(rttDiff, 3)} ms: ${rttDiff <= 1 ? 'within' : 'OUTSIDE'} uclient's 1 ms resolution (medians over rounds)`);
  const table = printTable({
    title: `  highest relayed rate with loss <= ${fmt(LOSS * 100, 1)}% (relayed messages/s, both directions), ${RUNS} rounds`,
    unit: 'msg/s',
    digits: 0,
    rows: [
      { key: 'uclient', label: 'turnutils_uclient -z 0', values: rows.uRate, note: '(best full second, best of 2-32 sessions)' },
      { key: 'rtcprobe', label: 'rtcprobe turn', values: rows.rRate, baseline: 'uclient', note: '(average over the best level)' },
    ],
  });
  const end = footer(start);
  console.log(JSON.stringify({ bench: 'turn', runs: RUNS, node: process.version, start, end, size: SIZE, lossLimit: LOSS, spread: 'IQR (q1-q3) and min-max over rounds', sameWorkload: rows, rate: table }));
  let code = 0;
  for (const [name, anything] of [['turnutils_uclient', uAnything], ['rtcprobe turn', rAnything]]) {
    if (!anything) { console.error(`FAILED: ${name} relayed nothing at all at any level (no figure)`); code = 1; }
  }
  return code;
});
