// Janus (Debian's janus 1.x) as an SFU/MCU baseline for the benchmarks.
//
// Janus gathers ICE candidates through libnice, which never uses loopback
// interfaces, so it runs in a network namespace of its own joined to the root
// namespace by a veth pair with a /30 from 198.51.100.0/24; the werift peers
// (in this process, root namespace) gather on the root end of that veth only.
// Configuration files are generated into a temporary directory (nothing of
// the system's /etc/janus is read); only the VideoRoom and AudioBridge
// plugins and the HTTP transport are loaded (symlinked into the folders
// Janus scans). JSEP goes through Janus's HTTP API (long-poll for events).
//
//   import { startJanus, janusVideoRoomHop, janusAudioBridge } from '../lib/janus.mjs';
//   const janus = await startJanus();
//   const hop = await janusVideoRoomHop(janus, { n: 1, seconds: 5 });   // OWD samples (ms) per subscriber
//   const mix = await janusAudioBridge(janus, { seconds: 5 });          // PCMU join, mixed audio, onset delay
//   await janus.stop();
//
// Needs root (namespaces), iproute2, janus and `npm run build` (imports dist/).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RTCPeerConnection, RtpHeader, RtpPacket } from 'werift';
import { RtcPeer } from '../../dist/core/rtc/peer.js';
import { weriftConfig, withoutDefaultStun } from '../../dist/core/rtc/config.js';
import { connectPair } from '../../dist/core/rtc/pair.js';
import { onCleanup, spawnTracked } from './procs.mjs';

const JANUS_LIB = '/usr/lib/x86_64-linux-gnu/janus';
const PLUGINS = ['libjanus_videoroom.so', 'libjanus_audiobridge.so'];
const W = { timeoutMs: 20_000 };

function ip(args, opts = {}) {
  return execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000, ...opts }).toString();
}

/** A /30 inside 198.51.100.0/24 that no interface of the root namespace uses yet. */
function pickSubnet() {
  const used = ip(['-4', '-o', 'addr']);
  for (let i = 0; i < 62; i++) {
    const k = 1 + ((process.pid + i) % 62);
    const root = `198.51.100.${4 * k + 1}`;
    const ns = `198.51.100.${4 * k + 2}`;
    if (!used.includes(` ${root}/`) && !used.includes(` ${ns}/`)) return { root, ns };
  }
  throw new Error('no free /30 in 198.51.100.0/24 for the Janus veth');
}

function janusConfig(dir, { ns, iface, httpPort, rtpRange }) {
  const plugins = join(dir, 'plugins');
  const transports = join(dir, 'transports');
  for (const d of [plugins, transports, join(dir, 'events'), join(dir, 'loggers')]) mkdirSync(d);
  for (const p of PLUGINS) symlinkSync(join(JANUS_LIB, 'plugins', p), join(plugins, p));
  symlinkSync(join(JANUS_LIB, 'transports', 'libjanus_http.so'), join(transports, 'libjanus_http.so'));
  writeFileSync(join(dir, 'janus.jcfg'), `general: {
  configs_folder = "${dir}"
  plugins_folder = "${plugins}"
  transports_folder = "${transports}"
  events_folder = "${join(dir, 'events')}"
  loggers_folder = "${join(dir, 'loggers')}"
  debug_level = 4
  server_name = "rtcprobe-bench"
  session_timeout = 120
}
certificates: {}
media: { rtp_port_range = "${rtpRange}" }
nat: { ice_enforce_list = "${iface}" ignore_mdns = true }
plugins: {}
transports: {}
events: { broadcast = false }
loggers: {}
`);
  writeFileSync(join(dir, 'janus.transport.http.jcfg'), `general: { json = "plain" base_path = "/janus" http = true port = ${httpPort} ip = "${ns}" https = false }
admin: { admin_http = false }
cors: {}
`);
  writeFileSync(join(dir, 'janus.plugin.videoroom.jcfg'), 'general: { }\n');
  writeFileSync(join(dir, 'janus.plugin.audiobridge.jcfg'), 'general: { }\n');
}

