/**
 * The audio MCU: joins a relay room as a room server (join meta
 * `role: "mcu"`), answers each client's offer with a PCMU sendrecv audio
 * transceiver (the client's data channels are accepted and left idle), and
 * on one steady 20 ms frame clock, for every participant, takes one frame
 * from each of the others' jitter buffers, decodes it, mixes the N−1 frames
 * with clipping, encodes the mix and sends it as that participant's own RTP
 * stream (its own SSRC, sequence numbers and timestamps).
 *
 * Input checks, in the order applied (each drop counted by reason):
 * - `malformed`: a datagram of the media range that werift could not turn
 *   into a packet (SRTP/SRTCP authentication failed, or the RTP/RTCP did not
 *   parse), or a datagram outside the STUN/DTLS/RTP ranges of RFC 7983;
 * - `payload-type`: RTP with another payload type than the negotiated PCMU;
 * - `size`: a PCMU payload that is not one 20 ms frame (160 bytes);
 * - `rate`: over the token bucket (default 100 packets/s, burst 25: twice
 *   the 50 packets/s a 20 ms stream sends);
 * - `ssrc`: a second SSRC from a participant that already has a stream;
 * - `late`, `duplicate` (and `overrun`, frames skipped): the jitter buffer's.
 *
 * When a participant's buffer runs dry, the frame due is concealed (silence)
 * but not skipped: it is most likely late, not lost (its sender stalled), and
 * is played when it comes. A buffer that then keeps more than its depth
 * waiting for 200 ms loses one frame per 200 ms until it is back
 * at its depth (LatencyTrim), so a stall does not add latency for good.
 *
 * RTCP: werift sends a sender report for each outgoing stream and receiver
 * reports for each incoming one on its own timers; the MCU counts the RTCP
 * packets it receives by type and does not act on them.
 *
 * Participants that leave the room, or whose connection fails or closes, are
 * removed at once: out of the mix, and never sent to again (their sent
 * counters are frozen; `sentAfterRemoval` checks it).
 */
import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SignalClient } from '../signaling/client.js';
import type { JoinedMessage } from '../signaling/protocol.js';
import type { IceServer } from '../ice/servers.js';
import { MetricsRegistry, type Histogram, type LabelledCounter } from '../signaling/metrics.js';
import { JitterBuffer, FrameClock, type JitterStats } from '../mcu/jitter.js';
import { LatencyTrim } from '../mcu/drain.js';
import { FRAME_SAMPLES, mixFrame } from '../mcu/mixer.js';
import { ulawDecodeFrame, ulawEncodeFrame } from '../mcu/g711.js';
import { RtcPeer, PCMU_PT } from './peer.js';
import { isSdpSignal, type SdpSignal } from './connection.js';

export const FRAME_MS = 20;
export const DEFAULT_JITTER_MS = 40;
/** Ticks a jitter buffer must stay above its depth before one frame is trimmed (0.2 s). */
export const TRIM_AFTER_TICKS = 10;

export type DropReason = 'malformed' | 'payload-type' | 'size' | 'rate' | 'ssrc' | 'late' | 'duplicate' | 'overrun';
export const DROP_REASONS: readonly DropReason[] = ['malformed', 'payload-type', 'size', 'rate', 'ssrc', 'late', 'duplicate', 'overrun'];

export interface McuServerOptions {
  url: string;
  room: string;
  token?: string;
  peerId?: string;
  /** Explicit ICE servers ([] on loopback). */
  iceServers: IceServer[];
  loopback?: boolean;
  /** Jitter buffer depth, ms (rounded to whole 20 ms frames, at least one). */
  jitterMs?: number;
  /** What a dry jitter buffer does: hold the frame due (default: played when it comes late) or drop it and move on. */
  late?: 'hold' | 'drop';
  /** Token bucket per participant: packets per second and burst. */
  maxPacketsPerSecond?: number;
  maxBurst?: number;
  /** Limit for joining and for each participant's connection to come up. */
  timeoutMs?: number;
  signal: AbortSignal;
  /** Labels put on every metric sample (e.g. the instance id). */
  metricLabels?: Record<string, string>;
  onEvent?: (e: McuEvent) => void;
}

export type McuEvent =
  | { event: 'joined'; peerId: string; room: string; peers: string[] }
  | { event: 'participant-up'; remote: string; participants: number }
  | { event: 'participant-left'; remote: string; reason: 'left' | 'failed' | 'closed' | 'restarted'; participants: number }
  | { event: 'participant-failed'; remote: string; code: string; message: string };

