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
import { RTCPeerConnection, type RTCDataChannel, type RTCRtpTransceiver } from 'werift';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { connectBreakdown, mark, type ConnectBreakdown, type ConnectMark, type ConnectMarks } from '../bench/connect.js';
import { decodeProbe } from '../bench/probe.js';
import { relayOnlySdp, sdpCandidateTypes } from './ice.js';
import { Pacer, systemClock, withDeadline, type Clock, type DataPipe, type PacerOptions } from './channel.js';
import { OPUS_PT, PCMU_PT, RELIABLE_LABEL, UNRELIABLE_LABEL, VIDEO_PT, weriftConfig, withoutDefaultStun, type PeerOptions } from './config.js';
import { wrapChannel } from './datachannel.js';
import { socketClosed, udpSockets } from './sockets.js';
import { sendAudioRtp, sendVideoRtp, type RtpCounters, type RtpSendContext } from './rtp-send.js';
import type {
  AudioSendOptions, CandidateInfo, RtpArrival, SelectedPair, SendReport, SessionDescription, VideoSendOptions, WaitOptions,
} from './types.js';

export { RELIABLE_LABEL, UNRELIABLE_LABEL, PCMU_PT, OPUS_PT, VIDEO_PT, weriftConfig, type AudioCodec, type PeerOptions } from './config.js';
export type {
  WaitOptions, SessionDescription, CandidateInfo, SelectedPair, RtpArrival, AudioSendOptions, VideoSendOptions, SendReport,
} from './types.js';

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
  private readonly audioRtp: RtpCounters = { seq: Math.floor(Math.random() * 65536), ts: Math.floor(Math.random() * 2 ** 24) };
  private readonly videoRtp: RtpCounters = { seq: Math.floor(Math.random() * 65536), ts: Math.floor(Math.random() * 2 ** 24) };

  constructor(readonly options: PeerOptions) {
    this.clock = options.clock ?? systemClock;
    this.mark('start', options.startedAtMs);
    try {
      this.pc = withoutDefaultStun(new RTCPeerConnection(weriftConfig(options)));
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
        if (this.allSsrcs) return; // delivered from the transport instead
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

  private allSsrcs = false;

  /**
   * Deliver every RTP packet of the session to the onRtp listeners, also on
   * SSRCs the remote SDP never announced (a room server forwards the other
   * participants' streams with their own SSRCs, which werift's receivers do
   * not route). The kind comes from the payload type. Call once connected.
   */
  receiveAllSsrcs(): void {
    if (this.allSsrcs) return;
    this.allSsrcs = true;
    const transports = (this.pc as unknown as { dtlsTransports: { onRtp: { subscribe(cb: (p: { header: { sequenceNumber: number; timestamp: number; marker: boolean; payloadType: number; ssrc: number }; payload: Buffer }) => void): unknown } }[] }).dtlsTransports;
    for (const t of transports) {
      t.onRtp.subscribe((rtp) => {
        const arrivalUs = this.clock.nowUs();
        this.mark('firstRtp', arrivalUs / 1000);
        if (this.rtpListeners.size === 0) return;
        const h = rtp.header;
        const kind = h.payloadType === VIDEO_PT ? 'video' : h.payloadType === PCMU_PT || h.payloadType === OPUS_PT ? 'audio' : undefined;
        if (!kind) return;
        const probe = decodeProbe(rtp.payload);
        const a: RtpArrival = {
          kind, seq: h.sequenceNumber, timestamp: h.timestamp, marker: h.marker, payloadType: h.payloadType, ssrc: h.ssrc, payloadBytes: rtp.payload.length, arrivalUs,
          ...(probe ? { probe } : {}),
        };
        for (const l of this.rtpListeners) l(a);
      });
    }
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
        if (t.kind === 'audio') {
          this.audioTx = t;
          preferAudioCodec(t, this.options.audio);
        }
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
    // The states when the deadline passes (not when the wait began): which layer of the setup did not finish.
    const what = () =>
      `no connection (ICE ${this.pc.iceConnectionState}, DTLS ${this.pc.dtlsTransports[0]?.state ?? 'none'}, SCTP ${this.pc.sctpTransport?.sctp.state ?? 'none'}, state ${this.pc.connectionState})`;
    return withDeadline<void>(w.timeoutMs, w.signal, what, (resolve, reject) => {
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

  /** The live state of each layer: ICE, DTLS (of the first transport) and the SCTP association. */
  layers(): { ice: string; dtls: string; sctp: string } {
    return { ice: this.pc.iceConnectionState, dtls: this.pc.dtlsTransports[0]?.state ?? 'none', sctp: this.pc.sctpTransport?.sctp.state ?? 'none' };
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

  private rtpContext(): RtpSendContext {
    return { clock: this.clock, sleepUntil: (at, w, dl) => this.sleepUntil(at, w, dl), checkSending: (w, dl, kind) => this.checkSending(w, dl, kind) };
  }

  /**
   * The negotiated direction of the audio or video transceiver, from this side ("sendonly": we send,
   * the remote does not); undefined when the offer/answer has no such m-line.
   */
  mediaDirection(kind: 'audio' | 'video'): string | undefined {
    const tx = kind === 'audio' ? this.audioTx : this.videoTx;
    return tx?.currentDirection ?? undefined;
  }

  /** Audio-like RTP: `packets` packets every ptime, each carrying a probe header. */
  async sendAudio(o: AudioSendOptions): Promise<SendReport> {
    return sendAudioRtp(this.sendable(this.audioTx, 'audio'), this.audioRtp, this.rtpContext(), o);
  }

  /** Video-like RTP: frames at `fps`, sized for `kbps`, split into ≤1200-byte packets, marker on each frame's last. */
  async sendVideo(o: VideoSendOptions): Promise<SendReport> {
    return sendVideoRtp(this.sendable(this.videoTx, 'video'), this.videoRtp, this.rtpContext(), o);
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
    const socketsClosed = udpSockets(this.pc).map((sock) => socketClosed(sock, 2000));
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

}

/** Create a peer (sync); see RtcPeer. */
export function createPeer(options: PeerOptions): RtcPeer {
  return new RtcPeer(options);
}

/**
 * Answer with our own audio codec when the offer has it, whatever the offer's order: werift
 * answers in the offer's order, and a browser offers opus first. rtcprobe's synthetic audio is
 * no opus a browser could decode, while every byte sequence is valid PCMU (G.711 μ-law), so with
 * PCMU answered the browser decodes the stream it receives. The answer then lists that codec
 * only, and our sender uses it. Without a codec of our own (`audio` unset), the offer decides.
 */
function preferAudioCodec(t: RTCRtpTransceiver, want: PeerOptions['audio']): void {
  if (!want) return;
  const mime = want === 'opus' ? 'audio/opus' : 'audio/pcmu';
  const pick = t.codecs.find((c) => c.mimeType.toLowerCase() === mime);
  if (!pick) return;
  t.codecs = [pick];
  t.sender.codec = pick;
}
