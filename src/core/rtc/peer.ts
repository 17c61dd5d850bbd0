/**
 * A headless WebRTC peer: a thin adapter over werift (the only part of
 * rtcprobe that imports it). One peer has a reliable ordered data channel,
 * an unreliable unordered one (maxRetransmits 0), and optionally an audio
 * and a video transceiver carrying synthetic RTP. Signalling is
 * non-trickle: offer() and answer() resolve with a complete SDP once ICE
 * gathering is over, so the caller moves SDP through whatever signalling it
 * has (the relay, or directly in-process).
 *
 * Every wait takes a timeout and an AbortSignal; close() releases sockets
 * and timers so the process can exit.
 */
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtpHeader,
  RtpPacket,
  type RTCDataChannel,
  type RTCPeerConnectionConfig,
  type RTCRtpTransceiver,
} from 'werift';
import { Socket as UdpSocket } from 'node:dgram';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { connectBreakdown, mark, type ConnectBreakdown, type ConnectMark, type ConnectMarks } from '../bench/connect.js';
import { decodeProbe, encodeProbe, type ProbeHeader } from '../bench/probe.js';
import { PROBE_HEADER_BYTES } from '../bench/probe.js';
import type { IceServer } from '../ice/servers.js';
import { relayOnlySdp, sdpCandidateTypes, type CandidateType } from './ice.js';
import { Pacer, systemClock, withDeadline, type Clock, type DataPipe, type PacerOptions } from './channel.js';
import {
  DEFAULT_VIDEO, PCMU_PROFILE, audioTimestampStep, splitFrame, videoFrameBytes, videoTimestampStep,
  type AudioProfile, type VideoProfile,
} from './media.js';

export const RELIABLE_LABEL = 'rtcprobe-reliable';
export const UNRELIABLE_LABEL = 'rtcprobe-unreliable';
export const PCMU_PT = 0;
export const OPUS_PT = 111;
export const VIDEO_PT = 96;

export type AudioCodec = 'pcmu' | 'opus';

export interface PeerOptions {
  /** Explicit ICE servers ([] for none: werift's default would be a public STUN server). */
  iceServers: IceServer[];
  /** Gather host candidates on 127.0.0.1 only (two peers on one machine, no network needed). */
  loopback?: boolean;
  /** iceTransportPolicy "relay", and only relay candidates leave this peer's SDP. */
  relayOnly?: boolean;
  /** Extra host addresses to gather on (e.g. loopback or a tunnel interface). */
  additionalHostAddresses?: string[];
  /** Local UDP port range for ICE, [min, max] with min < max. */
  portRange?: [number, number];
  /** Negotiate an audio transceiver (sendrecv) with this codec. */
  audio?: AudioCodec;
  /** Negotiate a video transceiver (sendrecv, VP8 payload type, synthetic content). */
  video?: boolean;
  clock?: Clock;
  /** The `start` connect mark (ms, same clock), when the run began before the peer was created. */
  startedAtMs?: number;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface CandidateInfo {
  type: CandidateType | string;
  address?: string;
  port?: number;
  protocol?: string;
}

export interface SelectedPair {
  local: CandidateInfo;
  remote: CandidateInfo;
  /** ICE round trip measured by werift's connectivity checks, ms. */
  rttMs?: number;
}

export interface RtpArrival {
  kind: 'audio' | 'video';
  seq: number;
  timestamp: number;
  marker: boolean;
  payloadType: number;
  ssrc: number;
  payloadBytes: number;
  /** Local monotonic clock, µs. */
  arrivalUs: number;
  /** The probe header at the start of the payload, when there is one. */
  probe?: ProbeHeader;
}

export interface AudioSendOptions extends WaitOptions {
  packets: number;
  profile?: Partial<AudioProfile>;
  streamId?: number;
}

export interface VideoSendOptions extends WaitOptions {
  frames: number;
  profile?: Partial<VideoProfile>;
  streamId?: number;
}

export interface SendReport {
  packets: number;
  frames: number;
  bytes: number;
  durationMs: number;
}

function codecs(o: PeerOptions): RTCPeerConnectionConfig['codecs'] {
  // No NACK/PLI/REMB: loss must show as loss, not be repaired behind our back. Both audio codecs are
  // accepted (an answerer takes whichever the offer has); the chosen one comes first.
  const pcmu = new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: PCMU_PT, rtcpFeedback: [] });
  const opus = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PT, rtcpFeedback: [] });
  return {
    audio: o.audio === 'opus' ? [opus, pcmu] : [pcmu, opus],
    video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: VIDEO_PT, rtcpFeedback: [] })],
  };
}

