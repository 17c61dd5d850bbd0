// Room-server benchmark, MCU section: `rtcprobe mcu serve` as its own process
// (so that its CPU and memory are its own), a relay and N impulse participants
// in this process, for N = 2, 4, 6, 8 (SIZES), ROUNDS rounds.
//
// Per N: mouth-to-ear p50 of every burst heard (goal <= 60 ms: one 20 ms frame,
// the jitter buffer, the path), mixing time per participant (from the MCU's
// /metrics: decode + mix + encode), the MCU process's CPU per participant
// (/proc), and its RSS per participant (RSS with N participants minus RSS of
// the same process joined with none, measured just before in the same round).
// Every figure is also given as a ratio to the N = 2 figure of the same round.
//
// Needs `npm run build` (npm run bench:sfu-mcu does it). Ends by itself;
// Ctrl-C stops the MCU process and closes every participant.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { main, spawnTracked, onCleanup } from '../lib/procs.mjs';
import { printTable, header, footer, fmt } from '../lib/report.mjs';
import { SignalRelay } from '../../dist/core/signaling/server.js';
import { ImpulseClient } from '../../dist/core/rtc/mcu-client.js';
import { analyseListener } from '../../dist/core/mcu/mouth-to-ear.js';
import { summarizeExact } from '../../dist/core/bench/summary.js';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SIZES = (process.env.SIZES ?? '2,4,6,8').split(',').map(Number);
const DURATION_MS = Number(process.env.DURATION_MS ?? 8000);
const WARMUP_MS = Number(process.env.WARMUP_MS ?? 1500);
const JITTER_MS = Number(process.env.JITTER_MS ?? 40);
// What the MCU's dry jitter buffers do (mcu serve --late): each round runs every mode at every N.
const MODES = (process.env.MODES ?? 'hold,drop').split(',');
const PERIOD = 50;
const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
const CLK_TCK = 100;
const PAGE = 4096;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function procCpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / CLK_TCK; // utime + stime
}
function procRssBytes(pid) {
  return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * PAGE;
}

