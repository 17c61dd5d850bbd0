// Room-server benchmarks on loopback, one section per server.
//
// SFU section:
//  1. hop latency: `bench` mesh and `bench --topology sfu`, N = 4, alternated
//     in the same run; the SFU's one-way delay minus the mesh's, per round
//     (audio and video RTP p50 and p99, data-channel forward p50);
//  2. capacity: one publisher at rising video rates, three subscribers, the
//     server in its own process: packets forwarded per CPU-second of the
//     server at under 1% loss, `rtcprobe sfu serve` against a bare werift
//     receive-and-send loop (bare-loop.mjs) in the same run;
//  3. server RSS per participant (2 then 8 participants), both servers.
//
// MCU section: mcu.mjs (also runnable on its own), as a child process with
// this one's output: mouth-to-ear, mixing CPU and RSS per participant vs N.
// Janus section: janus-side.mjs, rtcprobe's SFU and MCU next to Janus's
// VideoRoom and AudioBridge on the same veth path (default on as root with
// janus installed; otherwise it says why it was skipped).
// Needs `npm run build` (imports dist/). Ends by itself; Ctrl-C stops
// everything it started. RATE (probes/s per data channel in section 1,
// default the bench default 50), STEPS_KBPS, ROUNDS (default 3), SECTIONS
// (default "sfu,mcu,janus"; or any of sfu-hop, sfu-capacity, sfu-rss, mcu, janus).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { main, spawnTracked } from '../lib/procs.mjs';
import { footer, header, fmt } from '../lib/report.mjs';
import { summary } from '../lib/stats.mjs';
import { runBench } from '../../dist/core/rtc/bench-run.js';
import { SignalRelay } from '../../dist/core/signaling/server.js';
import { MeshPeer } from '../../dist/core/rtc/mesh.js';
import { janusSection } from './janus-side.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECTIONS = (process.env.SECTIONS ?? 'sfu,mcu,janus').split(',');
const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-loop.mjs', import.meta.url));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ac = new AbortController();

const spread = (xs, d = 3) => {
  const s = summary(xs);
  return `median ${fmt(s.median, d)}  IQR ${fmt(s.q1, d)}..${fmt(s.q3, d)}  min-max ${fmt(s.min, d)}..${fmt(s.max, d)}  (${s.n} rounds)`;
};

// ---------- SFU: hop latency ----------
async function hopLatency() {
  console.log(`\nSFU 1. hop latency, N = 4, ${ROUNDS} rounds of mesh then sfu (3 s window, 1 s warm-up, default traffic${process.env.RATE ? ` but ${process.env.RATE} probes/s per data channel` : ''}): sfu minus mesh, ms`);
  const keys = ['audio p50', 'video p50', 'audio p99', 'video p99', 'DC forward p50'];
  const pick = (r) => [r.aggregate.audio?.oneWayMs?.p50, r.aggregate.video?.oneWayMs?.p50, r.aggregate.audio?.oneWayMs?.p99, r.aggregate.video?.oneWayMs?.p99, r.aggregate.dc?.reliable.forwardMs?.p50];
  const mesh = keys.map(() => []);
  const sfu = keys.map(() => []);
  for (let i = 0; i < ROUNDS && !ac.signal.aborted; i++) {
    for (const [topology, into] of [['mesh', mesh], ['sfu', sfu]]) {
      const r = await runBench({ topology, peers: 4, durationMs: 3000, warmupMs: 1000, signal: ac.signal, ...(process.env.RATE ? { traffic: { dataRate: Number(process.env.RATE) } } : {}) });
      const ok = r.connections.up === r.connections.expected;
      pick(r).forEach((v, k) => into[k].push(ok && v !== undefined ? v : NaN));
      process.stderr.write(`  round ${i + 1} ${topology}: ${r.verdict}\n`);
    }
  }
  for (let k = 0; k < keys.length; k++) {
    const added = mesh[k].map((m, i) => sfu[k][i] - m);
    console.log(`  ${keys[k].padEnd(15)} mesh ${fmt(summary(mesh[k]).median)}  sfu ${fmt(summary(sfu[k]).median)}  added: ${spread(added)}`);
  }
}

// ---------- servers as child processes ----------
function cpuMsOf(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100; // utime + stime, USER_HZ 100
}
function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

