// Benchmark of the headless peers (werift through rtcprobe's layer), loopback only.
// Sections (SECTIONS, comma-separated; default all):
//  rtt     data-channel RTT p50 through rtcprobe's layer vs a bare werift echo loop,
//          alternating rounds in this process; the ratio is taken round by round.
//  burst   2,000 x 100-byte messages handed over at once / paced, echoed back.
//  tput    one-way reliable data-channel throughput, 1,000-byte messages: bare werift
//          with bufferedAmountLowThreshold back-pressure vs rtcprobe's pacer.
//  mesh    `rtcprobe bench --channels audio` for N = 2, 4, 6, 8 (child processes): p99
//          one-way audio delay and CPU per peer against N; the largest N with p99 < 50 ms.
//  streams audio-like streams (50 packets/s each, both ends in this process) added in
//          steps until loss >= 1%; peak RSS per peer connection.
// Needs `npm run build` (imports dist/). Ends by itself; closes every peer and stops
// every child on Ctrl-C. Every figure is a median over rounds with IQR and min-max.
import { RTCPeerConnection } from 'werift';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connectPair } from '../../dist/core/rtc/pair.js';
import { runProbes, startEcho } from '../../dist/core/rtc/channel.js';
import { decodeProbe, encodeProbe } from '../../dist/core/bench/probe.js';
import { summarizeExact } from '../../dist/core/bench/summary.js';
import { ReceiveTracker } from '../../dist/core/bench/tracker.js';
import { main, run, isStopping } from '../lib/procs.mjs';
import { printTable, header, footer, sig, fmt } from '../lib/report.mjs';
import { summary } from '../lib/stats.mjs';

const env = (k, d) => (process.env[k] === undefined ? d : process.env[k]);
const SECTIONS = env('SECTIONS', 'rtt,burst,tput,mesh,streams').split(',');
const ROUNDS = Number(env('ROUNDS', 7));
const PER_ROUND = Number(env('PER_ROUND', 300));
const BURST = Number(env('BURST', 2000));
const BURST_ROUNDS = Number(env('BURST_ROUNDS', 3));
const CAP_MS = Number(env('CAP_MS', 10_000));
const TPUT_ROUNDS = Number(env('TPUT_ROUNDS', 5));
const TPUT_MS = Number(env('TPUT_MS', 2000));
const MESH_SIZES = env('MESH_SIZES', '2,4,6,8').split(',').map(Number);
const MESH_ROUNDS = Number(env('MESH_ROUNDS', 3));
const MESH_DURATION = Number(env('MESH_DURATION', 5));
const STREAM_LEVELS = env('STREAM_LEVELS', '10,20,40,60,80,100,120,150,200').split(',').map(Number);
const STREAM_ROUNDS = Number(env('STREAM_ROUNDS', 3));
const STREAM_MS = Number(env('STREAM_MS', 3000));
const SNAPSHOT_MS = 3000;
const W = { timeoutMs: 20_000 };
const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
// UNPATCHED_WERIFT=<a werift package folder without patches/ applied>: the burst section adds that werift, all at once.
const UNPATCHED = process.env.UNPATCHED_WERIFT;
let UnpatchedPC;