/** werift configuration for the options (exported for tests and diagnostics). */
export function weriftConfig(o: PeerOptions): RTCPeerConnectionConfig {
  const extra = [...(o.loopback ? ['127.0.0.1'] : []), ...(o.additionalHostAddresses ?? [])];
  return {
    iceServers: o.iceServers.map((s) => ({ urls: s.urls, ...(s.username !== undefined ? { username: s.username } : {}), ...(s.credential !== undefined ? { credential: s.credential } : {}) })),
    iceTransportPolicy: o.relayOnly ? 'relay' : 'all',
    // Loopback: no interface addresses at all, only 127.0.0.1 (werift skips loopback otherwise).
    iceUseIpv4: !o.loopback,
    iceUseIpv6: !o.loopback,
    iceAdditionalHostAddresses: extra.length ? [...new Set(extra)] : undefined,
    ...(o.portRange ? { icePortRange: o.portRange } : {}),
    // One transport for everything: with werift's default (max-compat) the offerer gathers a
    // transport per m-line and the ones bundled away are never closed, so their sockets outlive close().
    bundlePolicy: 'max-bundle',
    codecs: codecs(o),
  };
}

function wrapChannel(dc: RTCDataChannel): DataPipe {
  return {
    get label() {
      return dc.label;
    },
    get isOpen() {
      return dc.readyState === 'open';
    },
    get bufferedAmount() {
      return dc.bufferedAmount;
    },
    get bufferedAmountLowThreshold() {
      return dc.bufferedAmountLowThreshold;
    },
    set bufferedAmountLowThreshold(v: number) {
      dc.bufferedAmountLowThreshold = v;
    },
    send(data: Buffer) {
      if (dc.readyState !== 'open') throw new RtcprobeError('CONNECTION', `data channel "${dc.label}" is ${dc.readyState}`);
      dc.send(data);
    },
    onMessage(cb) {
      const s = dc.onMessage.subscribe((m) => cb(typeof m === 'string' ? Buffer.from(m) : m));
      return () => s.unSubscribe();
    },
    onBufferedAmountLow(cb) {
      const s = dc.bufferedAmountLow.subscribe(() => cb());
      return () => s.unSubscribe();
    },
    onClose(cb) {
      const s = dc.stateChanged.subscribe((st) => {
        if (st === 'closed' || st === 'closing') cb();
      });
      return () => s.unSubscribe();
    },
  };
}

export class RtcPeer {
  readonly pc: RTCPeerConnection;
  readonly marks: ConnectMarks = {};
  private readonly clock: Clock;
  private readonly channels = new Map<string, RTCDataChannel>();
  private readonly channelWaiters = new Set<() => void>();
  private readonly stateWaiters = new Set<() => void>();
  private readonly rtpListeners = new Set<(a: RtpArrival) => void>();
  private readonly pacers = new Set<Pacer>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private audioTx?: RTCRtpTransceiver;
  private videoTx?: RTCRtpTransceiver;
  /** The last description offer() or answer() returned (after relay-only filtering). */
  sentDescription?: SessionDescription;
  private closed = false;
  private failure?: RtcprobeError;
  private audioSeq = Math.floor(Math.random() * 65536);
  private audioTs = Math.floor(Math.random() * 2 ** 24);
  private videoSeq = Math.floor(Math.random() * 65536);
  private videoTs = Math.floor(Math.random() * 2 ** 24);