async function startServer(kind, ws, room) {
  const args = kind === 'sfu'
    ? [BIN, 'sfu', 'serve', '--signal', ws, '--room', room, '--peer-id', 'zz-sfu', '--loopback', '--json', '--listen', '127.0.0.1:0', '--max-kbps', '1000000']
    : [BARE, ws, room];
  const child = spawnTracked(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  createInterface({ input: child.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch { /* not JSON */ } });
  const t0 = Date.now();
  while (!lines.some((l) => l.event === 'listening')) {
    if (child.exitCode !== null || Date.now() - t0 > 20_000) throw new Error(`${kind} server did not start`);
    await sleep(50);
  }
  const http = lines.find((l) => l.event === 'listening').http;
  const forwarded = async () => {
    if (kind === 'bare') return [...lines].reverse().find((l) => l.forwarded !== undefined)?.forwarded ?? NaN;
    const text = await (await fetch(new URL('/metrics', http))).text();
    const m = /^rtcprobe_sfu_rtp_forwarded_packets_total (\d+)/m.exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  };
  return { pid: child.pid, forwarded, stop };
}

async function relay() {
  const r = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } });
  const a = await r.listen();
  return { ws: a.ws, close: () => r.close('bench over') };
}

async function clientsUp(peers, timeoutMs = 30_000) {
  const t0 = Date.now();
  while (!peers.every((p) => p.states().up === 1)) {
    if (Date.now() - t0 > timeoutMs || ac.signal.aborted) throw new Error('clients did not connect to the server');
    await sleep(50);
  }
}

// ---------- SFU: capacity ----------
const STEPS_KBPS = (process.env.STEPS_KBPS ?? '4000,8000,16000,24000').split(',').map(Number);

async function capacityOnce(kind) {
  const rl = await relay();
  const room = `cap-${kind}-${Math.random().toString(36).slice(2, 8)}`;
  const server = await startServer(kind, rl.ws, room);
  const peers = [];
  const out = [];
  try {
    const mk = (id, traffic) => {
      const p = new MeshPeer({ url: rl.ws, room, peerId: id, iceServers: [], loopback: true, traffic, timeoutMs: 20_000, signal: ac.signal });
      peers.push(p);
      return p;
    };
    for (const kbps of STEPS_KBPS) {
      // A fresh publisher per step (its video rate is fixed at creation); three light subscribers stay.
      if (peers.length === 0) for (const id of ['s1', 's2', 's3']) await mk(id, { channels: ['audio', 'video'], videoKbps: 30, videoFps: 5 }).start();
      const pub = mk(`pub${kbps}`, { channels: ['audio', 'video'], videoKbps: kbps, videoFps: 30 });
      await pub.start();
      await clientsUp(peers.filter((p) => p !== undefined && !p.gone));
      await sleep(1000);
      for (const p of peers) p.startWindow();
      const f0 = await server.forwarded();
      const c0 = cpuMsOf(server.pid);
      const t0 = performance.now();
      await sleep(3000);
      const f1 = await server.forwarded();
      const c1 = cpuMsOf(server.pid);
      const secs = (performance.now() - t0) / 1000;
      let lost = 0;
      let expected = 0;
      for (const s of peers.slice(0, 3)) {
        const [c] = await s.connections();
        lost += c?.video?.stream.lost ?? 0;
        expected += c?.video?.stream.expected ?? 0;
      }
      const loss = expected ? lost / expected : NaN;
      const pps = (f1 - f0) / secs;
      const cpuFrac = (c1 - c0) / 1000 / secs;
      out.push({ kbps, pps, cpuFrac, perCore: cpuFrac > 0 ? pps / cpuFrac : NaN, loss });
      await pub.stop();
      pub.gone = true;
      peers.splice(peers.indexOf(pub), 1);
      await sleep(500);
      if (!(loss < 0.01)) break;
    }
  } finally {
    await Promise.allSettled(peers.map((p) => p.stop()));
    await server.stop();
    await rl.close();
  }
  return out;
}

