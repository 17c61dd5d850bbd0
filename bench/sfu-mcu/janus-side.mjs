// Room-server benchmark, Janus section: rtcprobe's SFU and MCU side by side with
// Debian's Janus (VideoRoom, AudioBridge), in the same run and on the same path.
//
// Janus needs a non-loopback interface (libnice skips loopback), so
// bench/lib/janus.mjs starts it in a network namespace of its own joined to
// the root namespace by a veth pair. `rtcprobe sfu serve` and `rtcprobe mcu
// serve` run in that same namespace (`ip netns exec`, no --loopback: they
// gather on the namespace's end of the veth), the signaling relay listens on
// the root end of the veth, and every client stays in the bench process in the
// root namespace: both servers are reached over the same veth.
//
// Per round (the order of the two servers alternates round by round):
//  a. SFU hop: one publisher (synthetic VP8-typed video, 30 fps, 500 kbit/s,
//     every payload starting with the probe header: its send time on this
//     process's clock) and SUBSCRIBERS subscribers; one-way delay = arrival at
//     a subscriber − send time, one clock, p50 over every packet of every
//     subscriber in a SECONDS window; rtcprobe / Janus per round. rtcprobe's
//     subscribers must offer a sendrecv video m-line (MeshPeer sends what it
//     negotiates): they send 1 fps at 8 kbit/s, and only the publisher's stream
//     (the SSRC with the most packets at each subscriber) is timed; its loss is
//     counted from the gaps in the probe sequence numbers.
//  b. MCU tone onset: participant A sends PCMU silence, then a 1 kHz tone,
//     TONE_BURSTS times; B receives the server's mix; one sample = first frame
//     at B with energy after the tone's first frame was sent, minus that send
//     time (janus.mjs toneOnsetsOver, the same code for both servers).
//  c. server RSS per participant: (VmRSS with the participants of (a) connected
//     − VmRSS just before they joined) / participants, and the process's VmHWM;
//     the same for the two participants of (b). Janus is one process for the
//     whole section (SFU and MCU plugins; "before" is taken once the round's
//     room exists), rtcprobe's servers one per round (joined to their room
//     before "before").
// Plus, as context, the same video hop straight from one werift peer to another
// on 127.0.0.1 (no server), the baseline janus.mjs uses.
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnTracked, have } from '../lib/procs.mjs';
import { fmt, printTable } from '../lib/report.mjs';
import { startJanus, janusVideoRoomHop, janusAudioBridge, directVideoHop, toneOnsetsOver } from '../lib/janus.mjs';
import { SignalRelay } from '../../dist/core/signaling/server.js';
import { MeshPeer } from '../../dist/core/rtc/mesh.js';
import { ImpulseClient } from '../../dist/core/rtc/mcu-client.js';

const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
const SECONDS = Number(process.env.JANUS_SECONDS ?? 5);
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 2);
const TONE_BURSTS = Number(process.env.TONE_BURSTS ?? 5);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Why the section cannot run here, or undefined. */
export function janusUnavailable() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (network namespace for Janus)';
  for (const tool of ['janus', 'ip']) if (!have(tool)) return `needs ${tool} (Debian package ${tool === 'ip' ? 'iproute2' : 'janus'})`;
  return undefined;
}

function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(text)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 };
}