export interface ParticipantStats {
  peerId: string;
  state: 'connecting' | 'up' | 'gone';
  rtpIn: number;
  rtcpIn: number;
  payloadBytesIn: number;
  packetsSent: number;
  payloadBytesSent: number;
  /** Frames dropped from its jitter buffer to trim a lasting excess (see LatencyTrim). */
  trimmed: number;
  /** Packets handed to werift for this participant after it was removed (must stay 0). */
  sentAfterRemoval: number;
  /** Wire bytes (SRTP, RTCP, DTLS, SCTP) of its transport, at the last look. */
  wire: { sent: number; received: number };
  drops: Record<string, number>;
  jitter: JitterStats;
  joinedAtMs: number;
  upAtMs?: number;
  removedAtMs?: number;
}

interface Participant {
  id: string;
  rtc: RtcPeer;
  state: 'connecting' | 'up' | 'gone';
  tx?: RTCRtpTransceiver;
  jitter: JitterBuffer<Uint8Array>;
  trim: LatencyTrim;
  ssrc?: number;
  seq: number;
  ts: number;
  first: boolean;
  tokens: number;
  tokensAt: number;
  parsedPending: number;
  stats: ParticipantStats;
  offs: (() => void)[];
  decoded: Int16Array;
}

const now = () => performance.now();