async function capacity() {
  console.log(`\nSFU 2. capacity: 1 publisher (video at ${STEPS_KBPS.join(', ')} kbit/s, stops at the first step with ≥ 1% loss) + 3 subscribers, server in its own process; forwarded packets per CPU-second of the server`);
  const best = { sfu: [], bare: [] };
  const ratios = [];
  for (let i = 0; i < ROUNDS && !ac.signal.aborted; i++) {
    const got = {};
    for (const kind of ['bare', 'sfu']) {
      const steps = await capacityOnce(kind);
      got[kind] = steps;
      for (const s of steps) console.log(`  round ${i + 1} ${kind.padEnd(4)} ${String(s.kbps).padStart(6)} kbit/s: ${fmt(s.pps, 0).padStart(6)} pkt/s forwarded, server CPU ${fmt(s.cpuFrac * 100, 0)}%, ${fmt(s.perCore, 0)} pkt per CPU-s, loss ${fmt(s.loss * 100, 2)}%`);
      const under = steps.filter((s) => s.loss < 0.01 && Number.isFinite(s.perCore));
      const top = under[under.length - 1];
      best[kind].push(top ? top.perCore : NaN);
    }
    // Per-packet cost depends on the rate (fixed costs amortise): compare at the highest rate both kept under 1% loss.
    const ok = (kind, kbps) => got[kind].find((s) => s.kbps === kbps && s.loss < 0.01);
    const common = STEPS_KBPS.filter((k) => ok('bare', k) && ok('sfu', k)).pop();
    ratios.push(common ? ok('sfu', common).perCore / ok('bare', common).perCore : NaN);
    if (common) console.log(`  round ${i + 1}: at ${common} kbit/s, sfu/bare pkt per CPU-s = ${fmt(ratios[ratios.length - 1], 2)}`);
  }
  console.log(`  pkt per CPU-second at each one's highest step under 1% loss: bare werift ${spread(best.bare, 0)}`);
  console.log(`                                                              rtcprobe sfu ${spread(best.sfu, 0)}`);
  console.log(`  sfu / bare at the highest rate both kept under 1% loss, same round: ${spread(ratios, 2)}`);
}

// ---------- SFU: RSS per participant ----------
async function rssOnce(kind) {
  const rl = await relay();
  const room = `rss-${kind}-${Math.random().toString(36).slice(2, 8)}`;
  const server = await startServer(kind, rl.ws, room);
  const peers = [];
  try {
    const add = async (n) => {
      for (let i = 0; i < n; i++) {
        const p = new MeshPeer({ url: rl.ws, room, peerId: `p${peers.length}`, iceServers: [], loopback: true, traffic: { channels: ['data', 'audio'], dataRate: 10 }, timeoutMs: 20_000, signal: ac.signal });
        peers.push(p);
        await p.start();
      }
      await clientsUp(peers);
      await sleep(2000);
      return rssOf(server.pid);
    };
    const r2 = await add(2);
    const r8 = await add(6);
    return (r8 - r2) / 6;
  } finally {
    await Promise.allSettled(peers.map((p) => p.stop()));
    await server.stop();
    await rl.close();
  }
}

async function rss() {
  console.log('\nSFU 3. server RSS per participant: (RSS with 8 participants − RSS with 2) / 6, audio + data at 10 probes/s, MB');
  const per = { bare: [], sfu: [] };
  for (let i = 0; i < ROUNDS && !ac.signal.aborted; i++) for (const kind of ['bare', 'sfu']) per[kind].push((await rssOnce(kind)) / 1e6);
  console.log(`  bare werift  ${spread(per.bare, 2)}`);
  console.log(`  rtcprobe sfu ${spread(per.sfu, 2)}`);
}

main(async () => {
  process.on('SIGINT', () => ac.abort());
  process.on('SIGTERM', () => ac.abort());
  const start = header('bench/sfu-mcu', `ROUNDS=${ROUNDS} SECTIONS=${SECTIONS.join(',')} npm run bench:sfu-mcu`);
  const want = (part) => SECTIONS.includes('sfu') || SECTIONS.includes(`sfu-${part}`);
  if (want('hop')) await hopLatency();
  if (want('capacity')) await capacity();
  if (want('rss')) await rss();
  let mcuCode = 0;
  if (SECTIONS.includes('mcu') && !ac.signal.aborted) {
    const mcu = spawnTracked(process.execPath, [fileURLToPath(new URL('./mcu.mjs', import.meta.url))], { stdio: 'inherit' });
    mcuCode = await new Promise((resolve) => mcu.once('exit', (code) => resolve(code ?? 1)));
  }
  if (SECTIONS.includes('janus') && !ac.signal.aborted) await janusSection({ rounds: ROUNDS, signal: ac.signal });
  footer(start);
  console.log('  figures are from a shared machine: compare the ratios and differences of the same run, not the absolute values');
  return mcuCode;
});