/** `rtcprobe sfu|mcu serve` inside the Janus namespace; resolves once it has joined the room. */
async function startServer(kind, namespace, ws, room, signal) {
  const args = kind === 'sfu'
    ? ['sfu', 'serve', '--signal', ws, '--room', room, '--peer-id', 'zz-sfu', '--listen', '127.0.0.1:0', '--max-kbps', '1000000', '--json']
    : ['mcu', 'serve', '--signal', ws, '--room', room, '--peer-id', 'zz-mcu', '--listen', '127.0.0.1:0', '--json'];
  // `ip netns exec` execs node: the child's pid is the server's.
  const child = spawnTracked('ip', ['netns', 'exec', namespace, process.execPath, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  process.stderr.write(`janus side: rtcprobe ${kind} serve pid ${child.pid} in ${namespace}\n`);
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise((r) => child.once('exit', r));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${kind} serve did not start within 20 s: ${err.slice(-500)}`)), 20_000);
    const fail = () => { clearTimeout(t); reject(new Error(`${kind} serve stopped before it was ready: ${err.slice(-500)}`)); };
    child.once('exit', fail);
    signal.addEventListener('abort', fail, { once: true });
    createInterface({ input: child.stdout }).on('line', (l) => {
      try {
        if (JSON.parse(l).event === 'listening') { clearTimeout(t); child.off('exit', fail); signal.removeEventListener('abort', fail); resolve(); }
      } catch { /* not JSON */ }
    });
  });
  return {
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const k = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(k);
      }
    },
  };
}

async function waitUp(peers, signal, timeoutMs = 30_000) {
  const t0 = Date.now();
  while (!peers.every((p) => p.states().up === 1)) {
    if (signal.aborted) throw new Error('aborted');
    if (Date.now() - t0 > timeoutMs) throw new Error('clients did not connect to the rtcprobe server');
    await sleep(50);
  }
}

/** (a) + (c) for rtcprobe's SFU. */
async function rtcprobeSfuHop(janus, ws, round, signal) {
  const room = `jside-sfu-${process.pid}-${round}`;
  const server = await startServer('sfu', janus.namespace, ws, room, signal);
  const peers = [];
  try {
    await sleep(300);
    const before = status(server.pid);
    const mk = (id, traffic) => {
      const p = new MeshPeer({ url: ws, room, peerId: id, iceServers: [], traffic, timeoutMs: 20_000, signal });
      peers.push(p);
      return p;
    };
    const pub = mk('pub', { channels: ['video'], videoFps: 30, videoKbps: 500 });
    await pub.start();
    await waitUp([pub], signal);
    const subs = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const s = mk(`sub${i}`, { channels: ['video'], videoFps: 1, videoKbps: 8 });
      await s.start();
      subs.push(s);
    }
    await waitUp(peers, signal);
    // Per subscriber: one-way delays by SSRC (the SFU gives each source its own).
    const bySsrc = subs.map(() => new Map());
    subs.forEach((s, i) => {
      for (const c of s.conns.values()) {
        c.rtc.onRtp((a) => {
          if (!a.probe || a.probe.kind !== 'video' || !recording) return;
          const m = bySsrc[i];
          if (!m.has(a.ssrc)) m.set(a.ssrc, { owd: [], seqs: new Set() });
          const e = m.get(a.ssrc);
          e.owd.push((a.arrivalUs - a.probe.sentUs) / 1000);
          e.seqs.add(a.probe.seq);
        });
      }
    });
    let recording = false;
    await sleep(500);
    const during = status(server.pid);
    recording = true;
    await sleep(SECONDS * 1000);
    recording = false;
    const owd = [];
    let received = 0;
    let expected = 0;
    for (const m of bySsrc) {
      const top = [...m.values()].sort((x, y) => y.length - x.length)[0] ?? { owd: [], seqs: new Set() };
      owd.push(...top.owd);
      const seqs = [...top.seqs];
      received += seqs.length;
      if (seqs.length) expected += Math.max(...seqs) - Math.min(...seqs) + 1;
    }
    const participants = 1 + SUBSCRIBERS;
    return { owd, sent: expected, received, rssPerParticipant: (during.rss - before.rss) / participants, hwm: status(server.pid).hwm };
  } finally {
    await Promise.allSettled(peers.map((p) => p.stop()));
    await server.stop();
  }
}

/** (a) + (c) for Janus: janus.mjs's VideoRoom hop, with Janus's RSS sampled around it. */
async function janusHop(janus, round) {
  let before;
  let during;
  const hop = await janusVideoRoomHop(janus, { n: SUBSCRIBERS, seconds: SECONDS, room: 5000 + (process.pid % 1000) * 10 + round, onCreated: () => { before = status(janus.pid); }, onConnected: () => { during = status(janus.pid); } });
  const received = hop.perSubscriber.reduce((x, p) => x + p.received, 0);
  return { owd: hop.owdMs, sent: hop.sentPackets * SUBSCRIBERS, received, rssPerParticipant: during && before ? (during.rss - before.rss) / (1 + SUBSCRIBERS) : NaN, hwm: status(janus.pid).hwm };
}

/** (b) for rtcprobe's MCU: two ImpulseClients, A's frames replaced by the tone sequence. */
async function rtcprobeMcuOnset(janus, ws, round, signal) {
  const room = `jside-mcu-${process.pid}-${round}`;
  const server = await startServer('mcu', janus.namespace, ws, room, signal);
  const clients = [];
  try {
    await sleep(300);
    const before = status(server.pid);
    for (const [i, id] of ['a', 'b'].entries()) {
      const c = new ImpulseClient({ url: ws, room, peerId: id, iceServers: [], burstId: i, timeoutMs: 20_000, signal });
      clients.push(c);
      await c.start();
    }
    const [a, b] = clients;
    await sleep(500);
    const joined = status(server.pid);
    const onset = await toneOnsetsOver((p) => a.sendFrame(p), b.frames, { seconds: SECONDS, bursts: TONE_BURSTS });
    return { ...onset, rssPerParticipant: (joined.rss - before.rss) / 2 };
  } finally {
    await Promise.allSettled(clients.map((c) => c.stop()));
    await server.stop();
  }
}

export async function janusSection({ rounds, signal }) {
  const why = janusUnavailable();
  if (why) {
    console.log(`\nJanus side by side: skipped, ${why}`);
    return;
  }
  // Every client of every round listens on the bench's signal.
  setMaxListeners(1000, signal);
  const janus = await startJanus({ httpPort: 20000 + (process.pid % 10000), rtpRange: '30000-30999' });
  process.stderr.write(`janus side: Janus pid ${janus.pid}, namespace ${janus.namespace}\n`);
  const relay = new SignalRelay({ host: janus.hostAddress, port: 0, limits: { messagesPerSecond: 100_000, messageBurst: 100_000 } });
  const { ws } = await relay.listen();
  console.log(`\nJanus side by side: Janus ${janus.info.version_string} (pid ${janus.pid}) and rtcprobe's servers in namespace ${janus.namespace}, `
    + `clients in the root namespace over the veth ${janus.hostAddress} <-> ${janus.janusAddress}; ${rounds} rounds, ${SECONDS} s of video, ${SUBSCRIBERS} subscribers, ${TONE_BURSTS} tone bursts`);
  const r = { jHop: [], pHop: [], jP95: [], pP95: [], direct: [], jTone: [], pTone: [], jRss: [], pRss: [], jMcuRss: [], pMcuRss: [], jHwm: [], pHwm: [], jLost: 0, pLost: 0, jSent: 0, pSent: 0 };
  const p = (xs, q) => { const s = [...xs].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN; };
  try {
    for (let i = 0; i < rounds && !signal.aborted; i++) {
      const steps = [
        async () => {
          const x = await janusHop(janus, i);
          r.jHop.push(p(x.owd, 0.5)); r.jP95.push(p(x.owd, 0.95)); r.jRss.push(x.rssPerParticipant / 1e6); r.jHwm.push(x.hwm / 1e6);
          r.jSent += x.sent; r.jLost += Math.max(0, x.sent - x.received);
        },
        async () => {
          const x = await rtcprobeSfuHop(janus, ws, i, signal);
          r.pHop.push(p(x.owd, 0.5)); r.pP95.push(p(x.owd, 0.95)); r.pRss.push(x.rssPerParticipant / 1e6); r.pHwm.push(x.hwm / 1e6);
          r.pSent += x.sent; r.pLost += Math.max(0, x.sent - x.received);
        },
        async () => {
          let before;
          let joined;
          const x = await janusAudioBridge(janus, { seconds: SECONDS, bursts: TONE_BURSTS, room: 6000 + (process.pid % 1000) * 10 + i, onCreated: () => { before = status(janus.pid); }, onJoined: () => { joined = status(janus.pid); } });
          r.jTone.push(x.summary?.p50 ?? NaN);
          r.jMcuRss.push(joined && before ? (joined.rss - before.rss) / 2 / 1e6 : NaN);
        },
        async () => {
          const x = await rtcprobeMcuOnset(janus, ws, i, signal);
          r.pTone.push(x.summary?.p50 ?? NaN);
          r.pMcuRss.push(x.rssPerParticipant / 1e6);
        },
        async () => { const x = await directVideoHop({ seconds: SECONDS }); r.direct.push(x.summary?.p50 ?? NaN); },
      ];
      if (i % 2 === 1) steps.reverse();
      for (const s of steps) await s();
      console.log(`  round ${i + 1}: video one-way p50 Janus ${fmt(r.jHop[i], 3)} ms, rtcprobe sfu ${fmt(r.pHop[i], 3)} ms, direct on 127.0.0.1 ${fmt(r.direct[i], 3)} ms; `
        + `tone onset p50 Janus AudioBridge ${fmt(r.jTone[i], 1)} ms, rtcprobe mcu ${fmt(r.pTone[i], 1)} ms; RSS/participant Janus ${fmt(r.jRss[i], 2)} MB, rtcprobe sfu ${fmt(r.pRss[i], 2)} MB`);
    }
  } finally {
    await relay.close('bench over');
    await janus.stop();
  }
  printTable({ title: `  a. SFU hop over the veth, 1 publisher (30 fps, 500 kbit/s), ${SUBSCRIBERS} subscribers: one-way delay, every packet of every subscriber`, unit: 'ms', digits: 3, rows: [
    { key: 'jHop', label: 'Janus VideoRoom p50', values: r.jHop },
    { key: 'pHop', label: 'rtcprobe sfu p50', values: r.pHop, baseline: 'jHop' },
    { key: 'jP95', label: 'Janus VideoRoom p95', values: r.jP95 },
    { key: 'pP95', label: 'rtcprobe sfu p95', values: r.pP95, baseline: 'jP95' },
    { key: 'direct', label: 'direct werift, 127.0.0.1, p50 (context)', values: r.direct },
  ] });
  console.log(`  video packets lost: Janus ${r.jLost}/${r.jSent}, rtcprobe sfu ${r.pLost}/${r.pSent}`);
  printTable({ title: '  b. MCU tone onset (first frame with energy after the tone starts), PCMU, 2 participants', unit: 'ms', rows: [
    { key: 'jTone', label: 'Janus AudioBridge p50', values: r.jTone },
    { key: 'pTone', label: 'rtcprobe mcu p50', values: r.pTone, baseline: 'jTone' },
  ] });
  printTable({ title: `  c. server RSS per participant ((VmRSS with ${1 + SUBSCRIBERS} (SFU) or 2 (MCU) participants connected − VmRSS before) / participants) and VmHWM (SFU rounds)`, unit: 'MB', digits: 2, rows: [
    { key: 'jRss', label: 'Janus RSS/participant', values: r.jRss },
    { key: 'pRss', label: 'rtcprobe sfu RSS/participant', values: r.pRss, baseline: 'jRss' },
    { key: 'jHwm', label: 'Janus VmHWM', values: r.jHwm },
    { key: 'pHwm', label: 'rtcprobe sfu VmHWM', values: r.pHwm, baseline: 'jHwm' },
    { key: 'jMcuRss', label: 'Janus (AudioBridge) RSS/participant, 2 joined', values: r.jMcuRss },
    { key: 'pMcuRss', label: 'rtcprobe mcu RSS/participant, 2 joined', values: r.pMcuRss, baseline: 'jMcuRss' },
  ] });
}