/**
 * Start Janus in a namespace of its own. Resolves once its HTTP API answers
 * `info`. The result: { api, hostAddress, janusAddress, info, logs(), stop() }.
 */
export async function startJanus({ httpPort = 8088, rtpRange = '20000-20999', readyMs = 15_000 } = {}) {
  if (!existsSync(join(JANUS_LIB, 'plugins', PLUGINS[0]))) throw new Error(`janus plugins not found under ${JANUS_LIB}`);
  const id = `${process.pid}`.slice(-7);
  const nsName = `rjan${id}`;
  const hostIf = `vj${id}a`;
  const nsIf = `vj${id}b`;
  const { root, ns } = pickSubnet();
  const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-janus-'));
  let removed = false;
  const teardown = () => {
    if (removed) return;
    removed = true;
    try { ip(['netns', 'del', nsName]); } catch { /* already gone */ }
    try { ip(['link', 'del', hostIf]); } catch { /* went with the namespace */ }
    rmSync(dir, { recursive: true, force: true });
  };
  onCleanup(teardown);
  try {
    ip(['netns', 'add', nsName]);
    ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    ip(['link', 'set', nsIf, 'netns', nsName]);
    ip(['addr', 'add', `${root}/30`, 'dev', hostIf]);
    ip(['link', 'set', hostIf, 'up']);
    ip(['-n', nsName, 'addr', 'add', `${ns}/30`, 'dev', nsIf]);
    ip(['-n', nsName, 'link', 'set', nsIf, 'up']);
    ip(['-n', nsName, 'link', 'set', 'lo', 'up']);
    janusConfig(dir, { ns, iface: nsIf, httpPort, rtpRange });
  } catch (err) {
    teardown();
    throw err;
  }
  const child = spawnTracked('ip', ['netns', 'exec', nsName, 'janus', '-F', dir, '-C', join(dir, 'janus.jcfg'), '-o', '-N', '-L', join(dir, 'janus.log')], { stdio: 'ignore' });
  let exited = false;
  const exit = new Promise((r) => child.once('exit', () => { exited = true; r(); }));
  const logs = () => { try { return readFileSync(join(dir, 'janus.log'), 'utf8'); } catch { return ''; } };
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(t);
    }
    teardown();
  };
  const api = `http://${ns}:${httpPort}/janus`;
  const t0 = Date.now();
  let info;
  while (!info && !exited && Date.now() - t0 < readyMs) {
    try {
      const r = await fetch(`${api}/info`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) info = await r.json();
    } catch { /* not listening yet */ }
    if (!info) await new Promise((r) => setTimeout(r, 100));
  }
  if (!info) {
    const log = logs();
    await stop();
    throw new Error(`janus did not answer on ${api} within ${readyMs} ms:\n${log.slice(-2000)}`);
  }
  // `ip netns exec` execs janus: the child's pid is Janus's.
  return { api, hostAddress: root, janusAddress: ns, info, logs, stop, startupMs: Date.now() - t0, pid: child.pid, namespace: nsName };
}

let txn = 0;
const tid = () => `t${process.pid}-${++txn}`;

async function post(url, body, transaction = tid()) {
  const r = await fetch(url, { method: 'POST', body: JSON.stringify({ ...body, transaction }), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10_000) });
  const j = await r.json();
  if (j.janus === 'error') throw new Error(`janus: ${j.error?.code} ${j.error?.reason}`);
  return j;
}

