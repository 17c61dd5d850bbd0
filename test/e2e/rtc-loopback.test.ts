/**
 * Two headless peers in one process on 127.0.0.1, SDP passed directly:
 * data-channel round trips, the unreliable channel, synthetic audio and
 * video RTP, and the release of every socket on close.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPair, type PeerPair } from '../../src/core/rtc/pair.js';
import { runProbes, startEcho, type DataPipe } from '../../src/core/rtc/channel.js';
import { RELIABLE_LABEL, UNRELIABLE_LABEL, VIDEO_PT, PCMU_PT, type RtpArrival } from '../../src/core/rtc/peer.js';
import { ReceiveTracker } from '../../src/core/bench/tracker.js';
import { summarizeExact } from '../../src/core/bench/summary.js';
import { estimateOffset } from '../../src/core/bench/clock.js';
import { splitFrame, videoFrameBytes } from '../../src/core/rtc/media.js';
import { sdpCandidateTypes } from '../../src/core/rtc/ice.js';

const udpHandles = () => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length;
const W = { timeoutMs: 15_000 };

describe('two peers on loopback', () => {
  let pair: PeerPair;
  let a: { reliable: DataPipe; unreliable: DataPipe };
  let b: { reliable: DataPipe; unreliable: DataPipe };
  let baseline: number;
  const stops: (() => void)[] = [];
  let stopReliableEcho: () => void;

  beforeAll(async () => {
    baseline = udpHandles();
    pair = await connectPair({ iceServers: [], loopback: true, audio: 'pcmu', video: true }, { iceServers: [], loopback: true }, W);
    a = await pair.offerer.dataChannels(W);
    b = await pair.answerer.dataChannels(W);
    stops.push(startEcho(b.unreliable));
    stopReliableEcho = startEcho(b.reliable);
  });

  afterAll(async () => {
    for (const s of stops) s();
    await pair?.close();
  });

  it('connects over 127.0.0.1 host candidates only, and records the connect phases in order', async () => {
    const sdp = pair.offerer.pc.localDescription!.sdp;
    expect(sdpCandidateTypes(sdp)).toEqual(['host']);
    const cands = sdp.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
    expect(cands.length).toBeGreaterThan(0);
    for (const c of cands) expect(c).toContain(' 127.0.0.1 ');
    const pairInfo = await pair.offerer.selectedPair();
    expect(pairInfo?.local).toMatchObject({ type: 'host', address: '127.0.0.1', protocol: 'udp' });
    expect(pairInfo?.remote).toMatchObject({ type: 'host', address: '127.0.0.1' });
    const s = pair.offerer.breakdown().sinceStart;
    expect(s.iceGatheringComplete).toBeGreaterThanOrEqual(0);
    expect(s.answerReceived!).toBeGreaterThanOrEqual(s.offerSent!);
    expect(s.iceConnected!).toBeGreaterThanOrEqual(s.answerReceived!);
    expect(s.dtlsConnected!).toBeGreaterThanOrEqual(s.iceConnected!);
    expect(s.dataChannelOpen!).toBeGreaterThanOrEqual(s.dtlsConnected!);
    const bd = pair.offerer.breakdown();
    expect(bd.offerToAnswer).toBeGreaterThanOrEqual(0);
    expect(bd.dtlsConnected).toBeGreaterThanOrEqual(0);
  });

  it('measures data-channel round trips on the reliable channel; every probe comes back', async () => {
    const r = await runProbes(a.reliable, { count: 100, sequential: true, payloadBytes: 100, timeoutMs: 10_000 });
    expect(r.sent).toBe(100);
    expect(r.received).toBe(100);
    expect(r.missing).toEqual([]);
    expect(r.duplicates).toBe(0);
    expect(r.timedOut).toBe(false);
    const s = summarizeExact(r.rttMs)!;
    expect(s.min).toBeGreaterThan(0);
    expect(s.p50).toBeLessThan(50);
    expect(s.max).toBeLessThan(1000);
    // Same process, same clock: the NTP-style offset must be ~0 within its uncertainty.
    const est = estimateOffset(r.exchanges)!;
    expect(est.used).toBe(3);
    expect(Math.abs(est.offset)).toBeLessThanOrEqual(est.uncertainty + 1);
  });

  it('the unreliable channel is unordered without retransmissions, and carries probes', async () => {
    const ch = pair.offerer.pc.sctpTransport ? [...Object.values((pair.offerer.pc.sctpTransport as unknown as { dataChannels: Record<string, { label: string; ordered: boolean; maxRetransmits: number | null }> }).dataChannels)] : [];
    const un = ch.find((c) => c.label === UNRELIABLE_LABEL);
    const rel = ch.find((c) => c.label === RELIABLE_LABEL);
    expect(un).toMatchObject({ ordered: false, maxRetransmits: 0 });
    expect(rel).toMatchObject({ ordered: true, maxRetransmits: null });
    const r = await runProbes(a.unreliable, { count: 100, intervalMs: 2, payloadBytes: 200, timeoutMs: 10_000 });
    expect(r.sent).toBe(100);
    // Loopback drops nothing; a lost datagram would show here as missing, not be retransmitted.
    expect(r.received).toBe(100);
    expect(summarizeExact(r.rttMs)!.p50).toBeLessThan(50);
  });

  it('audio RTP arrives with no loss and a computed jitter', async () => {
    const tracker = new ReceiveTracker({ clockRate: 8000 });
    const got: RtpArrival[] = [];
    const w = waiter(() => got.length >= 50, 3000);
    const off = pair.answerer.onRtp((p) => {
      if (p.kind !== 'audio') return;
      got.push(p);
      tracker.add({ seq: p.seq, arrivalMs: p.arrivalUs / 1000, rtpTimestamp: p.timestamp });
      w.check();
    });
    const sent = await pair.offerer.sendAudio({ packets: 50, timeoutMs: 10_000 });
    await w.done;
    off();
    expect(sent.packets).toBe(50);
    expect(sent.durationMs).toBeGreaterThanOrEqual(49 * 20 - 5);
    const rep = tracker.report();
    expect(rep).toMatchObject({ received: 50, expected: 50, lost: 0, duplicates: 0, reordered: 0 });
    expect(rep.jitterMs).toBeGreaterThanOrEqual(0);
    expect(rep.jitterMs).toBeLessThan(20);
    expect(got.every((p) => p.payloadType === PCMU_PT && p.payloadBytes === 160 && p.probe?.kind === 'audio')).toBe(true);
    expect(got.map((p) => p.probe!.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(pair.answerer.breakdown().sinceStart.firstRtp).toBeGreaterThan(0);
  });

  it('video frames arrive split into ≤1200-byte packets with the marker on each frame’s last', async () => {
    const profile = { fps: 30, kbps: 1500 };
    const perFrame = splitFrame(videoFrameBytes({ ...profile, clockRate: 90000 }));
    expect(perFrame.length).toBe(6); // 6250 bytes
    const got: RtpArrival[] = [];
    const w = waiter(() => got.length >= 90, 3000);
    const off = pair.answerer.onRtp((p) => {
      if (p.kind === 'video') got.push(p);
      w.check();
    });
    const sent = await pair.offerer.sendVideo({ frames: 15, profile, timeoutMs: 10_000 });
    await w.done;
    off();
    expect(sent).toMatchObject({ frames: 15, packets: 15 * 6 });
    expect(got.length).toBe(90);
    expect(got.every((p) => p.payloadType === VIDEO_PT && p.payloadBytes <= 1200)).toBe(true);
    const frames = new Map<number, RtpArrival[]>();
    for (const p of got) frames.set(p.timestamp, [...(frames.get(p.timestamp) ?? []), p]);
    expect(frames.size).toBe(15);
    for (const pkts of frames.values()) {
      pkts.sort((x, y) => ((x.seq - y.seq + 65536) % 65536 < 32768 ? 1 : -1));
      expect(pkts.length).toBe(6);
      expect(pkts.map((p) => p.marker)).toEqual([false, false, false, false, false, true]);
    }
    const stamps = [...frames.keys()];
    for (let i = 1; i < stamps.length; i++) expect((stamps[i]! - stamps[i - 1]! + 2 ** 32) % 2 ** 32).toBe(3000);
  });

  it('a 2,000-message burst through the pacers (both directions) is echoed in full without stalling', async () => {
    stopReliableEcho();
    // Handed to werift at once, such a burst stalls it (bench/peers/run.mjs: ~130 of 2,000 echoed after 3 s).
    const pacerA = pair.offerer.pacer(a.reliable);
    const pacerB = pair.answerer.pacer(b.reliable);
    const stop = startEcho(b.reliable, undefined, pacerB);
    const t0 = performance.now();
    const r = await runProbes(a.reliable, { count: 2000, intervalMs: 0, payloadBytes: 100, timeoutMs: 8000, settleMs: 8000, pacer: pacerA, streamId: 9 });
    const took = performance.now() - t0;
    stop();
    expect(r.sent).toBe(2000);
    expect(r.received).toBe(2000);
    expect(r.missing).toEqual([]);
    expect(took).toBeLessThan(8000);
    expect(pacerA.peakBuffered).toBeLessThanOrEqual(64 * 1024 + 100);
    pacerA.close();
    pacerB.close();
  });

  it('close() releases every socket', async () => {
    await pair.close();
    expect(udpHandles()).toBeLessThanOrEqual(baseline);
  });
});

/** Resolves when `cond` holds after an event (RTP arrivals call `check`), or after `ms` at the latest. */
function waiter(cond: () => boolean, ms: number): { check: () => void; done: Promise<void> } {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const t = setTimeout(resolve, ms);
  return {
    check: () => {
      if (cond()) {
        clearTimeout(t);
        resolve();
      }
    },
    done,
  };
}