const loopback = { iceServers: [], iceUseIpv4: false, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], bundlePolicy: 'max-bundle' };
const waitState = (get, ev, want) => new Promise((r) => { if (get() === want) r(); ev.subscribe((s) => s === want && r()); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuMs = (c) => (c.user + c.system) / 1000;

/** Two bare werift peers with one ordered channel; the answerer echoes every message unless echo is false. */
async function barePair({ echo = true, PC = RTCPeerConnection } = {}) {
  const a = new PC(loopback);
  const b = new PC(loopback);
  const dc = a.createDataChannel('bare');
  let remote;
  const remoteOpen = new Promise((r) => b.onDataChannel.subscribe((ch) => { remote = ch; if (echo) ch.onMessage.subscribe((m) => ch.send(m)); r(); }));
  await a.setLocalDescription(await a.createOffer());
  await waitState(() => a.iceGatheringState, a.iceGatheringStateChange, 'complete');
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await waitState(() => b.iceGatheringState, b.iceGatheringStateChange, 'complete');
  await a.setRemoteDescription(b.localDescription);
  await waitState(() => dc.readyState, dc.stateChanged, 'open');
  await remoteOpen;
  return { dc, remote: () => remote, close: async () => { await a.close(); await b.close(); } };
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

async function rttSection() {
  const bare = await barePair();
  const pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
  const a = await pair.offerer.dataChannels(W);
  const b = await pair.answerer.dataChannels(W);
  const stop = startEcho(b.reliable);
  const p50 = { bare: [], ours: [] };
  const p99 = { bare: [], ours: [] };
  await bareRtts(bare.dc, 50); // warm-up
  await runProbes(a.reliable, { count: 50, sequential: true, timeoutMs: 10_000 });
  for (let r = 0; r < ROUNDS && !isStopping(); r++) {
    // Alternate which goes first, so a load change hits both alike.
    const order = r % 2 === 0 ? ['bare', 'ours'] : ['ours', 'bare'];
    for (const which of order) {
      let xs;
      if (which === 'bare') xs = await bareRtts(bare.dc, PER_ROUND);
      else {
        const res = await runProbes(a.reliable, { count: PER_ROUND, sequential: true, payloadBytes: 100, timeoutMs: 30_000 });
        if (res.received !== res.sent) throw new Error(`lost ${res.sent - res.received} probes`);
        xs = res.rttMs;
      }
      const s = summarizeExact(xs);
      p50[which].push(s.p50);
      p99[which].push(s.p99);
    }
  }
  stop();
  await pair.close();
  await bare.close();
  console.log('');
  const t = printTable({
    title: `rtt: data-channel RTT, 100-byte ping-pong, ${ROUNDS} alternating rounds x ${PER_ROUND} (ms; goal: rtcprobe p50 <= 1.1 x bare)`,
    unit: 'ms', digits: 3,
    rows: [
      { key: 'bare50', label: 'p50 bare werift echo loop', values: p50.bare },
      { key: 'ours50', label: 'p50 rtcprobe (runProbes/startEcho)', values: p50.ours, baseline: 'bare50' },
      { key: 'bare99', label: 'p99 bare werift', values: p99.bare },
      { key: 'ours99', label: 'p99 rtcprobe', values: p99.ours, baseline: 'bare99' },
    ],
  });
  return t;
}

/** One burst scenario: echoes at 3 s and at the end (cap), CPU of the whole process. */
async function burst(setup) {
  const s = await setup();
  const tStart = performance.now();
  const cpuStart = process.cpuUsage();
  let snap;
  let doneAt;
  await new Promise((resolve) => {
    const snapTimer = setTimeout(() => {
      snap = { echoed: s.echoed(), buffered: s.buffered(), cpuMs: cpuMs(process.cpuUsage(cpuStart)) };
    }, SNAPSHOT_MS);
    const poll = setInterval(() => {
      if (s.echoed() >= BURST && doneAt === undefined) doneAt = performance.now() - tStart;
      if ((doneAt !== undefined && (snap || performance.now() - tStart > SNAPSHOT_MS)) || performance.now() - tStart > CAP_MS || isStopping()) {
        clearInterval(poll);
        clearTimeout(snapTimer);
        resolve();
      }
    }, 10);
    s.start();
  });
  const end = { echoed: s.echoed(), cpuMs: cpuMs(process.cpuUsage(cpuStart)) };
  await s.close();
  return { snap: snap ?? { echoed: end.echoed, buffered: s.buffered(), cpuMs: end.cpuMs }, end, doneAt };
}

const msg100 = (seq) => encodeProbe({ kind: 'bulk', echo: false, streamId: 5, seq, sentUs: performance.now() * 1000, sentWallMs: Date.now(), echoRecvUs: 0, echoSendUs: 0 }, 100);

function rawScenario(paced, PC) {
  return async () => {
    const { dc, close } = await barePair({ PC });
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

function pacerScenario() {
  return async () => {
    const pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
    const a = await pair.offerer.dataChannels(W);
    const b = await pair.answerer.dataChannels(W);
    const stop = startEcho(b.reliable, undefined, pair.answerer.pacer(b.reliable));
    const pacer = pair.offerer.pacer(a.reliable);
    let echoed = 0;
    a.reliable.onMessage((d) => { if (decodeProbe(d)?.echo) echoed++; });
    return {
      start() { for (let i = 0; i < BURST; i++) pacer.send(msg100(i)); },
      echoed: () => echoed,
      buffered: () => a.reliable.bufferedAmount + pacer.queued * 100,
      close: async () => { stop(); await pair.close(); },
    };
  };
}

async function burstSection() {
  const scen = [
    ['raw', 'bare werift, all at once', rawScenario(false)],
    ['rawPaced', 'bare werift, 10 per ms', rawScenario(true)],
    ['pacer', 'rtcprobe Pacer, both directions', pacerScenario()],
  ];
  if (UnpatchedPC) scen.push(['rawUnpatched', 'werift without the patches, all at once', rawScenario(false, UnpatchedPC)]);
  // BURST_SCENARIOS=raw,rawPaced,pacer,rawUnpatched: a subset.
  if (process.env.BURST_SCENARIOS) scen.splice(0, scen.length, ...scen.filter(([k]) => process.env.BURST_SCENARIOS.split(',').includes(k)));
  const res = Object.fromEntries(scen.map(([k]) => [k, []]));
  for (let r = 0; r < BURST_ROUNDS && !isStopping(); r++) {
    for (const [k, , setup] of r % 2 ? [...scen].reverse() : scen) res[k].push(await burst(setup));
  }
  console.log('');
  const rows = [];
  for (const [k, label] of scen) {
    const rs = res[k];
    rows.push({ key: `${k}Done`, label: `${label}: all echoed after (ms; missing = not within ${CAP_MS} ms)`, values: rs.map((x) => x.doneAt ?? NaN), ...(k === 'raw' || !res.raw ? {} : { baseline: 'rawDone' }) });
  }
  const t = printTable({ title: `burst: ${BURST} x 100-byte messages on the reliable channel, echoed back, ${BURST_ROUNDS} rounds`, unit: 'ms', digits: 0, rows });
  const more = printTable({
    title: '  echoed within 3 s, and CPU of the whole process (both peers) over the scenario',
    unit: '', digits: 0,
    rows: scen.flatMap(([k, label]) => [
      { key: `${k}Echo3`, label: `${label}: echoed at 3 s`, values: res[k].map((x) => x.snap.echoed) },
      { key: `${k}Cpu`, label: `${label}: CPU ms`, values: res[k].map((x) => x.end.cpuMs), ...(k === 'raw' || !res.raw ? {} : { baseline: 'rawCpu' }) },
    ]),
  });
  return { ...t, ...more };
}

/** One-way throughput for TPUT_MS: the receiver counts bytes; the sender keeps the channel fed. */
async function tputOnce(kind, size) {
  const payload = Buffer.alloc(size, 7);
  if (kind === 'bare') {
    const p = await barePair({ echo: false });
    let bytes = 0;
    p.remote().onMessage.subscribe((m) => (bytes += m.length));
    const dc = p.dc;
    const HIGH = 256 * 1024;
    dc.bufferedAmountLowThreshold = 64 * 1024;
    let stopped = false;
    const fill = () => { while (!stopped && dc.bufferedAmount < HIGH) dc.send(payload); };
    const sub = dc.bufferedAmountLow.subscribe(fill);
    const out = await fillFor(fill, () => bytes);
    stopped = true;
    sub.unSubscribe();
    await p.close();
    return out;
  }
  const pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
  const a = await pair.offerer.dataChannels(W);
  const b = await pair.answerer.dataChannels(W);
  let bytes = 0;
  b.reliable.onMessage((d) => (bytes += d.length));
  const pacer = pair.offerer.pacer(a.reliable, process.env.TPUT_PACER ? JSON.parse(process.env.TPUT_PACER) : {});
  let stopped = false;
  const fill = () => { while (!stopped && pacer.queued < 256) pacer.send(payload); };
  const out = await fillFor(fill, () => bytes);
  stopped = true;
  await pair.close();
  return out;
}

/**
 * Call `fill` now and every ms for TPUT_MS (a back-pressure event fires on a crossing only, so look
 * again every ms as well); then bytes/s received and the process's CPU share over that time.
 */
async function fillFor(fill, received) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  fill();
  const iv = setInterval(fill, 1);
  await sleep(TPUT_MS);
  clearInterval(iv);
  const ms = performance.now() - t0;
  return { bps: (received() * 1000) / ms, cpu: cpuMs(process.cpuUsage(c0)) / ms };
}

async function tputSection() {
  const r = { bare: [], ours: [], bareCpu: [], oursCpu: [], bare100: [], ours100: [] };
  for (let i = 0; i < TPUT_ROUNDS && !isStopping(); i++) {
    for (const k of i % 2 ? ['ours', 'bare'] : ['bare', 'ours']) {
      const x = await tputOnce(k, 1000);
      r[k].push(x.bps / 1e3);
      r[`${k}Cpu`].push(x.cpu * 100);
      r[`${k}100`].push((await tputOnce(k, 100)).bps / 100);
    }
  }
  console.log('');
  const a = printTable({
    title: `tput: one-way reliable data-channel throughput on loopback, ${TPUT_MS} ms per run, ${TPUT_ROUNDS} rounds (both peers in this process)`,
    unit: '', digits: 0,
    rows: [
      { key: 'bare', label: 'bare werift, 1,000 B, back-pressure (kB/s)', values: r.bare },
      { key: 'ours', label: 'rtcprobe Pacer, 1,000 B (kB/s)', values: r.ours, baseline: 'bare' },
      { key: 'bareCpu', label: 'bare werift: process CPU (% of a core)', values: r.bareCpu },
      { key: 'oursCpu', label: 'rtcprobe Pacer: process CPU (% of a core)', values: r.oursCpu, baseline: 'bareCpu' },
      { key: 'bare100', label: 'bare werift, 100 B (messages/s)', values: r.bare100 },
      { key: 'ours100', label: 'rtcprobe Pacer, 100 B (messages/s)', values: r.ours100, baseline: 'bare100' },
    ],
  });
  return a;
}

async function meshSection() {
  const per = Object.fromEntries(MESH_SIZES.map((n) => [n, { p99: [], cpuPerPeer: [], loss: [], rss: [] }]));
  for (let r = 0; r < MESH_ROUNDS && !isStopping(); r++) {
    for (const n of r % 2 ? [...MESH_SIZES].reverse() : MESH_SIZES) {
      const res = await run(process.execPath, [BIN, 'bench', '--peers', String(n), '--channels', 'data,audio', '--duration', String(MESH_DURATION), '--warmup', '1', '--json'], { timeoutMs: 180_000 });
      let j;
      try { j = JSON.parse(res.stdout); } catch { j = undefined; }
      const x = per[n];
      const ok = j && j.connections?.up === j.connections?.expected && j.aggregate?.audio?.oneWayMs;
      if (!ok) process.stderr.write(`mesh N=${n}: no figure this round (exit ${res.code}${j ? `, ${j.connections?.up}/${j.connections?.expected} up` : ''})\n`);
      x.p99.push(ok ? j.aggregate.audio.oneWayMs.p99 : NaN);
      x.loss.push(ok ? j.aggregate.audio.lossRatio * 100 : NaN);
      x.cpuPerPeer.push(ok && j.limit?.cpuShare !== undefined ? (j.limit.cpuShare * 100) / n : NaN);
      x.rss.push(ok ? j.processes[0].maxRssBytes / 1e6 : NaN);
    }
  }
  console.log('');
  const rows = [];
  for (const n of MESH_SIZES) {
    rows.push({ key: `p99_${n}`, label: `N=${n}: audio one-way p99 (ms)`, values: per[n].p99, ...(n === MESH_SIZES[0] ? {} : { baseline: `p99_${MESH_SIZES[0]}` }) });
  }
  for (const n of MESH_SIZES) {
    rows.push({ key: `cpu_${n}`, label: `N=${n}: CPU per peer (% of a core)`, values: per[n].cpuPerPeer, ...(n === MESH_SIZES[0] ? {} : { baseline: `cpu_${MESH_SIZES[0]}` }) });
  }
  for (const n of MESH_SIZES) rows.push({ key: `loss_${n}`, label: `N=${n}: audio loss (%)`, values: per[n].loss });
  for (const n of MESH_SIZES) rows.push({ key: `rss_${n}`, label: `N=${n}: peak RSS of the process (MB)`, values: per[n].rss });
  // Per RTCPeerConnection: the growth over the smallest N of the same round, per connection (N(N-1) in the process) added.
  const n0 = MESH_SIZES[0];
  for (const n of MESH_SIZES.slice(1)) {
    rows.push({ key: `rssc_${n}`, label: `N=${n}: peak RSS growth per RTCPeerConnection over N=${n0} (MB)`, values: per[n].rss.map((v, i) => (v - per[n0].rss[i]) / (n * (n - 1) - n0 * (n0 - 1))) });
  }
  const t = printTable({ title: `mesh: rtcprobe bench --channels data,audio --duration ${MESH_DURATION}, one process, ${MESH_ROUNDS} rounds per N (N(N-1)/2 connections, 50 packets/s each way)`, unit: '', digits: 2, rows });
  const fits = MESH_SIZES.filter((n) => t[`p99_${n}`].median < 50);
  const largest = fits.length ? Math.max(...fits) : undefined;
  console.log(`  largest N with median p99 < 50 ms: ${largest ?? 'none'}${largest === Math.max(...MESH_SIZES) ? ' (the largest size tried)' : ''}`);
  return { ...t, largestN: largest };
}

/** One ramp: add audio streams (one pair each, both ends here) until loss >= 1%. */
async function streamRamp() {
  const pairs = [];
  const levels = [];
  const rss0 = process.memoryUsage().rss;
  let rssTop = rss0;
  try {
    for (const k of STREAM_LEVELS) {
      if (isStopping()) break;
      let failed;
      while (pairs.length < k && !failed) {
        let pair;
        try {
          pair = await connectPair({ iceServers: [], loopback: true, audio: 'pcmu' }, { iceServers: [], loopback: true }, W);
        } catch (err) {
          failed = err;
          break;
        }
        const entry = { pair, tracker: new ReceiveTracker({ clockRate: 8000 }) };
        pair.answerer.onRtp((p) => entry.tracker.add({ seq: p.seq, arrivalMs: p.arrivalUs / 1000, rtpTimestamp: p.timestamp }));
        entry.sending = pair.offerer.sendAudio({ packets: Number.MAX_SAFE_INTEGER, timeoutMs: 2_000_000_000 }).catch(() => {});
        entry.owd = [];
        pair.answerer.onRtp((p) => p.probe && entry.owd.push(p.arrivalUs / 1000 - p.probe.sentUs / 1000));
        pairs.push(entry);
      }
      if (failed) {
        // A level whose connections do not come up (within 20 s) is a miss as well.
        levels.push({ k, loss: NaN, connectFailed: true });
        process.stderr.write(`  streams ${k}: connection ${pairs.length + 1} did not come up (${failed.message})\n`);
        break;
      }
      await sleep(500); // the new streams settle
      for (const e of pairs) { e.tracker = new ReceiveTracker({ clockRate: 8000 }); e.owd = []; }
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await sleep(STREAM_MS);
      rssTop = Math.max(rssTop, process.memoryUsage().rss);
      const cpu = cpuMs(process.cpuUsage(c0)) / (performance.now() - t0);
      let expected = 0;
      let lost = 0;
      const owd = [];
      for (const e of pairs) {
        const s = e.tracker.report();
        expected += s.expected;
        lost += Math.max(0, s.lost);
        owd.push(...e.owd);
      }
      const loss = expected ? lost / expected : NaN;
      const p99 = summarizeExact(owd)?.p99;
      levels.push({ k, loss, p99, cpu, expected });
      process.stderr.write(`  streams ${k}: loss ${fmt(loss * 100, 2)}%, one-way p99 ${fmt(p99, 1)} ms, CPU ${fmt(cpu * 100, 0)}% of a core\n`);
      if (!(loss < 0.01)) break;
    }
  } finally {
    // RSS at the end of the highest level measured, over RSS before the ramp, per RTCPeerConnection.
    const n = pairs.length;
    levels.rss = { perConnMb: n ? (rssTop - rss0) / 1e6 / (2 * n) : NaN, connections: 2 * n };
    await Promise.all(pairs.map((e) => e.pair.close()));
  }
  return levels;
}

async function streamsSection() {
  const best = [];
  const cpuAtBest = [];
  const rss = [];
  const firstMiss = [];
  for (let r = 0; r < STREAM_ROUNDS && !isStopping(); r++) {
    process.stderr.write(`streams round ${r + 1}\n`);
    const levels = await streamRamp();
    const ok = levels.filter((l) => l.loss < 0.01);
    best.push(ok.length ? ok[ok.length - 1].k : NaN);
    cpuAtBest.push(ok.length ? ok[ok.length - 1].cpu * 100 : NaN);
    const miss = levels.find((l) => !(l.loss < 0.01));
    firstMiss.push(miss ? miss.k : NaN);
    rss.push(levels.rss.perConnMb);
  }
  console.log('');
  const t = printTable({
    title: `streams: audio-like streams (PCMU, 50 packets/s, sender and receiver both in this process), levels ${STREAM_LEVELS.join(',')}, ${STREAM_MS} ms each, ${STREAM_ROUNDS} rounds`,
    unit: '', digits: 1,
    rows: [
      { key: 'best', label: 'most streams with loss < 1%', values: best },
      { key: 'miss', label: 'first level with loss >= 1%', values: firstMiss, note: 'missing: neither loss nor a failed connection up to the largest level' },
      { key: 'cpu', label: 'process CPU at that level (% of a core)', values: cpuAtBest },
      { key: 'rss', label: 'RSS growth per RTCPeerConnection (MB; highest level over before the ramp)', values: rss },
    ],
  });
  return t;
}

main(async () => {
  const wv = JSON.parse(readFileSync(createRequire(import.meta.url).resolve('werift').replace(/lib\/webrtc\/src\/index\.js$/, 'package.json'), 'utf8')).version;
  const start = header('bench:peers', `SECTIONS=${SECTIONS.join(',')} node bench/peers/run.mjs`);
  if (UNPATCHED) {
    UnpatchedPC = (await import(pathToFileURL(`${UNPATCHED}/lib/index.mjs`).href)).RTCPeerConnection;
    console.log(`  unpatched werift for comparison: ${UNPATCHED}`);
  }
  console.log(`  werift ${wv}; pacer defaults: 10 msg/ms, 16 KiB / 64 messages high water, 4 KiB low water`);
  const out = {};
  if (SECTIONS.includes('rtt')) out.rtt = await rttSection();
  if (SECTIONS.includes('burst')) out.burst = await burstSection();
  if (SECTIONS.includes('tput')) out.tput = await tputSection();
  if (SECTIONS.includes('mesh')) out.mesh = await meshSection();
  if (SECTIONS.includes('streams')) out.streams = await streamsSection();
  footer(start);
  if (process.env.BENCH_JSON) console.log(JSON.stringify(out));
  void sig; void summary;
  return 0;
});
