// A browser peer for rtcprobe's interop tests. Loaded into a headless
// Chromium page (plain JavaScript, no build step). It speaks the relay's
// WebSocket protocol (docs/signaling-protocol.md), follows rtcprobe's mesh
// rule (the smaller peerId offers; SDP as {rtcprobe:"sdp", type, sdp},
// complete, no trickle), opens or accepts the two data channels with
// rtcprobe's labels, echoes rtcprobe's probes (docs/rtc.md, 48-byte header)
// and sends its own probes, which rtcprobe echoes.
/* global window, performance, WebSocket, RTCPeerConnection, RTCRtpReceiver, AudioContext, Audio, MediaStream */
(function () {
  'use strict';
  const MAGIC = 0x52505242;
  const HEADER = 48;
  const RELIABLE = 'rtcprobe-reliable';
  const UNRELIABLE = 'rtcprobe-unreliable';
  const nowUs = () => Math.round(performance.now() * 1000);

  function encodeProbe(streamId, seq, size) {
    const buf = new ArrayBuffer(Math.max(HEADER, size));
    const v = new DataView(buf);
    v.setUint32(0, MAGIC);
    v.setUint8(4, 1);
    v.setUint8(5, 0);
    v.setUint8(6, 0);
    v.setUint32(8, streamId);
    v.setUint32(12, seq);
    v.setBigUint64(16, BigInt(nowUs()));
    v.setBigUint64(24, BigInt(Date.now()));
    return buf;
  }

  function decodeProbe(buf) {
    if (!(buf instanceof ArrayBuffer) || buf.byteLength < HEADER) return undefined;
    const v = new DataView(buf);
    if (v.getUint32(0) !== MAGIC || v.getUint8(4) !== 1) return undefined;
    return { echo: (v.getUint8(6) & 1) === 1, streamId: v.getUint32(8), seq: v.getUint32(12), sentUs: Number(v.getBigUint64(16)) };
  }

  /** A 440 Hz tone as a MediaStreamTrack (Web Audio: no microphone, no permission, no secure context needed). */
  async function toneTrack() {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    osc.frequency.value = 440;
    const dst = ctx.createMediaStreamDestination();
    osc.connect(dst);
    osc.start();
    await ctx.resume();
    return dst.stream.getAudioTracks()[0];
  }

  /**
   * Measure what the browser decodes from a received audio track: the RMS level of 20 ms blocks
   * (Web Audio analyser), highest and count of blocks above silence, in state.audioIn. A remote track
   * only flows into Web Audio while a media element plays it (muted here).
   */
  function listen(track) {
    const stream = new MediaStream([track]);
    const el = new Audio();
    el.muted = true;
    el.srcObject = stream;
    el.play().catch(() => {});
    const ctx = new AudioContext();
    const an = ctx.createAnalyser();
    an.fftSize = 1024;
    ctx.createMediaStreamSource(stream).connect(an);
    const buf = new Float32Array(an.fftSize);
    const level = { blocks: 0, loud: 0, maxRms: 0 };
    window.rtcprobeState.audioIn = level;
    ctx.resume().catch(() => {});
    setInterval(() => {
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const x of buf) sum += x * x;
      const rms = Math.sqrt(sum / buf.length);
      level.blocks++;
      if (rms > 0.01) level.loud++;
      if (rms > level.maxRms) level.maxRms = rms;
    }, 20);
  }

  /** The audio m-line's codecs in SDP order, as "name/clock" (e.g. ["opus/48000", "PCMU/8000", ...]). */
  function audioCodecs(sdp) {
    const lines = sdp.split(/\r?\n/);
    const m = lines.find((l) => l.startsWith('m=audio '));
    if (!m) return [];
    const names = new Map();
    for (const l of lines) {
      const r = /^a=rtpmap:(\d+) ([^/]+\/\d+)/.exec(l);
      if (r && !names.has(r[1])) names.set(r[1], r[2]);
    }
    return m.split(' ').slice(3).map((pt) => names.get(pt) ?? pt);
  }

  function waitGathered(pc) {
    return new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') resolve();
      });
    });
  }

  /**
   * Join `room` on the relay at `url` as `peerId` and connect to the first
   * other peer, or to the room server with `viaServer`. o: { url, room, peerId, rate (probes/s per
   * channel), size, audioTrack? (send a PCMU tone), viaServer?, pcmuFirst? }
   */
  async function start(o) {
    const state = {
      peerId: o.peerId,
      remote: undefined,
      role: undefined,
      events: [],
      errors: [],
      connected: false,
      channels: {},
      probes: {
        reliable: { sent: 0, echoed: 0, rtt: [], echoedBack: 0, receivedFromRemote: 0 },
        unreliable: { sent: 0, echoed: 0, rtt: [], echoedBack: 0, receivedFromRemote: 0 },
      },
      sendProbes: true,
    };
    window.rtcprobeState = state;
    const note = (e) => state.events.push({ at: performance.now(), ...e });
    const ws = new WebSocket(o.url, 'rtcprobe-signal.v1');
    state.ws = ws;
    let pc;
    const send = (m) => ws.send(JSON.stringify({ v: 1, ...m }));

    function setupChannel(dc) {
      dc.binaryType = 'arraybuffer';
      const side = dc.label === RELIABLE ? 'reliable' : dc.label === UNRELIABLE ? 'unreliable' : undefined;
      if (!side) return;
      state.channels[side] = dc;
      const p = state.probes[side];
      const streamId = side === 'reliable' ? 1 : 2;
      dc.addEventListener('message', (ev) => {
        const recv = nowUs();
        const h = decodeProbe(ev.data);
        if (!h) return;
        if (!h.echo) {
          // rtcprobe's probe: echo it with our receive and send times.
          p.receivedFromRemote++;
          if (p.firstSeq === undefined) p.firstSeq = h.seq;
          p.lastSeq = h.seq;
          const out = ev.data.slice(0);
          const v = new DataView(out);
          v.setUint8(6, v.getUint8(6) | 1);
          v.setBigUint64(32, BigInt(recv));
          v.setBigUint64(40, BigInt(nowUs()));
          if (dc.readyState === 'open') {
            dc.send(out);
            p.echoedBack++;
          }
          return;
        }
        // Through a room server the stream id names the echoer (the server rewrites it): match on the sequence alone.
        if ((!state.server && h.streamId !== streamId) || h.seq >= p.sent) return;
        p.echoed++;
        p.rtt.push((recv - h.sentUs) / 1000);
      });
      let started = false;
      const onOpen = () => {
        if (started) return;
        started = true;
        note({ event: 'channel-open', label: dc.label });
        let seq = 0;
        const period = 1000 / o.rate;
        const t0 = performance.now();
        const tick = () => {
          if (dc.readyState !== 'open' || !state.sendProbes || !(o.rate > 0)) return;
          dc.send(encodeProbe(streamId, seq++, o.size));
          p.sent++;
          setTimeout(tick, Math.max(0, t0 + seq * period - performance.now()));
        };
        tick();
      };
      dc.addEventListener('open', onOpen);
      if (dc.readyState === 'open') onOpen();
    }

    function newPc() {
      pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
      state.pc = pc;
      pc.addEventListener('connectionstatechange', () => {
        note({ event: 'connection', state: pc.connectionState });
        if (pc.connectionState === 'connected') state.connected = true;
      });
      pc.addEventListener('datachannel', (ev) => setupChannel(ev.channel));
      pc.addEventListener('track', (ev) => {
        note({ event: 'track', kind: ev.track.kind });
        if (ev.track.kind === 'audio') listen(ev.track);
      });
      return pc;
    }

    async function offer(remote) {
      state.role = 'offerer';
      newPc();
      setupChannel(pc.createDataChannel(RELIABLE, { ordered: true }));
      setupChannel(pc.createDataChannel(UNRELIABLE, { ordered: false, maxRetransmits: 0 }));
      if (o.audioTrack) {
        pc.addTransceiver(await toneTrack(), { direction: 'sendrecv' });
      } else pc.addTransceiver('audio', { direction: 'recvonly' });
      // rtcprobe's own offers put PCMU first; so does this one (Chromium's default order starts with opus).
      if (o.pcmuFirst !== false) {
        const caps = RTCRtpReceiver.getCapabilities('audio').codecs;
        const pcmu = caps.filter((c) => c.mimeType.toLowerCase() === 'audio/pcmu');
        for (const t of pc.getTransceivers()) if (t.receiver.track.kind === 'audio') t.setCodecPreferences([...pcmu, ...caps.filter((c) => !pcmu.includes(c))]);
      }
      await pc.setLocalDescription(await pc.createOffer());
      await waitGathered(pc);
      send({ type: 'signal', to: remote, data: { rtcprobe: 'sdp', type: 'offer', sdp: pc.localDescription.sdp } });
      note({ event: 'offer-sent', audioCodecs: audioCodecs(pc.localDescription.sdp) });
    }

    async function answer(remote, sdp) {
      state.role = 'answerer';
      newPc();
      await pc.setRemoteDescription({ type: 'offer', sdp });
      if (o.audioTrack) {
        const t = pc.getTransceivers().find((x) => x.receiver.track.kind === 'audio');
        if (t) {
          t.direction = 'sendrecv';
          await t.sender.replaceTrack(await toneTrack());
        }
      }
      await pc.setLocalDescription(await pc.createAnswer());
      await waitGathered(pc);
      send({ type: 'signal', to: remote, data: { rtcprobe: 'sdp', type: 'answer', sdp: pc.localDescription.sdp } });
      note({ event: 'answer-sent' });
    }

    // rtcprobe's rule: the peerId that sorts first offers. A room server (join meta role "sfu" or "mcu")
    // is always offered to, and while one is in the room the page connects to it only.
    const isServer = (meta) => !!meta && (meta.role === 'sfu' || meta.role === 'mcu');
    function consider(remote, meta) {
      if (state.remote || remote === state.peerId) return;
      if (o.viaServer && !isServer(meta)) return;
      state.remote = remote;
      state.server = isServer(meta);
      if (state.server || state.peerId < remote) offer(remote).catch((e) => state.errors.push(String(e)));
    }

    ws.addEventListener('message', (ev) => {
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (m.type === 'joined') {
        note({ event: 'joined', peers: m.peers.map((p) => p.peerId) });
        state.joinedAs = m.peerId;
        for (const p of m.peers) consider(p.peerId, p.meta);
      } else if (m.type === 'peer-joined') consider(m.peerId, m.meta);
      else if (m.type === 'signal' && m.data && m.data.rtcprobe === 'sdp') {
        if (m.data.type === 'offer') {
          if (o.viaServer) return;
          state.remote = state.remote || m.from;
          if (m.from === state.remote) answer(m.from, m.data.sdp).catch((e) => state.errors.push(String(e)));
        } else if (m.data.type === 'answer' && pc && m.from === state.remote) {
          note({ event: 'answer-received', audioCodecs: audioCodecs(m.data.sdp) });
          pc.setRemoteDescription({ type: 'answer', sdp: m.data.sdp }).catch((e) => state.errors.push(String(e)));
        }
      } else if (m.type === 'error') state.errors.push(`relay error ${m.code}: ${m.message}`);
    });
    await new Promise((resolve, reject) => {
      ws.addEventListener('open', resolve, { once: true });
      ws.addEventListener('error', () => reject(new Error('websocket error')), { once: true });
    });
    send({ type: 'join', room: o.room, peerId: o.peerId });
    return true;
  }

  /** What the page measured, plus getStats figures. */
  async function report() {
    const s = window.rtcprobeState;
    const out = { role: s.role, remote: s.remote, server: !!s.server, audioIn: s.audioIn, connected: s.connected, errors: s.errors, events: s.events, probes: s.probes, stats: {} };
    if (!s.pc) return out;
    const stats = await s.pc.getStats();
    const byId = new Map();
    stats.forEach((x) => byId.set(x.id, x));
    const inbound = [];
    let pair;
    stats.forEach((x) => {
      if (x.type === 'inbound-rtp') inbound.push({ kind: x.kind, packetsReceived: x.packetsReceived, packetsLost: x.packetsLost, jitter: x.jitter, codecId: x.codecId, mimeType: byId.get(x.codecId) && byId.get(x.codecId).mimeType, audioLevel: x.audioLevel, totalAudioEnergy: x.totalAudioEnergy, totalSamplesReceived: x.totalSamplesReceived, concealedSamples: x.concealedSamples, silentConcealedSamples: x.silentConcealedSamples });
      if (x.type === 'transport' && x.selectedCandidatePairId) pair = byId.get(x.selectedCandidatePairId);
    });
    const outbound = [];
    stats.forEach((x) => {
      if (x.type === 'outbound-rtp') outbound.push({ kind: x.kind, packetsSent: x.packetsSent, mimeType: byId.get(x.codecId) && byId.get(x.codecId).mimeType });
    });
    if (pair) {
      const l = byId.get(pair.localCandidateId);
      const r = byId.get(pair.remoteCandidateId);
      out.stats.pair = { state: pair.state, local: l && { type: l.candidateType, address: l.address, port: l.port }, remote: r && { type: r.candidateType, address: r.address, port: r.port }, rttMs: pair.currentRoundTripTime * 1000 };
    }
    out.stats.inbound = inbound;
    out.stats.outbound = outbound;
    return out;
  }

  window.rtcprobePeer = { start, report, stopProbes: () => { window.rtcprobeState.sendProbes = false; } };
})();