/** A Janus API session with an event long-poll loop; `waitEvent(handle, pred)` resolves on a matching event. */
async function session(janus) {
  const s = await post(janus.api, { janus: 'create' });
  const sid = s.data.id;
  const base = `${janus.api}/${sid}`;
  const waiters = new Set();
  const backlog = [];
  let open = true;
  const deliver = (ev) => {
    for (const w of waiters) if (w.match(ev)) { waiters.delete(w); w.resolve(ev); return; }
    backlog.push(ev);
  };
  (async () => {
    while (open) {
      try {
        const r = await fetch(`${base}?maxev=10&rid=${Date.now()}`, { signal: AbortSignal.timeout(35_000) });
        const j = await r.json();
        for (const ev of Array.isArray(j) ? j : [j]) if (ev.janus !== 'keepalive') deliver(ev);
      } catch {
        if (open) await new Promise((r) => setTimeout(r, 100));
      }
    }
  })();
  return {
    id: sid,
    async attach(plugin) {
      const a = await post(base, { janus: 'attach', plugin });
      const hid = a.data.id;
      return {
        id: hid,
        /** A request with a synchronous answer (create, list...). */
        request: async (body) => (await post(`${base}/${hid}`, { janus: 'message', body })).plugindata?.data,
        /** An asynchronous request: resolves with the plugin's event (and its jsep). */
        message: async (body, jsep) => {
          // The plugin's answer carries the request's transaction; other events (notifications) do not.
          const transaction = tid();
          const wait = this.waitEvent(hid, (ev) => ev.janus === 'event' && ev.transaction === transaction);
          await post(`${base}/${hid}`, { janus: 'message', body, ...(jsep ? { jsep } : {}) }, transaction);
          const ev = await wait;
          const data = ev.plugindata?.data;
          if (data?.error) throw new Error(`janus ${plugin}: ${data.error_code} ${data.error}`);
          return { data, jsep: ev.jsep };
        },
      };
    },
    waitEvent(handle, match, timeoutMs = 15_000) {
      const i = backlog.findIndex((ev) => ev.sender === handle && match(ev));
      if (i >= 0) return Promise.resolve(backlog.splice(i, 1)[0]);
      return new Promise((resolve, reject) => {
        const w = { match: (ev) => ev.sender === handle && match(ev), resolve: (ev) => { clearTimeout(t); resolve(ev); } };
        const t = setTimeout(() => { waiters.delete(w); reject(new Error('no event from janus in time')); }, timeoutMs);
        waiters.add(w);
      });
    },
    async destroy() {
      open = false;
      try { await post(base, { janus: 'destroy' }); } catch { /* gone already */ }
    },
  };
}

/** Resolve once `cond()` holds, re-checked on every event of `ev` (bounded by W.timeoutMs). */
function until(cond, ev) {
  return new Promise((resolve, reject) => {
    if (cond()) return resolve();
    const done = (err) => { clearTimeout(t); clearInterval(poll); sub.unSubscribe(); if (err) reject(err); else resolve(); };
    const t = setTimeout(() => done(new Error('timed out waiting for the peer connection')), W.timeoutMs);
    // The event wakes it at once; the poll covers a condition that also depends on another peer.
    const poll = setInterval(() => { if (cond()) done(); }, 50);
    const sub = ev.subscribe(() => { if (cond()) done(); });
  });
}

function peerOptions(janus, extra) {
  // Host candidates only on the root end of the veth (plus 127.0.0.1, unused); no STUN, no TURN.
  return { iceServers: [], loopback: true, additionalHostAddresses: [janus.hostAddress], ...extra };
}

const percentile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
export function summarize(xs) {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return { count: s.length, min: s[0], p50: percentile(s, 0.5), p95: percentile(s, 0.95), p99: percentile(s, 0.99), max: s.at(-1) };
}

/**
 * One VideoRoom hop: a werift publisher sends synthetic VP8-typed RTP (each
 * payload starts with a probe header carrying its send time on this
 * process's monotonic clock) and `n` werift subscribers receive it through
 * Janus. Returns the one-way delays (ms) of every packet, per subscriber and
 * pooled, the loss, and the connect times. `onCreated()` is called once the room
 * exists, `onConnected()` once every peer is connected, before the video starts.
 */
