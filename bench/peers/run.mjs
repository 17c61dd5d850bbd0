// Data-channel benchmark of the headless peers (loopback, one process):
//  1. round-trip p50 through rtcprobe's layer vs a bare werift echo loop;
//  2. a 2,000 x 100-byte burst: all at once vs paced, raw werift vs the
//     pacer with back-pressure (echoes counted at 3 s, CPU time).
// Needs `npm run build` (imports dist/). Ends by itself; closes every peer.
import { RTCPeerConnection } from 'werift';
import { connectPair } from '../../dist/core/rtc/pair.js';
import { runProbes, startEcho } from '../../dist/core/rtc/channel.js';
import { decodeProbe, encodeProbe } from '../../dist/core/bench/probe.js';
import { summarizeExact } from '../../dist/core/bench/summary.js';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const PER_ROUND = Number(process.env.PER_ROUND ?? 200);
const BURST = Number(process.env.BURST ?? 2000);
const SNAPSHOT_MS = 3000;
const CAP_MS = Number(process.env.CAP_MS ?? 10_000);
const W = { timeoutMs: 15_000 };

const loopback = { iceServers: [], iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], bundlePolicy: 'max-bundle' };
const waitState = (get, ev, want) => new Promise((r) => { if (get() === want) r(); ev.subscribe((s) => s === want && r()); });

/** Two bare werift peers with one ordered channel; the answerer echoes every message. */
async function barePair() {
  const a = new RTCPeerConnection(loopback);
  const b = new RTCPeerConnection(loopback);
  const dc = a.createDataChannel('bare');
  b.onDataChannel.subscribe((ch) => ch.onMessage.subscribe((m) => ch.send(m)));
  await a.setLocalDescription(await a.createOffer());
  await waitState(() => a.iceGatheringState, a.iceGatheringStateChange, 'complete');
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await waitState(() => b.iceGatheringState, b.iceGatheringStateChange, 'complete');
  await a.setRemoteDescription(b.localDescription);
  await waitState(() => dc.readyState, dc.stateChanged, 'open');
  return { dc, close: async () => { await a.close(); await b.close(); } };
}

async function bareRtts(dc, n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t1 = performance.now() * 1000;
    const msg = encodeProbe({ kind: 'probe', echo: false, streamId: 1, seq: i, sentUs: t1, sentWallMs: Date.now(), echoRecvUs: 0, echoSendUs: 0 }, 100);
    await new Promise((resolve) => {
      const s = dc.onMessage.subscribe(() => { s.unSubscribe(); resolve(); });
      dc.send(msg);
    });
    out.push(performance.now() - t1 / 1000);
  }
  return out;
}

const fmt = (x) => (x === undefined ? '-' : x.toFixed(3));

async function rttComparison() {
  const bare = await barePair();
  const pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
  const a = await pair.offerer.dataChannels(W);
  const b = await pair.answerer.dataChannels(W);
  const stop = startEcho(b.reliable);
  const ours = [];
  const raw = [];
  await bareRtts(bare.dc, 50); // warm-up
  await runProbes(a.reliable, { count: 50, sequential: true, timeoutMs: 10_000 });
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(...(await bareRtts(bare.dc, PER_ROUND)));
    const res = await runProbes(a.reliable, { count: PER_ROUND, sequential: true, payloadBytes: 100, timeoutMs: 30_000 });
    if (res.received !== res.sent) throw new Error(`lost ${res.sent - res.received} probes`);
    ours.push(...res.rttMs);
  }
  stop();
  await pair.close();
  await bare.close();
  const so = summarizeExact(ours);
  const sr = summarizeExact(raw);
  console.log(`\n1. data-channel RTT, 100-byte ping-pong, ${ROUNDS} x ${PER_ROUND} alternating rounds (ms)`);
  console.log('   path            p50     p95     p99     max');
  console.log(`   bare werift   ${fmt(sr.p50)}  ${fmt(sr.p95)}  ${fmt(sr.p99)}  ${fmt(sr.max)}`);
  console.log(`   rtcprobe      ${fmt(so.p50)}  ${fmt(so.p95)}  ${fmt(so.p99)}  ${fmt(so.max)}`);
  console.log(`   ratio p50 rtcprobe/bare: ${(so.p50 / sr.p50).toFixed(3)}`);
}

