#!/usr/bin/env node
// Benchmark: `rtcprobe turn` against coturn's turnutils_uclient (client to client, -y),
// on the same loopback coturn, in one run, over several rounds (medians).
//   1. Same workload (message size, rate, count): both tools' RTT and loss.
//   2. Highest relayed message rate each one sustains (loss <= 1%), from one process.
//   npm run bench:turn      (BENCH_RUNS=N rounds, default 5)
import { execFile, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/rtcprobe.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZE = Number(process.env.BENCH_SIZE ?? 100);
const INTERVAL_MS = Number(process.env.BENCH_INTERVAL ?? 10); // uclient -z: per-session interval
const COUNT = Number(process.env.BENCH_COUNT ?? 300);
const FLOOD_TOTAL = Number(process.env.BENCH_FLOOD_TOTAL ?? 300000); // messages per uclient rate run, all sessions
const UCLIENT_SESSIONS = [4, 8, 16];
const USER = 'bench';
const PASSWORD = 'bench-password';

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '-');

function run(cmd, args, timeoutMs = 120000) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

for (const tool of ['turnserver', 'turnutils_uclient']) {
  const r = await run('sh', ['-c', `command -v ${tool}`]);
  if (r.code !== 0) {
    console.error(`bench:turn needs ${tool} (Debian package coturn)`);
    process.exit(2);
  }
}

const free = (port, kind) => new Promise((resolve) => {
  if (kind === 'udp') {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  } else {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  }
});
async function freeRange(span) {
  for (let i = 0; i < 200; i++) {
    const base = 20000 + Math.floor(Math.random() * 35000);
    let ok = true;
    for (let p = base; p < base + span && ok; p++) ok = (await free(p, 'udp')) && (await free(p, 'tcp'));
    if (ok) return base;
  }
  throw new Error('no free port range');
}

// A wide relay range: uclient runs up to 16 sessions and does not free its allocations on exit.
const RELAY_PORTS = 2000;
const base = await freeRange(RELAY_PORTS + 10);
const PORT = base;
const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-bench-turn-'));
writeFileSync(join(dir, 'turnserver.conf'), '');
const coturn = spawn('turnserver', [
  '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
  '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(PORT), '--alt-listening-port', String(PORT + 1),
  '--min-port', String(base + 10), '--max-port', String(base + 9 + RELAY_PORTS), '--no-tls', '--no-dtls',
  '--lt-cred-mech', '--user', `${USER}:${PASSWORD}`, '--realm', 'bench.test',
  // The two ends of both tools are relays on loopback.
  '--allow-loopback-peers',
], { stdio: 'ignore' });
let ready = false;
coturn.on('exit', (code) => { if (!ready) { console.error(`turnserver exited (${code}) before it was ready`); process.exit(2); } });
let cleaned = false;
const cleanup = () => {
  if (cleaned) return;
  cleaned = true;
  coturn.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
};
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

// Ready when coturn answers a Binding request (bounded polling of a real condition).
const ping = () => new Promise((resolve) => {
  const s = dgram.createSocket('udp4');
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt32BE(0x2112a442, 4);
  const t = setTimeout(() => { s.close(); resolve(false); }, 200);
  s.on('message', () => { clearTimeout(t); s.close(); resolve(true); });
  s.on('error', () => {});
  s.send(req, PORT, '127.0.0.1');
});
for (let i = 0; i < 50 && !ready; i++) ready = await ping();
if (!ready) { console.error('coturn did not answer'); process.exit(2); }

/** turnutils_uclient client to client (-y), no RTCP sessions (-c): `sessions` clients in pairs, each sending n messages. */
async function uclient(n, intervalMs, sessions = 2) {
  const r = await run('turnutils_uclient', ['-y', '-c', '-m', String(sessions), '-u', USER, '-w', PASSWORD, '-p', String(PORT), '-n', String(n), '-l', String(SIZE), '-z', String(intervalMs), '127.0.0.1']);
  const out = r.stdout + r.stderr;
  const totals = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
  const lost = /Total lost packets (\d+) \(([\d.]+)%\)/.exec(out);
  const rtt = /Average round trip delay ([\d.]+) ms; min = (\d+) ms, max = (\d+) ms/.exec(out);
  if (!totals || !lost || !rtt) throw new Error(`uclient output not understood (exit ${r.code}):\n${out.slice(-2000)}`);
  // Per-second progress lines: "<t>: : start_mclient: msz=2, tot_send_msgs=X, tot_recv_msgs=Y, ..."
  const ticks = [...out.matchAll(/^(\d+): : start_mclient: msz=\d+, tot_send_msgs=(\d+), tot_recv_msgs=(\d+),/gm)].map((x) => ({ t: Number(x[1]), recv: Number(x[3]) }));
  const deltas = [];
  for (let k = 1; k < ticks.length; k++) {
    if (ticks[k - 1].recv > 0 && ticks[k].t === ticks[k - 1].t + 1) deltas.push(ticks[k].recv - ticks[k - 1].recv);
  }
  const interior = deltas.length >= 3 ? deltas.slice(0, -1) : deltas;
  return {
    sustained: median(interior),
    sent: Number(totals[1]),
    received: Number(totals[2]),
    loss: Number(lost[2]) / 100,
    rttAvg: Number(rtt[1]),
    rttMin: Number(rtt[2]),
    rttMax: Number(rtt[3]),
    ms: r.ms,
  };
}