/** A summary of the mixing time per frame, ms. */
export interface MixTiming {
  frames: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export class McuServer {
  readonly options: McuServerOptions;
  readonly depth: number;
  readonly metrics: MetricsRegistry;
  private client?: SignalClient;
  peerId = '';
  joined?: JoinedMessage;
  private readonly parts = new Map<string, Participant>();
  /** Removed participants, kept for the summary (last 1000). */
  readonly gone: ParticipantStats[] = [];
  private readonly removedParts: Participant[] = [];
  private clock?: FrameClock;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly pending = new Set<Promise<void>>();
  private readonly mixSamples: number[] = [];
  readonly startedAt = Date.now();
  readonly totals = { participants: 0, framesMixed: 0, ticks: 0, clockSkipped: 0, clipped: 0, packetsSent: 0, rtpIn: 0, rtcpIn: 0 };
  private readonly drops: LabelledCounter;
  private readonly rtcpIn: LabelledCounter;
  private readonly mixHist: Histogram;

  constructor(options: McuServerOptions) {
    this.options = options;
    this.depth = Math.max(1, Math.round((options.jitterMs ?? DEFAULT_JITTER_MS) / FRAME_MS));
    const reg = new MetricsRegistry(options.metricLabels ?? {});
    this.metrics = reg;
    reg.gauge('rtcprobe_mcu_participants', 'Participants with a connection up.', () => this.participants().length);
    reg.counterOf('rtcprobe_mcu_participants_total', 'Participants whose connection came up.', () => this.totals.participants);
    reg.counterOf('rtcprobe_mcu_frames_mixed_total', 'Frame periods mixed (one mix per participant each).', () => this.totals.framesMixed);
    reg.counterOf('rtcprobe_mcu_packets_sent_total', 'RTP packets sent to participants.', () => this.totals.packetsSent);
    reg.counterOf('rtcprobe_mcu_rtp_received_total', 'RTP packets received (before the checks).', () => this.totals.rtpIn);
    reg.counterOf('rtcprobe_mcu_clipped_samples_total', 'Mixed samples that had to be clipped to 16 bits.', () => this.totals.clipped);
    reg.counterOf('rtcprobe_mcu_clock_skipped_total', 'Frame periods skipped after an event-loop stall.', () => this.totals.clockSkipped);
    this.mixHist = reg.histogram('rtcprobe_mcu_mix_seconds', 'Time to decode, mix and encode one frame period for every participant.', [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02]);
    this.drops = reg.labelledCounter('rtcprobe_mcu_dropped_total', 'Input packets dropped, by reason.', 'reason');
    this.rtcpIn = reg.labelledCounter('rtcprobe_mcu_rtcp_received_total', 'RTCP packets received, by packet type.', 'type');
    const jsum = (k: keyof JitterStats) => () => this.allStats().reduce((a, p) => a + p.jitter[k], 0);
    reg.counterOf('rtcprobe_mcu_frames_concealed_total', 'Frames played as silence because the packet was missing.', jsum('concealed'));
    reg.counterOf('rtcprobe_mcu_underruns_total', 'Frame periods a playing jitter buffer had nothing for.', jsum('underruns'));
    reg.counterOf('rtcprobe_mcu_late_total', 'Packets that came after their frame was played.', jsum('late'));
    reg.counterOf('rtcprobe_mcu_frames_trimmed_total', 'Frames dropped from a jitter buffer that stayed above its depth for a second (standing latency trimmed).', () => this.allStats().reduce((a, p) => a + p.trimmed, 0));
    reg.gauge('rtcprobe_mcu_jitter_depth_frames', 'Jitter buffer depth, frames of 20 ms.', () => this.depth);
  }

  private emit(e: McuEvent): void {
    try {
      this.options.onEvent?.(e);
    } catch {
      // a listener's failure is not the server's
    }
  }

  /** Join the room and start the frame clock. */
  async start(): Promise<JoinedMessage> {
    const o = this.options;
    o.signal.addEventListener('abort', () => this.abort.abort(), { once: true });
    const client = new SignalClient({
      url: o.url,
      room: o.room,
      reconnect: false,
      timeoutMs: o.timeoutMs ?? 10_000,
      signal: this.abort.signal,
      meta: { role: 'mcu' },
      ...(o.token ? { token: o.token } : {}),
      ...(o.peerId ? { peerId: o.peerId } : {}),
    });
    this.client = client;
    client.on('signal', ({ from, data }) => this.onSignal(from, data));
    client.on('peer-left', (p) => this.remove(p.peerId, 'left'));
    const joined = await client.connect();
    this.joined = joined;
    this.peerId = joined.peerId;
    this.emit({ event: 'joined', peerId: joined.peerId, room: joined.room, peers: joined.peers.map((p) => p.peerId) });
    this.clock = new FrameClock(now(), FRAME_MS);
    this.schedule();
    return joined;
  }

  /** Participants whose connection is up, by peer id. */
  participants(): string[] {
    return [...this.parts.values()].filter((p) => p.state === 'up').map((p) => p.id);
  }

  /** Per-participant figures: the present ones, then the removed ones. */
  allStats(): ParticipantStats[] {
    return [...[...this.parts.values()].map((p) => p.stats), ...this.gone];
  }

  /** Drops by reason (all participants, removed ones included). */
  dropCounts(): Record<string, number> {
    return { ...this.drops.values };
  }

  rtcpCounts(): Record<string, number> {
    return { ...this.rtcpIn.values };
  }

  /** Time spent decoding, mixing and encoding since the start, ms. */
  mixTotalMs(): number {
    return this.mixHist.sum * 1000;
  }

  mixTiming(): MixTiming | undefined {
    const s = [...this.mixSamples].sort((a, b) => a - b);
    if (!s.length) return undefined;
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
    return { frames: this.mixHist.count, p50: q(0.5), p99: q(0.99), max: s[s.length - 1]!, mean: (this.mixHist.sum * 1000) / this.mixHist.count };
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private onSignal(from: string, data: unknown): void {
    if (this.stopped || !isSdpSignal(data) || data.type !== 'offer') return;
    const existing = this.parts.get(from);
    if (existing && existing.state === 'connecting') return; // one negotiation at a time
    if (existing) this.remove(from, 'restarted');
    this.track(this.admit(from, data.sdp));
  }

  private async admit(id: string, offer: string): Promise<void> {
    const o = this.options;
    let rtc: RtcPeer;
    try {
      rtc = new RtcPeer({ iceServers: o.iceServers, audio: 'pcmu', ...(o.loopback ? { loopback: true } : {}) });
    } catch (err) {
      const e = toRtcprobeError(err);
      this.emit({ event: 'participant-failed', remote: id, code: e.code, message: e.message });
      return;
    }
    const t = now();
    const p: Participant = {
      id, rtc, state: 'connecting', jitter: new JitterBuffer<Uint8Array>({ depth: this.depth, holdOnUnderrun: (o.late ?? 'hold') === 'hold' }), trim: new LatencyTrim(this.depth, TRIM_AFTER_TICKS),
      seq: Math.floor(Math.random() * 65536), ts: Math.floor(Math.random() * 2 ** 31), first: true,
      tokens: this.maxBurst, tokensAt: t, parsedPending: 0, offs: [], decoded: new Int16Array(FRAME_SAMPLES),
      stats: {
        peerId: id, state: 'connecting', rtpIn: 0, rtcpIn: 0, payloadBytesIn: 0, packetsSent: 0, payloadBytesSent: 0, trimmed: 0, sentAfterRemoval: 0,
        wire: { sent: 0, received: 0 }, drops: {}, jitter: { received: 0, played: 0, concealed: 0, underruns: 0, late: 0, duplicates: 0, overruns: 0, overrunSkipped: 0, resets: 0 }, joinedAtMs: t,
      },
    };
    p.stats.jitter = p.jitter.stats;
    this.parts.set(id, p);
    const w = { timeoutMs: o.timeoutMs ?? 20_000, signal: this.abort.signal };
    const isGone = (): boolean => p.state === 'gone';
    try {
      const answer = await rtc.answer({ type: 'offer', sdp: offer }, w);
      if (isGone()) return;
      const msg: SdpSignal = { rtcprobe: 'sdp', type: 'answer', sdp: answer.sdp };
      this.client?.signal(id, msg);
      await rtc.connected(w);
      if (isGone()) return;
      const tx = rtc.pc.getTransceivers().find((x) => x.kind === 'audio');
      if (!tx) throw new RtcprobeError('USAGE', `${id} offered no audio`);
      const codec = tx.sender.codec;
      if (codec && codec.mimeType.toLowerCase() !== 'audio/pcmu') throw new RtcprobeError('USAGE', `${id} negotiated ${codec.mimeType}, the MCU mixes PCMU only`);
      p.tx = tx;
      this.hook(p);
      p.state = 'up';
      p.stats.state = 'up';
      p.stats.upAtMs = now();
      this.totals.participants++;
      this.emit({ event: 'participant-up', remote: id, participants: this.participants().length });
    } catch (err) {
      if (isGone()) return;
      const e = toRtcprobeError(err);
      if (!(e.code === 'ABORTED' && this.abort.signal.aborted)) this.emit({ event: 'participant-failed', remote: id, code: e.code, message: e.message });
      this.remove(id, 'failed');
    }
  }

  private get maxRate(): number {
    return this.options.maxPacketsPerSecond ?? 100;
  }

  private get maxBurst(): number {
    return this.options.maxBurst ?? 25;
  }

  private drop(p: Participant, reason: DropReason, n = 1): void {
    this.drops.inc(reason, n);
    p.stats.drops[reason] = (p.stats.drops[reason] ?? 0) + n;
  }

  /** Watch the participant's transport: every datagram, every packet werift decoded from it, its state. */
  private hook(p: Participant): void {
    const dtls = p.tx!.sender.dtlsTransport;
    const rtpSub = dtls.onRtp.subscribe((rtp) => {
      p.parsedPending++;
      this.onRtp(p, rtp);
    });
    const rtcpSub = dtls.onRtcp.subscribe((rtcp) => {
      p.parsedPending++;
      p.stats.rtcpIn++;
      this.totals.rtcpIn++;
      this.rtcpIn.inc(String(rtcp.type));
    });
    // Subscribed after werift's own handler (which runs when DTLS is up), so by the time this
    // one runs for a datagram werift has already decoded it, or dropped it.
    const rawSub = dtls.iceTransport.connection.onData.subscribe((data: Buffer) => {
      const b0 = data[0] ?? 0;
      if (b0 >= 20 && b0 <= 63) return; // DTLS (SCTP rides on it)
      if (b0 >= 128 && b0 <= 191) {
        if (p.parsedPending === 0) this.drop(p, 'malformed');
        p.parsedPending = 0;
        return;
      }
      this.drop(p, 'malformed');
    });
    const stateSub = p.rtc.pc.connectionStateChange.subscribe((s) => {
      if (s === 'failed' || s === 'closed') this.remove(p.id, s === 'failed' ? 'failed' : 'closed');
    });
    p.offs.push(() => rtpSub.unSubscribe(), () => rtcpSub.unSubscribe(), () => rawSub.unSubscribe(), () => stateSub.unSubscribe());
  }

  private onRtp(p: Participant, rtp: RtpPacket): void {
    if (p.state !== 'up') return;
    const h = rtp.header;
    p.stats.rtpIn++;
    this.totals.rtpIn++;
    if (h.payloadType !== PCMU_PT) return this.drop(p, 'payload-type');
    if (rtp.payload.length !== FRAME_SAMPLES) return this.drop(p, 'size');
    const t = now();
    p.tokens = Math.min(this.maxBurst, p.tokens + ((t - p.tokensAt) * this.maxRate) / 1000);
    p.tokensAt = t;
    if (p.tokens < 1) return this.drop(p, 'rate');
    p.tokens -= 1;
    if (p.ssrc === undefined) p.ssrc = h.ssrc;
    else if (p.ssrc !== h.ssrc) return this.drop(p, 'ssrc');
    p.stats.payloadBytesIn += rtp.payload.length;
    const r = p.jitter.push(h.sequenceNumber, h.timestamp, new Uint8Array(rtp.payload));
    if (r === 'late' || r === 'duplicate' || r === 'overrun') this.drop(p, r);
  }

  private schedule(): void {
    if (this.stopped || !this.clock) return;
    const wait = Math.max(0, this.clock.nextDueMs() - now());
    this.timer = setTimeout(() => this.onTick(), wait);
  }

  private onTick(): void {
    if (this.stopped || !this.clock) return;
    const before = this.clock.skipped;
    const n = this.clock.due(now());
    this.totals.clockSkipped += this.clock.skipped - before;
    for (let i = 0; i < n; i++) this.mixOnce();
    this.schedule();
  }

  /** One frame period: a frame from each jitter buffer, N−1 mixes, one packet per participant. */
  private mixOnce(): void {
    this.totals.ticks++;
    const up = [...this.parts.values()].filter((p) => p.state === 'up' && p.tx);
    if (up.length === 0) return;
    const t0 = now();
    const inputs = new Map<Participant, Int16Array | undefined>();
    for (const p of up) {
      const f = p.jitter.tick();
      inputs.set(p, f?.payload ? ulawDecodeFrame(f.payload, p.decoded) : undefined);
      if (p.trim.afterTick(p.jitter.size)) {
        // Frames have been waiting beyond the depth for 200 ms: drop one to get the latency back.
        p.jitter.tick();
        p.stats.trimmed++;
      }
    }
    const { mixes, clipped } = mixFrame(inputs);
    const out = new Map<Participant, Uint8Array>();
    for (const [p, pcm] of mixes) out.set(p, ulawEncodeFrame(pcm));
    const ms = now() - t0;
    this.mixHist.observe(ms / 1000);
    this.mixSamples.push(ms);
    if (this.mixSamples.length > 100_000) this.mixSamples.splice(0, 50_000);
    this.totals.framesMixed++;
    this.totals.clipped += clipped;
    for (const [p, payload] of out) this.sendTo(p, payload);
  }

  private sendTo(p: Participant, payload: Uint8Array): void {
    if (p.state !== 'up') {
      // Never reached by design: counted so that a regression shows.
      p.stats.sentAfterRemoval++;
      return;
    }
    const header = new RtpHeader({ payloadType: PCMU_PT, sequenceNumber: p.seq, timestamp: p.ts >>> 0, marker: p.first });
    p.first = false;
    p.seq = (p.seq + 1) & 0xffff;
    p.ts = (p.ts + FRAME_SAMPLES) >>> 0;
    p.stats.packetsSent++;
    p.stats.payloadBytesSent += payload.length;
    this.totals.packetsSent++;
    p.tx!.sender.sendRtp(new RtpPacket(header, Buffer.from(payload.buffer, payload.byteOffset, payload.length))).catch(() => {});
  }

  /** Refresh the wire byte counters of the present participants. */
  async refreshWire(): Promise<void> {
    await Promise.all([...this.parts.values()].map((p) => this.readWire(p)));
  }

  private async readWire(p: Participant): Promise<void> {
    if (!p.tx) return;
    const d = p.tx.sender.dtlsTransport;
    p.stats.wire = { sent: d.bytesSent, received: d.bytesReceived };
  }

  /** Take a participant out of the mix and close its connection. */
  remove(id: string, reason: 'left' | 'failed' | 'closed' | 'restarted'): void {
    const p = this.parts.get(id);
    if (!p || p.state === 'gone') return;
    void this.readWire(p);
    const wasUp = p.state === 'up';
    p.state = 'gone';
    p.stats.state = 'gone';
    p.stats.removedAtMs = now();
    this.parts.delete(id);
    for (const off of p.offs) off();
    p.offs = [];
    this.gone.push(p.stats);
    if (this.gone.length > 1000) this.gone.splice(0, this.gone.length - 1000);
    this.removedParts.push(p);
    if (this.removedParts.length > 64) this.removedParts.splice(0, this.removedParts.length - 64);
    this.track(p.rtc.close());
    if (wasUp || reason === 'left') this.emit({ event: 'participant-left', remote: id, reason, participants: this.participants().length });
  }

  /** Stop the clock, close every connection, leave the room. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.refreshWire();
    for (const id of [...this.parts.keys()]) this.remove(id, 'closed');
    this.abort.abort();
    await Promise.allSettled([...this.pending]);
    await this.client?.close();
  }
}