/** Run one burst scenario and report echoes at 3 s and at the end (cap). */
async function burst(name, setup) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const s = await setup();
  const tStart = performance.now();
  const cpuStart = process.cpuUsage();
  let snap;
  let doneAt;
  await new Promise((resolve) => {
    const snapTimer = setTimeout(() => {
      const c = process.cpuUsage(cpuStart);
      snap = { echoed: s.echoed(), buffered: s.buffered(), cpuMs: (c.user + c.system) / 1000 };
    }, SNAPSHOT_MS);
    const poll = setInterval(() => {
      if (s.echoed() >= BURST && doneAt === undefined) doneAt = performance.now() - tStart;
      if ((doneAt !== undefined && snap) || performance.now() - tStart > CAP_MS) {
        clearInterval(poll);
        clearTimeout(snapTimer);
        resolve();
      }
    }, 20);
    s.start();
  });
  const c = process.cpuUsage(cpuStart);
  const end = { echoed: s.echoed(), buffered: s.buffered(), cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - tStart };
  await s.close();
  void cpu0; void t0;
  snap ??= end;
  return { name, snap, end, doneAt, peak: s.peak?.() };
}

const msg100 = (seq) => encodeProbe({ kind: 'bulk', echo: false, streamId: 5, seq, sentUs: performance.now() * 1000, sentWallMs: Date.now(), echoRecvUs: 0, echoSendUs: 0 }, 100);

function rawScenario(paced) {
  return async () => {
    const { dc, close } = await barePair();
    let echoed = 0;
    dc.onMessage.subscribe(() => echoed++);
    let timer;
    return {
      start() {
        if (!paced) for (let i = 0; i < BURST; i++) dc.send(msg100(i));
        else {
          let i = 0;
          timer = setInterval(() => {
            for (let k = 0; k < 10 && i < BURST; k++) dc.send(msg100(i++));
            if (i >= BURST) clearInterval(timer);
          }, 1);
        }
      },
      echoed: () => echoed,
      buffered: () => dc.bufferedAmount,
      close: async () => { clearInterval(timer); await close(); },
    };
  };
}

function ourScenario(o) {
  return async () => {
    const pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
    const a = await pair.offerer.dataChannels(W);
    const b = await pair.answerer.dataChannels(W);
    const echoPacer = o.echoPaced ? pair.answerer.pacer(b.reliable, o.pacer) : undefined;
    const stop = startEcho(b.reliable, undefined, echoPacer);
    const pacer = pair.offerer.pacer(a.reliable, o.pacer);
    let echoed = 0;
    a.reliable.onMessage((d) => { if (decodeProbe(d)?.echo) echoed++; });
    return {
      start() { for (let i = 0; i < BURST; i++) pacer.send(msg100(i)); },
      echoed: () => echoed,
      buffered: () => a.reliable.bufferedAmount + pacer.queued * 100,
      peak: () => pacer.peakMessages,
      close: async () => { stop(); await pair.close(); },
    };
  };
}

async function main() {
  const { createRequire } = await import('node:module');
  const wv = JSON.parse((await import('node:fs')).readFileSync(createRequire(import.meta.url).resolve('werift').replace(/lib\/webrtc\/src\/index\.js$/, 'package.json'), 'utf8')).version;
  console.log(`node ${process.version}, werift ${wv}, pacer defaults: 10 msg/ms, 16 KiB / 64 messages high water, 4 KiB low water`);
  if (!process.env.SCENARIOS) await rttComparison();
  const rows = [];
  if (process.env.SCENARIOS) {
    for (const [name, o] of Object.entries(JSON.parse(process.env.SCENARIOS))) rows.push(await burst(name, o === 'raw' ? rawScenario(false) : o === 'rawpaced' ? rawScenario(true) : ourScenario(o)));
  } else {
  rows.push(await burst('raw werift, all at once', rawScenario(false)));
  rows.push(await burst('raw werift, paced 10/ms', rawScenario(true)));
  rows.push(await burst('pacer (defaults), echo raw', ourScenario({ pacer: {}, echoPaced: false })));
  rows.push(await burst('pacer (defaults) both sides', ourScenario({ pacer: {}, echoPaced: true })));
  rows.push(await burst('back-pressure only, both', ourScenario({ pacer: { messagesPerMs: Infinity }, echoPaced: true })));
  rows.push(await burst('rate only (no high water)', ourScenario({ pacer: { highWaterBytes: Infinity, highWaterMessages: Infinity }, echoPaced: true })));
  }
  console.log(`\n2. burst of ${BURST} x 100-byte messages on the reliable channel, echoed back (CPU: whole process, both peers)`);
  console.log('   scenario                       echoed@3s  buffered@3s  cpu@3s(ms)  all echoed after  echoed@end  cpu@end(ms)  peak msgs in werift');
  for (const r of rows) {
    console.log(`   ${r.name.padEnd(30)} ${String(r.snap.echoed).padStart(9)}  ${String(r.snap.buffered).padStart(11)}  ${r.snap.cpuMs.toFixed(0).padStart(10)}  ${(r.doneAt === undefined ? `not in ${CAP_MS} ms` : `${r.doneAt.toFixed(0)} ms`).padStart(16)}  ${String(r.end.echoed).padStart(10)}  ${r.end.cpuMs.toFixed(0).padStart(11)}  ${r.peak === undefined ? '-' : r.peak}`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