  constructor(readonly options: PeerOptions) {
    this.clock = options.clock ?? systemClock;
    this.mark('start', options.startedAtMs);
    try {
      this.pc = new RTCPeerConnection(weriftConfig(options));
    } catch (err) {
      throw toRtcprobeError(err, 'cannot create the peer connection');
    }
    const pc = this.pc;
    pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') this.mark('iceGatheringComplete');
      this.notifyState();
    });
    pc.iceConnectionStateChange.subscribe((s) => {
      if (s === 'connected') this.mark('iceConnected');
      this.notifyState();
    });
    pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') this.mark('dtlsConnected');
      if (s === 'failed') this.failure ??= new RtcprobeError('CONNECTION', 'the peer connection failed (ICE or DTLS)');
      this.notifyState();
    });
    pc.onDataChannel.subscribe((dc) => this.adoptChannel(dc));
    pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const arrivalUs = this.clock.nowUs();
        this.mark('firstRtp', arrivalUs / 1000);
        if (this.rtpListeners.size === 0) return;
        const h = rtp.header;
        const probe = decodeProbe(rtp.payload);
        const a: RtpArrival = {
          kind: track.kind === 'video' ? 'video' : 'audio',
          seq: h.sequenceNumber,
          timestamp: h.timestamp,
          marker: h.marker,
          payloadType: h.payloadType,
          ssrc: h.ssrc,
          payloadBytes: rtp.payload.length,
          arrivalUs,
          ...(probe ? { probe } : {}),
        };
        for (const l of this.rtpListeners) l(a);
      });
    });
  }

  /** Record a connect-phase mark (ms on this peer's monotonic clock); the first one wins. */
  mark(name: ConnectMark, atMs = this.clock.nowUs() / 1000): void {
    mark(this.marks, name, atMs);
  }

  breakdown(): ConnectBreakdown {
    return connectBreakdown(this.marks);
  }

  get connectionState(): string {
    return this.pc.connectionState;
  }

  private adoptChannel(dc: RTCDataChannel): void {
    this.channels.set(dc.label, dc);
    dc.stateChanged.subscribe(() => this.notifyChannels());
    this.notifyChannels();
  }

  private notifyChannels(): void {
    for (const w of [...this.channelWaiters]) w();
  }

  private notifyState(): void {
    for (const w of [...this.stateWaiters]) w();
    this.notifyChannels();
  }

  private setupLocal(): void {
    this.adoptChannel(this.pc.createDataChannel(RELIABLE_LABEL, { ordered: true }));
    this.adoptChannel(this.pc.createDataChannel(UNRELIABLE_LABEL, { ordered: false, maxRetransmits: 0 }));
    if (this.options.audio) this.audioTx = this.pc.addTransceiver('audio', { direction: 'sendrecv' });
    if (this.options.video) this.videoTx = this.pc.addTransceiver('video', { direction: 'sendrecv' });
  }

  private async localDescription(type: 'offer' | 'answer', w: WaitOptions): Promise<SessionDescription> {
    await withDeadline<void>(w.timeoutMs, w.signal, 'ICE gathering did not complete', (resolve) => {
      const check = () => {
        if (this.pc.iceGatheringState === 'complete') resolve();
      };
      this.stateWaiters.add(check);
      check();
      return () => this.stateWaiters.delete(check);
    });
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new RtcprobeError('INTERNAL', `no local ${type} after gathering`);
    const out = this.options.relayOnly ? relayOnlySdp(sdp) : sdp;
    if (this.options.relayOnly && !sdpCandidateTypes(out).includes('relay')) {
      // Nothing to signal: no TURN server answered with an allocation (wrong credentials, unreachable...).
      throw new RtcprobeError('CONNECTION', 'relay only, but no relay candidate was gathered: the TURN server gave no allocation');
    }
    this.sentDescription = { type, sdp: out };
    return this.sentDescription;
  }

  private guard(what: string): void {
    if (this.closed) throw new RtcprobeError('ABORTED', `the peer is closed (${what})`);
  }

  /** Create the data channels and transceivers and return a complete offer. */
  async offer(w: WaitOptions): Promise<SessionDescription> {
    this.guard('offer');
    this.setupLocal();
    try {
      await this.pc.setLocalDescription(await this.pc.createOffer());
    } catch (err) {
      throw toRtcprobeError(err, 'cannot create the offer');
    }
    return this.localDescription('offer', w);
  }

  /** Apply a remote offer and return a complete answer (remote transceivers become sendrecv). */
  async answer(offer: SessionDescription, w: WaitOptions): Promise<SessionDescription> {
    this.guard('answer');
    try {
      await this.pc.setRemoteDescription({ type: 'offer', sdp: this.options.relayOnly ? relayOnlySdp(offer.sdp) : offer.sdp });
      for (const t of this.pc.getTransceivers()) {
        t.setDirection('sendrecv');
        if (t.kind === 'audio') this.audioTx = t;
        if (t.kind === 'video') this.videoTx = t;
      }
      await this.pc.setLocalDescription(await this.pc.createAnswer());
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot answer the offer: ${(err as Error).message}`, { cause: err });
    }
    return this.localDescription('answer', w);
  }

  /** Apply the remote answer (offerer side). */
  async accept(answer: SessionDescription): Promise<void> {
    this.guard('accept');
    this.mark('answerReceived');
    try {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: this.options.relayOnly ? relayOnlySdp(answer.sdp) : answer.sdp });
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot apply the answer: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Wait until ICE and DTLS are up (connectionState "connected"). RTP sent before that is dropped by werift. */
  connected(w: WaitOptions): Promise<void> {
    return withDeadline<void>(w.timeoutMs, w.signal, `no connection (ICE ${this.pc.iceConnectionState}, state ${this.pc.connectionState})`, (resolve, reject) => {
      const check = () => {
        if (this.failure) reject(this.failure);
        else if (this.closed || this.pc.connectionState === 'closed') reject(new RtcprobeError('CONNECTION', 'the peer connection closed'));
        else if (this.pc.connectionState === 'connected') resolve();
      };
      this.stateWaiters.add(check);
      check();
      return () => this.stateWaiters.delete(check);
    });
  }

  /** Wait for both data channels to be open. */
  async dataChannels(w: WaitOptions): Promise<{ reliable: DataPipe; unreliable: DataPipe }> {
    await withDeadline<void>(w.timeoutMs, w.signal, 'the data channels did not open', (resolve, reject) => {
      const check = () => {
        if (this.failure) return reject(this.failure);
        if (this.closed) return reject(new RtcprobeError('CONNECTION', 'the peer connection closed'));
        const r = this.channels.get(RELIABLE_LABEL);
        const u = this.channels.get(UNRELIABLE_LABEL);
        if (r?.readyState === 'open' && u?.readyState === 'open') resolve();
      };
      this.channelWaiters.add(check);
      check();
      return () => this.channelWaiters.delete(check);
    });
    this.mark('dataChannelOpen');
    return { reliable: wrapChannel(this.channels.get(RELIABLE_LABEL)!), unreliable: wrapChannel(this.channels.get(UNRELIABLE_LABEL)!) };
  }

  /** A pacer on a channel; closed with the peer. */
  pacer(pipe: DataPipe, o?: PacerOptions): Pacer {
    const p = new Pacer(pipe, o, () => this.clock.nowUs() / 1000);
    this.pacers.add(p);
    return p;
  }

  /** Listen to every RTP packet received; returns the unsubscribe function. */
  onRtp(cb: (a: RtpArrival) => void): () => void {
    this.rtpListeners.add(cb);
    return () => this.rtpListeners.delete(cb);
  }

  private sleepUntil(atUs: number, w: WaitOptions, deadlineMs: number): Promise<void> {
    const ms = (atUs - this.clock.nowUs()) / 1000;
    if (ms <= 0) return Promise.resolve();
    return withDeadline<void>(Math.max(0, deadlineMs - performance.now()), w.signal, 'sending did not finish', (resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
      return () => {
        clearTimeout(t);
        this.timers.delete(t);
      };
    });
  }

  private checkSending(w: WaitOptions, deadlineMs: number, kind: string): void {
    this.guard(`send ${kind}`);
    if (w.signal?.aborted) throw new RtcprobeError('ABORTED', 'aborted', { cause: w.signal.reason });
    if (performance.now() > deadlineMs) throw new RtcprobeError('TIMEOUT', `sending ${kind} did not finish within ${w.timeoutMs} ms`);
    if (this.pc.connectionState !== 'connected') throw new RtcprobeError('CONNECTION', `the connection went ${this.pc.connectionState} while sending ${kind}`);
  }

  private sendable(tx: RTCRtpTransceiver | undefined, kind: string): RTCRtpTransceiver {
    this.guard(`send ${kind}`);
    if (!tx) throw new RtcprobeError('USAGE', `no ${kind} transceiver was negotiated`);
    if (this.pc.connectionState !== 'connected') throw new RtcprobeError('CONNECTION', `cannot send ${kind} before the connection is up (state ${this.pc.connectionState})`);
    return tx;
  }

  /** Audio-like RTP: `packets` packets every ptime, each carrying a probe header. */
  async sendAudio(o: AudioSendOptions): Promise<SendReport> {
    const tx = this.sendable(this.audioTx, 'audio');
    // The negotiated codec decides (an answerer sends whatever the offer chose).
    const codec = tx.sender.codec;
    const isOpus = codec?.mimeType.toLowerCase() === 'audio/opus';
    const base = isOpus ? { ...PCMU_PROFILE, clockRate: 48000, payloadBytes: 120 } : PCMU_PROFILE;
    const pt = codec?.payloadType ?? (isOpus ? OPUS_PT : PCMU_PT);
    const p: AudioProfile = { ...base, ...o.profile };
    const step = audioTimestampStep(p);
    const deadline = performance.now() + o.timeoutMs;
    const t0 = this.clock.nowUs();
    const r: SendReport = { packets: 0, frames: 0, bytes: 0, durationMs: 0 };
    for (let i = 0; i < o.packets; i++) {
      await this.sleepUntil(t0 + i * p.ptimeMs * 1000, o, deadline);
      this.checkSending(o, deadline, 'audio');
      const payload = encodeProbe({ kind: 'audio', echo: false, streamId: o.streamId ?? 1, seq: i, sentUs: this.clock.nowUs(), sentWallMs: this.clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, Math.max(p.payloadBytes, PROBE_HEADER_BYTES));
      const header = new RtpHeader({ payloadType: pt, sequenceNumber: this.audioSeq, timestamp: this.audioTs >>> 0, marker: i === 0 });
      this.audioSeq = (this.audioSeq + 1) & 0xffff;
      this.audioTs = (this.audioTs + step) >>> 0;
      await tx.sender.sendRtp(new RtpPacket(header, payload));
      r.packets++;
      r.frames++;
      r.bytes += payload.length;
    }
    r.durationMs = (this.clock.nowUs() - t0) / 1000;
    return r;
  }

  /** Video-like RTP: frames at `fps`, sized for `kbps`, split into ≤1200-byte packets, marker on each frame's last. */
  async sendVideo(o: VideoSendOptions): Promise<SendReport> {
    const tx = this.sendable(this.videoTx, 'video');
    const p: VideoProfile = { ...DEFAULT_VIDEO, ...o.profile };
    const step = videoTimestampStep(p);
    const sizes = splitFrame(videoFrameBytes(p), undefined, PROBE_HEADER_BYTES);
    const deadline = performance.now() + o.timeoutMs;
    const t0 = this.clock.nowUs();
    const r: SendReport = { packets: 0, frames: 0, bytes: 0, durationMs: 0 };
    let seq = 0;
    for (let f = 0; f < o.frames; f++) {
      await this.sleepUntil(t0 + (f * 1e6) / p.fps, o, deadline);
      this.checkSending(o, deadline, 'video');
      for (let k = 0; k < sizes.length; k++) {
        const payload = encodeProbe({ kind: 'video', echo: false, streamId: o.streamId ?? 2, seq: seq++, sentUs: this.clock.nowUs(), sentWallMs: this.clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, sizes[k]!);
        const header = new RtpHeader({ payloadType: VIDEO_PT, sequenceNumber: this.videoSeq, timestamp: this.videoTs >>> 0, marker: k === sizes.length - 1 });
        this.videoSeq = (this.videoSeq + 1) & 0xffff;
        await tx.sender.sendRtp(new RtpPacket(header, payload));
        r.packets++;
        r.bytes += payload.length;
      }
      this.videoTs = (this.videoTs + step) >>> 0;
      r.frames++;
    }
    r.durationMs = (this.clock.nowUs() - t0) / 1000;
    return r;
  }

  /** The nominated candidate pair, from werift's getStats; undefined before ICE connects. */
  async selectedPair(): Promise<SelectedPair | undefined> {
    const report = await this.pc.getStats();
    const all = [...report.values()] as unknown as Record<string, unknown>[];
    const pair = all.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded') ?? all.find((s) => s.type === 'candidate-pair' && s.nominated === true);
    if (!pair) return undefined;
    const info = (id: unknown): CandidateInfo => {
      const c = all.find((s) => s.id === id);
      return c
        ? { type: String(c.candidateType), ...(typeof c.address === 'string' ? { address: c.address } : {}), ...(typeof c.port === 'number' ? { port: c.port } : {}), ...(typeof c.protocol === 'string' ? { protocol: c.protocol } : {}) }
        : { type: 'unknown' };
    };
    const rtt = pair.currentRoundTripTime;
    return { local: info(pair.localCandidateId), remote: info(pair.remoteCandidateId), ...(typeof rtt === 'number' ? { rttMs: rtt * 1000 } : {}) };
  }

  /** Close everything: pacers, timers, data channels, transports and sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pacers) p.close(new RtcprobeError('ABORTED', 'the peer closed'));
    this.pacers.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.rtpListeners.clear();
    this.notifyState();
    // werift's close() can resolve before its UDP sockets are closed: wait for each one's 'close'.
    const socketsClosed = this.udpSockets().map(
      (sock) =>
        new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          sock.once('close', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    );
    try {
      await this.pc.close();
    } catch {
      // Closing twice or mid-handshake may throw inside werift; the sockets are released either way.
    }
    await Promise.all(socketsClosed);
    // 'close' is emitted before libuv frees the handle (close-callbacks phase, after the check phase):
    // two check-phase turns later the handles are gone.
    for (let i = 0; i < 2; i++) await new Promise<void>((r) => setImmediate(r));
  }

  /** The UDP sockets of werift's ICE connections (internals: looked up defensively). */
  private udpSockets(): UdpSocket[] {
    const out: UdpSocket[] = [];
    for (const t of this.pc.iceTransports) {
      const protocols = (t.connection as unknown as { protocols?: unknown[] }).protocols ?? [];
      for (const p of protocols) {
        const tr = (p as { transport?: { socket?: unknown; closed?: boolean } }).transport;
        if (tr?.socket instanceof UdpSocket && !tr.closed) out.push(tr.socket);
        const turnTr = (p as { turn?: { transport?: { socket?: unknown; closed?: boolean } } }).turn?.transport;
        if (turnTr?.socket instanceof UdpSocket && !turnTr.closed) out.push(turnTr.socket);
      }
    }
    return out;
  }
}

/** Create a peer (sync); see RtcPeer. */
export function createPeer(options: PeerOptions): RtcPeer {
  return new RtcPeer(options);
}