async function metric(http, name) {
  const text = await (await fetch(new URL('/metrics', http))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').pop()) : NaN;
}

/** Start `rtcprobe mcu serve` and wait for its "listening" line. */
async function startMcu(url, room, mode) {
  const child = spawnTracked(process.execPath, [BIN, 'mcu', 'serve', '--signal', url, '--room', room, '--listen', '127.0.0.1:0', '--loopback', '--jitter-ms', String(JITTER_MS), '--late', mode, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.resume();
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('the MCU did not start within 20 s')), 20_000);
    lines.on('line', (l) => {
      try {
        const j = JSON.parse(l);
        if (j.event === 'listening') { clearTimeout(t); resolve(j); }
      } catch { /* not JSON */ }
    });
    child.once('exit', (code) => reject(new Error(`the MCU exited (${code}) before it was ready`)));
  });
  const exited = new Promise((r) => child.once('exit', r));
  return { pid: child.pid, http: ready.http, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

async function oneRun(relayUrl, n, round, mode) {
  const room = `bench-mcu-${process.pid}-${round}-${n}-${mode}`;
  const mcu = await startMcu(relayUrl, room, mode);
  const ac = new AbortController();
  const clients = [];
  try {
    await sleep(500);
    const rss0 = procRssBytes(mcu.pid);
    for (let i = 0; i < n; i++) clients.push(new ImpulseClient({ url: relayUrl, room, peerId: `p${i}`, iceServers: [], loopback: true, burstId: i, timeoutMs: 20_000, signal: ac.signal }));
    await Promise.all(clients.map((c) => c.start()));
    const gap = Math.floor(PERIOD / n);
    clients.forEach((c, i) => c.startSending({ periodFrames: PERIOD, phaseFrames: i * gap }));
    await sleep(WARMUP_MS);
    const w0 = performance.now();
    const cpu0 = procCpuMs(mcu.pid);
    const mix0 = await metric(mcu.http, 'rtcprobe_mcu_mix_seconds_sum');
    await sleep(DURATION_MS);
    const w1 = performance.now();
    const cpu1 = procCpuMs(mcu.pid);
    const mix1 = await metric(mcu.http, 'rtcprobe_mcu_mix_seconds_sum');
    const rss1 = procRssBytes(mcu.pid);
    const trimmed = await metric(mcu.http, 'rtcprobe_mcu_frames_trimmed_total');
    const late = await metric(mcu.http, 'rtcprobe_mcu_late_total');
    for (const c of clients) c.stopSending();
    await sleep(400);
    const sent = clients.flatMap((c) => c.sent);
    const delays = [];
    let expected = 0;
    let heard = 0;
    let self = 0;
    let unmatched = 0;
    let partial = 0;
    for (const c of clients) {
      const a = analyseListener(c.options.peerId, c.frames, sent, { ownId: c.options.burstId, ids: clients.map((x) => x.options.burstId), expectFrom: w0, expectTo: w1 - 300 });
      self += a.self;
      unmatched += a.unmatched;
      for (const h of a.heard) {
        if (h.mouthMs < w0 || h.mouthMs > w1 - 300) continue;
        if (h.intact) delays.push(h.delayMs);
        else partial++;
      }
      for (const s of Object.values(a.perSource)) { expected += s.expected; heard += s.heard; }
    }
    const s = summarizeExact(delays);
    const win = w1 - w0;
    return {
      m2eP50: s?.p50 ?? NaN,
      m2eP95: s?.p95 ?? NaN,
      heard, expected, self, unmatched, partial, trimmed, late,
      mixPctPerPart: (((mix1 - mix0) * 1000) / win / n) * 100,
      cpuPctPerPart: ((cpu1 - cpu0) / win / n) * 100,
      rssPerPartKiB: (rss1 - rss0) / n / 1024,
    };
  } finally {
    ac.abort();
    await Promise.all(clients.map((c) => c.stop().catch(() => {})));
    await mcu.stop();
  }
}

main(async () => {
  const start = header('bench:sfu-mcu (MCU)', `ROUNDS=${ROUNDS} SIZES=${SIZES.join(',')} DURATION_MS=${DURATION_MS} JITTER_MS=${JITTER_MS} MODES=${MODES.join(',')}`);
  const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } });
  const addr = await relay.listen();
  onCleanup(() => { void relay.close('bench over'); });
  const res = {};
  for (let r = 0; r < ROUNDS; r++) {
    for (const n of SIZES) {
      // Alternate the order of the modes from round to round, so that a load trend favours neither.
      for (const mode of r % 2 ? [...MODES].reverse() : MODES) {
        const x = await oneRun(addr.ws, n, r, mode);
        ((res[mode] ??= {})[n] ??= []).push(x);
        console.log(`  round ${r + 1}, N=${n}, --late ${mode}: mouth-to-ear p50 ${fmt(x.m2eP50, 1)} ms, ${x.heard}/${x.expected} bursts heard (${x.partial} without their first frame, not timed), own heard ${x.self}, unmatched ${x.unmatched}; MCU late ${x.late}, trimmed ${x.trimmed}; mixing ${fmt(x.mixPctPerPart, 3)} % core/participant; MCU CPU ${fmt(x.cpuPctPerPart, 2)} %/participant; RSS +${fmt(x.rssPerPartKiB, 0)} KiB/participant`);
      }
    }
  }
  const base = MODES[0];
  // Per mode: each N against N = SIZES[0] of the same mode and round.
  const rows = (mode, key, label) => SIZES.map((n, i) => ({ key: `${mode}${key}${n}`, label: `${label}, --late ${mode}, N=${n}`, values: res[mode][n].map((x) => x[key]), ...(i > 0 ? { baseline: `${mode}${key}${SIZES[0]}` } : {}) }));
  console.log('');
  for (const mode of MODES) printTable({ title: `mouth-to-ear p50 through the MCU, --late ${mode} (goal <= 60 ms; jitter buffer ${JITTER_MS} ms)`, unit: 'ms', rows: rows(mode, 'm2eP50', 'mouth-to-ear p50') });
  if (MODES.length > 1) {
    // The modes against each other, same round and N.
    for (const [key, label, unit, digits] of [['m2eP50', 'mouth-to-ear p50', 'ms', 1], ['late', 'frames dropped as late', 'frames', 0]]) {
      const rs = [];
      for (const n of SIZES) for (const mode of MODES) rs.push({ key: `${mode}${n}`, label: `${label}, N=${n}, --late ${mode}`, values: res[mode][n].map((x) => x[key]), ...(mode !== base ? { baseline: `${base}${n}` } : {}) });
      printTable({ title: `${label}: --late ${MODES.slice(1).join(', ')} against --late ${base}, same round and N`, unit, digits, rows: rs });
    }
  }
  printTable({ title: 'mixing time (decode + mix + encode) per participant, % of one core', unit: '%', digits: 4, rows: rows(base, 'mixPctPerPart', 'mixing/participant') });
  printTable({ title: 'MCU process CPU per participant (mixing, SRTP, ICE, event loop), % of one core', unit: '%', digits: 2, rows: rows(base, 'cpuPctPerPart', 'CPU/participant') });
  printTable({ title: 'MCU RSS per participant (RSS with N minus RSS with none, same round), KiB', unit: 'KiB', digits: 0, rows: rows(base, 'rssPerPartKiB', 'RSS/participant') });
  const short = MODES.flatMap((mode) => SIZES.flatMap((n) => res[mode][n].map((x, r) => ({ mode, n, r, ...x })).filter((x) => !(x.expected > 0 && x.heard >= x.expected - x.n * (x.n - 1) && x.self === 0))));
  const allHeard = short.length === 0;
  for (const mode of MODES) {
    const p50s = SIZES.map((n) => summarizeExact(res[mode][n].map((x) => x.m2eP50).filter(Number.isFinite))?.p50);
    console.log(`\n  --late ${mode}: goal mouth-to-ear p50 <= 60 ms: ${SIZES.map((n, i) => `N=${n} ${fmt(p50s[i], 1)} ms ${p50s[i] !== undefined && p50s[i] <= 60 ? 'met' : 'NOT met'}`).join('; ')}`);
  }
  console.log(`  every burst heard by every other participant (one per pair may fall on the window edge), none by its sender: ${allHeard ? 'yes' : `NO (${short.map((x) => `--late ${x.mode} N=${x.n} round ${x.r + 1}: ${x.heard}/${x.expected}, own ${x.self}`).join('; ')})`}`);
  footer(start);
  return allHeard ? 0 : 1;
});