/** rtcprobe turn; returns the channel path (uclient relays over channels too). */
async function rtcprobe(count, rate) {
  const r = await run(process.execPath, [BIN, 'turn', `turn:127.0.0.1:${PORT}`, '--user', USER, '--password', PASSWORD, '--count', String(count), '--size', String(SIZE), '--rate', String(rate), '--json']);
  let j;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`rtcprobe output not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
  const p = j.paths.find((x) => x.mode === 'channel');
  if (!p) throw new Error(`rtcprobe measured no channel path:\n${JSON.stringify(j.checks, null, 1)}`);
  return p;
}

// uclient's per-session rate: 1000 / interval messages per second, from each of its two clients.
const perSessionRate = 1000 / INTERVAL_MS;
const rows = {
  uRttAvg: [], uRttMax: [], uLoss: [], rRttMedian: [], rRttMean: [], rRttMax: [], rLoss: [],
  uRate: [], uRateLoss: [], rRate: [], rRateTarget: [],
};
const RAMP = [8000, 16000, 24000, 32000, 40000, 48000, 56000, 64000, 80000, 96000];
for (let i = 0; i < RUNS; i++) {
  process.stderr.write(`round ${i + 1}/${RUNS}\n`);
  // 1. Same workload. uclient: 2 clients x COUNT messages, one way each, at perSessionRate.
  //    rtcprobe: COUNT messages A->B echoed B->A at the same rate: the same 2 x COUNT relayed messages.
  const u = await uclient(COUNT, INTERVAL_MS);
  const p = await rtcprobe(COUNT, perSessionRate);
  rows.uRttAvg.push(u.rttAvg);
  rows.uRttMax.push(u.rttMax);
  rows.uLoss.push(u.loss);
  rows.rRttMedian.push(p.rtt?.median ?? NaN);
  rows.rRttMean.push(p.rtt?.mean ?? NaN);
  rows.rRttMax.push(p.rtt?.max ?? NaN);
  rows.rLoss.push(p.loss);

  // 2a. uclient flat out (-z 0). It prints its totals once a second; the relayed rate it
  //     sustains is the median of the per-second increments of tot_recv_msgs while it runs
  //     at full load (the last, partial, second left out). One session paces itself, so it
  //     gets its best over 4..16 sessions (loss <= 1%).
  let uBest = 0;
  let uBestLoss = NaN;
  for (const sessions of UCLIENT_SESSIONS) {
    let flood;
    try {
      flood = await uclient(Math.round(FLOOD_TOTAL / sessions), 0, sessions);
    } catch (err) {
      process.stderr.write(`uclient with ${sessions} sessions failed, left out: ${err.message.split('\n')[1] ?? err.message}\n`);
      continue;
    }
    if (flood.loss <= 0.01 && flood.sustained > uBest) {
      uBest = flood.sustained;
      uBestLoss = flood.loss;
    }
  }
  rows.uRate.push(uBest);
  rows.uRateLoss.push(uBestLoss);

  // 2b. rtcprobe: raise --rate until loss exceeds 1% or the achieved rate falls short.
  let best = 0;
  let bestTarget = 0;
  // Each level runs 2 s of traffic; a level that misses is tried once more before the ramp stops.
  ramp: for (const rate of RAMP) {
    for (let attempt = 0; attempt < 2; attempt++) {
      let q;
      try {
        q = await rtcprobe(2 * rate, rate);
      } catch (err) {
        process.stderr.write(`rtcprobe at --rate ${rate} measured no path, counted as a miss: ${err.message.split('\n')[0]}\n`);
        continue;
      }
      const relayed = q.throughput.relayedMessagesPerSecond;
      if (q.loss <= 0.01 && relayed >= 0.9 * 2 * rate) {
        best = Math.max(best, relayed);
        bestTarget = rate;
        continue ramp;
      }
    }
    break;
  }
  rows.rRate.push(best);
  rows.rRateTarget.push(bestTarget);
}

const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
const rttDiff = Math.abs(m.rRttMedian - m.uRttAvg);
const result = {
  runs: RUNS,
  node: process.version,
  workload: { size: SIZE, count: COUNT, ratePerDirection: perSessionRate },
  medians: m,
  rttAgreeWithinUclientResolution: rttDiff <= 1,
  lossAgree: Math.abs(m.rLoss - m.uLoss) <= 0.01,
  sustainedRateRatio: m.rRate / m.uRate,
};
console.log(`bench:turn  ${RUNS} rounds, medians; loopback coturn ${PORT}; ${SIZE}-byte messages`);
console.log(`  same workload: ${COUNT} messages each way at ${fmt(perSessionRate, 0)}/s per direction`);
console.log(`    turnutils_uclient  RTT avg ${fmt(m.uRttAvg, 3)} ms (integer-ms clock), max ${fmt(m.uRttMax, 0)} ms, loss ${fmt(m.uLoss * 100, 2)}%`);
console.log(`    rtcprobe turn      RTT median ${fmt(m.rRttMedian, 3)} ms, mean ${fmt(m.rRttMean, 3)} ms, max ${fmt(m.rRttMax, 3)} ms, loss ${fmt(m.rLoss * 100, 2)}%`);
console.log(`    RTT difference ${fmt(rttDiff, 3)} ms: ${result.rttAgreeWithinUclientResolution ? 'within' : 'OUTSIDE'} uclient's 1 ms resolution; loss ${result.lossAgree ? 'agrees' : 'DIFFERS'}`);
console.log('  highest sustained relayed rate (relayed messages/s, both directions, loss <= 1%):');
console.log(`    turnutils_uclient -z 0  ${fmt(m.uRate, 0)} msg/s (best of 4-16 sessions, median of its per-second counts; loss ${fmt(m.uRateLoss * 100, 2)}%)`);
console.log(`    rtcprobe turn           ${fmt(m.rRate, 0)} msg/s (--rate ${fmt(m.rRateTarget, 0)} echoes/s)`);
console.log(`    ratio rtcprobe / uclient ${fmt(result.sustainedRateRatio, 2)} (goal >= 0.8)`);
console.log(JSON.stringify(result));
cleanup();
process.exit(0);