export async function janusVideoRoomHop(janus, { n = 1, seconds = 5, fps = 30, kbps = 500, room = 1000 + (process.pid % 1000), onCreated, onConnected } = {}) {
  const s = await session(janus);
  const peers = [];
  try {
    const admin = await s.attach('janus.plugin.videoroom');
    const created = await admin.request({ request: 'create', room, publishers: 4, videocodec: 'vp8', audiocodec: 'opus', bitrate: 0, notify_joining: false });
    if (created?.videoroom !== 'created') throw new Error(`videoroom create: ${JSON.stringify(created)}`);
    onCreated?.();

    const t0 = performance.now();
    const pub = new RtcPeer(peerOptions(janus, { video: true }));
    peers.push(pub);
    const ph = await s.attach('janus.plugin.videoroom');
    await ph.message({ request: 'join', ptype: 'publisher', room, display: 'rtcprobe-pub' });
    const offer = await pub.offer(W);
    const { jsep: answer, data: pubData } = await ph.message({ request: 'publish', video: true, audio: false, data: false }, { type: 'offer', sdp: offer.sdp });
    if (!answer) throw new Error(`publish: no answer (${JSON.stringify(pubData)})`);
    await pub.accept({ type: 'answer', sdp: answer.sdp });
    await pub.connected(W);
    const pubConnectMs = performance.now() - t0;
    const feed = (await ph.request({ request: 'listparticipants', room })).participants.find((p) => p.display === 'rtcprobe-pub')?.id;
    if (feed === undefined) throw new Error('the publisher is not in the room');

    const subs = [];
    for (let i = 0; i < n; i++) {
      const t1 = performance.now();
      const sub = new RtcPeer(peerOptions(janus, {}));
      peers.push(sub);
      const sh = await s.attach('janus.plugin.videoroom');
      const { jsep: jOffer } = await sh.message({ request: 'join', ptype: 'subscriber', room, streams: [{ feed }] });
      const ans = await sub.answer({ type: 'offer', sdp: jOffer.sdp }, W);
      await sh.message({ request: 'start', room }, { type: 'answer', sdp: ans.sdp });
      await sub.connected(W);
      const owd = [];
      const seen = new Set();
      sub.onRtp((a) => {
        if (a.probe && a.probe.kind === 'video') {
          seen.add(a.probe.seq);
          owd.push((a.arrivalUs - a.probe.sentUs) / 1000);
        }
      });
      subs.push({ owd, seen, connectMs: performance.now() - t1 });
    }
    // Janus forwards to a subscriber once its PeerConnection is up; give the last one a moment to be wired.
    await new Promise((r) => setTimeout(r, 500));
    onConnected?.();
    const sent = await pub.sendVideo({ frames: Math.round(seconds * fps), profile: { fps, kbps }, timeoutMs: seconds * 1000 + 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    const all = subs.flatMap((x) => x.owd);
    return {
      subscribers: n,
      sentPackets: sent.packets,
      perSubscriber: subs.map((x) => ({ received: x.seen.size, lost: sent.packets - x.seen.size, owdMs: summarize(x.owd), connectMs: x.connectMs })),
      owdMs: all,
      summary: summarize(all),
      publisherConnectMs: pubConnectMs,
    };
  } finally {
    await Promise.all(peers.map((p) => p.close()));
    await s.destroy();
  }
}

/**
 * A sends PCMU silence, then a 1 kHz tone, `bursts` times over `seconds`;
 * the delay from the first tone frame sent to the first frame B receives
 * with energy is one sample (20 ms granularity on each side).
 */
async function toneOnsets(a, b, { seconds, bursts }) {
  let seq = 1;
  let ts = 0;
  const send = (payload) => {
    a.tx.sender.sendRtp(new RtpPacket(new RtpHeader({ payloadType: 0, sequenceNumber: seq, timestamp: ts >>> 0, marker: false }), payload)).catch(() => {});
    seq = (seq + 1) & 0xffff;
    ts += 160;
  };
  const frames = [];
  b.onRtp((rtp) => frames.push({ arrivalMs: performance.now(), payload: rtp.payload }));
  return toneOnsetsOver(send, frames, { seconds, bursts });
}

/**
 * The tone-onset measurement on any audio path: `send(payload)` sends one
 * 20 ms PCMU frame from A, `frames` is the list B's receiver appends
 * `{ arrivalMs (performance.now()), payload }` to. Per burst: half silence,
 * half tone; one sample = the arrival of the first frame with energy (RMS >
 * 2000 after µ-law decoding) at or after the first tone frame was sent,
 * minus that send time. A burst without such a frame gives no sample.
 */
export async function toneOnsetsOver(send, frames, { seconds = 5, bursts = 5 } = {}) {
  const delays = [];
  const framesPer = Math.max(10, Math.round((seconds * 50) / bursts));
  const from = frames.length;
  const t0 = performance.now();
  const starts = [];
  for (let k = 0; k < bursts; k++) {
    for (let i = 0; i < framesPer; i++) {
      const due = t0 + (k * framesPer + i) * 20;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const tone = i >= framesPer / 2;
      if (tone && i === Math.ceil(framesPer / 2)) starts.push(performance.now());
      await send(tone ? toneFrame(i) : SILENCE);
    }
  }
  // The last tone's first frames may still be on their way.
  await new Promise((r) => setTimeout(r, 300));
  const spanS = (performance.now() - t0) / 1000;
  for (let k = 0; k < starts.length; k++) {
    const end = starts[k + 1] ?? Infinity;
    const hit = frames.slice(from).find((f) => f.arrivalMs >= starts[k] && f.arrivalMs < end && rms(f.payload) > 2000);
    if (hit) delays.push(hit.arrivalMs - starts[k]);
  }
  return { packetsPerSecond: (frames.length - from) / spanS, onsetDelayMs: delays, summary: summarize(delays), bursts };
}

/** A bare werift peer with one PCMU transceiver (sendrecv). */
function audioPeer(options) {
  const pc = withoutDefaultStun(new RTCPeerConnection(weriftConfig({ ...options, audio: 'pcmu' })));
  const tx = pc.addTransceiver('audio', { direction: 'sendrecv' });
  const rtp = [];
  tx.onTrack.subscribe((track) => track.onReceiveRtp.subscribe((p) => { for (const f of rtp) f(p); }));
  return { pc, tx, onRtp: (f) => rtp.push(f) };
}

async function completeOffer(pc) {
  await pc.setLocalDescription(await pc.createOffer());
  await until(() => pc.iceGatheringState === 'complete', pc.iceGatheringStateChange);
  return pc.localDescription.sdp;
}

/** Baseline for janusAudioBridge: the same tone detection between two werift peers on 127.0.0.1, no mixer. */
export async function directAudioOnset({ seconds = 5, bursts = 5 } = {}) {
  const opts = { iceServers: [], loopback: true };
  const a = audioPeer(opts);
  const b = audioPeer(opts);
  try {
    await b.pc.setRemoteDescription({ type: 'offer', sdp: await completeOffer(a.pc) });
    await b.pc.setLocalDescription(await b.pc.createAnswer());
    await until(() => b.pc.iceGatheringState === 'complete', b.pc.iceGatheringStateChange);
    await a.pc.setRemoteDescription({ type: 'answer', sdp: b.pc.localDescription.sdp });
    await until(() => a.pc.connectionState === 'connected' && b.pc.connectionState === 'connected', a.pc.connectionStateChange);
    return await toneOnsets(a, b, { seconds, bursts });
  } finally {
    await Promise.all([a.pc.close(), b.pc.close()]);
  }
}

/** Baseline for janusVideoRoomHop: the same synthetic video from one werift peer straight to another on 127.0.0.1. */
export async function directVideoHop({ seconds = 5, fps = 30, kbps = 500 } = {}) {
  const pair = await connectPair({ iceServers: [], loopback: true, video: true }, { iceServers: [], loopback: true }, W);
  try {
    const owd = [];
    const seen = new Set();
    pair.answerer.onRtp((a) => {
      if (a.probe && a.probe.kind === 'video') {
        seen.add(a.probe.seq);
        owd.push((a.arrivalUs - a.probe.sentUs) / 1000);
      }
    });
    const sent = await pair.offerer.sendVideo({ frames: Math.round(seconds * fps), profile: { fps, kbps }, timeoutMs: seconds * 1000 + 10_000 });
    await new Promise((r) => setTimeout(r, 500));
    return { sentPackets: sent.packets, received: seen.size, lost: sent.packets - seen.size, owdMs: owd, summary: summarize(owd) };
  } finally {
    await pair.close();
  }
}

// G.711 µ-law: encode a linear 16-bit sample, decode a byte.
function muEncode(x) {
  const BIAS = 0x84;
  let sign = 0;
  if (x < 0) { x = -x; sign = 0x80; }
  x = Math.min(x, 32635) + BIAS;
  let exp = 7;
  for (let mask = 0x4000; (x & mask) === 0 && exp > 0; exp--, mask >>= 1);
  const mant = (x >> (exp + 3)) & 0x0f;
  return ~(sign | (exp << 4) | mant) & 0xff;
}
function muDecode(u) {
  u = ~u & 0xff;
  const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
  return u & 0x80 ? 0x84 - t : t - 0x84;
}
const SILENCE = Buffer.alloc(160, muEncode(0));

/** A 20 ms PCMU frame of a 1 kHz tone at amplitude `amp` (phase continuous by packet index). */
function toneFrame(i, amp = 12000) {
  const b = Buffer.alloc(160);
  for (let k = 0; k < 160; k++) b[k] = muEncode(Math.round(amp * Math.sin((2 * Math.PI * 1000 * (i * 160 + k)) / 8000)));
  return b;
}
const rms = (buf) => Math.sqrt(buf.reduce((s, u) => s + muDecode(u) ** 2, 0) / buf.length);

/**
 * AudioBridge (the MCU): two werift participants join a room with PCMU.
 * A sends silence, then a tone from a known instant; B receives Janus's mix
 * (A's audio, decoded, mixed and re-encoded) and the delay until the tone
 * shows up in it is measured, `bursts` times. Also reports the join times and
 * the mixed packets B received per second (`packetsPerSecond`, 50 at 20 ms).
 * `onCreated()` is called once the room exists, `onJoined()` once both are
 * connected, before the tone sequence.
 */
export async function janusAudioBridge(janus, { seconds = 5, bursts = 5, room = 2000 + (process.pid % 1000), onCreated, onJoined } = {}) {
  const s = await session(janus);
  const peers = [];
  try {
    const admin = await s.attach('janus.plugin.audiobridge');
    const created = await admin.request({ request: 'create', room, sampling_rate: 8000, audiolevel_event: false, record: false });
    if (created?.audiobridge !== 'created') throw new Error(`audiobridge create: ${JSON.stringify(created)}`);
    onCreated?.();
    // The AudioBridge takes no data channel (RtcPeer always offers one): a bare werift peer with the
    // same configuration and a single PCMU transceiver.
    const join = async (display) => {
      const t0 = performance.now();
      const peer = audioPeer(peerOptions(janus, {}));
      const { pc } = peer;
      peers.push({ close: () => pc.close() });
      const h = await s.attach('janus.plugin.audiobridge');
      await h.message({ request: 'join', room, display, codec: 'pcmu' });
      const { jsep } = await h.message({ request: 'configure', muted: false }, { type: 'offer', sdp: await completeOffer(pc) });
      if (!jsep) throw new Error('audiobridge: no answer');
      await pc.setRemoteDescription({ type: 'answer', sdp: jsep.sdp });
      await until(() => pc.connectionState === 'connected', pc.connectionStateChange);
      return { ...peer, joinMs: performance.now() - t0 };
    };
    const a = await join('rtcprobe-a');
    const b = await join('rtcprobe-b');
    onJoined?.();
    const r = await toneOnsets(a, b, { seconds, bursts });
    return { joinMs: [a.joinMs, b.joinMs], ...r };
  } finally {
    await Promise.all(peers.map((p) => p.close()));
    await s.destroy();
  }
}

// `node bench/lib/janus.mjs`: the Janus figures next to their direct baselines, measured in one run
// (ROUNDS alternating rounds, SECONDS each; SUBSCRIBERS for the VideoRoom).
if (import.meta.url === `file://${process.argv[1]}`) {
  const { main } = await import('./procs.mjs');
  const { median, pairedRatios, summary } = await import('./stats.mjs');
  main(async () => {
    const rounds = Number(process.env.ROUNDS ?? 3);
    const seconds = Number(process.env.SECONDS ?? 5);
    const n = Number(process.env.SUBSCRIBERS ?? 2);
    const janus = await startJanus({ httpPort: 20000 + (process.pid % 10000) });
    console.log(`Janus ${janus.info.version_string} at ${janus.api} (pid ${janus.pid}, namespace ${janus.namespace}, started in ${janus.startupMs} ms); ${rounds} rounds of ${seconds} s`);
    const rows = { hop: [], direct: [], mix: [], tone: [], lost: 0, sent: 0, join: [], pps: [] };
    try {
      for (let r = 0; r < rounds; r++) {
        const hop = await janusVideoRoomHop(janus, { n, seconds, room: 3000 + r });
        const direct = await directVideoHop({ seconds });
        const mix = await janusAudioBridge(janus, { seconds, room: 4000 + r });
        const tone = await directAudioOnset({ seconds });
        rows.hop.push(hop.summary.p50); rows.direct.push(direct.summary.p50);
        rows.lost += hop.perSubscriber.reduce((x, p) => x + p.lost, 0); rows.sent += hop.sentPackets * n;
        rows.mix.push(mix.summary?.p50 ?? NaN); rows.tone.push(tone.summary?.p50 ?? NaN);
        rows.join.push(...mix.joinMs); rows.pps.push(mix.packetsPerSecond);
        console.log(`round ${r + 1}: VideoRoom OWD p50 ${hop.summary.p50.toFixed(3)} ms (p95 ${hop.summary.p95.toFixed(3)}) vs direct ${direct.summary.p50.toFixed(3)} ms; `
          + `AudioBridge onset p50 ${mix.summary?.p50.toFixed(1)} ms vs direct ${tone.summary?.p50.toFixed(1)} ms; mix ${mix.packetsPerSecond.toFixed(1)} pkt/s`);
      }
    } finally {
      await janus.stop();
    }
    const spread = (xs, d) => { const m = summary(xs); return `${m.median.toFixed(d)} (IQR ${m.q1.toFixed(d)}-${m.q3.toFixed(d)}, min-max ${m.min.toFixed(d)}-${m.max.toFixed(d)})`; };
    const diffs = rows.mix.map((x, i) => x - rows.tone[i]);
    console.log(`VideoRoom hop (${n} subscribers): OWD p50 ${spread(rows.hop, 3)} ms; direct ${spread(rows.direct, 3)} ms; ratio per round ${spread(pairedRatios(rows.hop, rows.direct), 2)}; lost ${rows.lost}/${rows.sent}`);
    console.log(`AudioBridge PCMU: tone onset p50 ${spread(rows.mix, 1)} ms; direct ${spread(rows.tone, 1)} ms; added by the bridge ${spread(diffs, 1)} ms; join median ${median(rows.join).toFixed(0)} ms; mix ${median(rows.pps).toFixed(1)} pkt/s`);
    return 0;
  });
}