describe('waits end with typed errors', () => {
  it('a peer that never gets an answer times out, an aborted wait says ABORTED, close() rejects pending waits', async () => {
    const { RtcPeer } = await import('../../src/core/rtc/peer.js');
    const peer = new RtcPeer({ iceServers: [], loopback: true });
    try {
      await peer.offer({ timeoutMs: 5000 });
      await expect(peer.connected({ timeoutMs: 200 })).rejects.toMatchObject({ code: 'TIMEOUT' });
      const ac = new AbortController();
      const waiting = peer.dataChannels({ timeoutMs: 10_000, signal: ac.signal });
      ac.abort();
      await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
      const pending = expect(peer.connected({ timeoutMs: 10_000 })).rejects.toMatchObject({ code: 'CONNECTION' });
      await peer.close();
      await pending;
      await expect(peer.offer({ timeoutMs: 1000 })).rejects.toMatchObject({ code: 'ABORTED' });
    } finally {
      await peer.close();
    }
  });

  it('sending media before the connection is up is refused, not silently dropped', async () => {
    const { RtcPeer } = await import('../../src/core/rtc/peer.js');
    const peer = new RtcPeer({ iceServers: [], loopback: true, audio: 'opus' });
    try {
      await peer.offer({ timeoutMs: 5000 });
      await expect(peer.sendAudio({ packets: 1, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'CONNECTION' });
      await expect(peer.sendVideo({ frames: 1, timeoutMs: 1000 })).rejects.toMatchObject({ code: 'USAGE' });
    } finally {
      await peer.close();
    }
  });
});

describe('opus-like audio', () => {
  it('uses dynamic payload type 111, 48 kHz timestamps and 120-byte payloads', async () => {
    const pair = await connectPair({ iceServers: [], loopback: true, audio: 'opus' }, { iceServers: [], loopback: true }, W);
    try {
      const got: RtpArrival[] = [];
      const w = waiter(() => got.length >= 10, 3000);
      pair.answerer.onRtp((p) => {
        got.push(p);
        w.check();
      });
      await pair.offerer.sendAudio({ packets: 10, timeoutMs: 5000 });
      await w.done;
      expect(got.length).toBe(10);
      expect(got.every((p) => p.kind === 'audio' && p.payloadType === 111 && p.payloadBytes === 120)).toBe(true);
      for (let i = 1; i < got.length; i++) expect((got[i]!.timestamp - got[i - 1]!.timestamp + 2 ** 32) % 2 ** 32).toBe(960);
      const tracker = new ReceiveTracker({ clockRate: 48000 });
      for (const p of got) tracker.add({ seq: p.seq, arrivalMs: p.arrivalUs / 1000, rtpTimestamp: p.timestamp });
      expect(tracker.report()).toMatchObject({ received: 10, lost: 0 });
      // The answerer sends back on the same transceiver, with the codec the offer chose.
      const back: RtpArrival[] = [];
      const wb = waiter(() => back.length >= 5, 3000);
      pair.offerer.onRtp((p) => {
        back.push(p);
        wb.check();
      });
      await pair.answerer.sendAudio({ packets: 5, timeoutMs: 5000 });
      await wb.done;
      expect(back.map((p) => [p.payloadType, p.payloadBytes])).toEqual(Array(5).fill([111, 120]));
    } finally {
      await pair.close();
    }
  });
});

describe('an answerer with its own audio codec', () => {
  it('answers PCMU to an offer that puts opus first (as a browser does); both sides then send 160-byte, 20 ms PCMU frames carrying the probe header', async () => {
    const pair = await connectPair({ iceServers: [], loopback: true, audio: 'opus' }, { iceServers: [], loopback: true, audio: 'pcmu' }, W);
    try {
      const m = (sdp: string) => /^m=audio \S+ \S+ (.*)$/m.exec(sdp)?.[1];
      expect(m(pair.offerer.sentDescription!.sdp)).toBe(`111 ${PCMU_PT}`);
      expect(m(pair.answerer.sentDescription!.sdp)).toBe(String(PCMU_PT));
      expect(pair.answerer.sentDescription!.sdp).not.toMatch(/opus/);
      for (const [from, to] of [[pair.answerer, pair.offerer], [pair.offerer, pair.answerer]] as const) {
        const got: RtpArrival[] = [];
        const w = waiter(() => got.length >= 5, 3000);
        const off = to.onRtp((p) => {
          got.push(p);
          w.check();
        });
        await from.sendAudio({ packets: 5, timeoutMs: 5000 });
        await w.done;
        off();
        expect(got.map((p) => [p.payloadType, p.payloadBytes, p.probe?.kind, p.probe?.seq])).toEqual(Array.from({ length: 5 }, (_, i) => [PCMU_PT, 160, 'audio', i]));
        for (let i = 1; i < got.length; i++) expect((got[i]!.timestamp - got[i - 1]!.timestamp + 2 ** 32) % 2 ** 32).toBe(160);
      }
    } finally {
      await pair.close();
    }
  });
});
