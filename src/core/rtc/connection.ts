// connection.ts owns one RTCPeerConnection to one remote: signalling, probes, RTP stats and its report.
import { failedLayer, LAYER_FAILURE } from './setup-layer.js';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SourceTrackers } from '../bench/sources.js';
import { estimateOffset, type OffsetEstimate, type TimeExchange } from '../bench/clock.js';
import { decodeProbe, encodeProbe } from '../bench/probe.js';
import { summarizeExact } from '../bench/summary.js';
import type { ConnectionReport, PairTypes, ProbeStats, RtpStats } from '../bench/report.js';
import { RtcPeer, type RtpArrival, type SelectedPair } from './peer.js';
import { startEcho, systemClock, type DataPipe, type Pacer } from './channel.js';
import { sdpCandidateTypes, type CandidateType } from './ice.js';
import { growReceiveBuffers } from './sockets.js';
import type { MeshPeer } from './mesh.js';

interface ProbeSide {
  sent: number;
  rtt: number[];
  exchanges: TimeExchange[];
  echoed: Set<number>;
  rx: SourceTrackers;
}

const newSide = (): ProbeSide => ({ sent: 0, rtt: [], exchanges: [], echoed: new Set(), rx: new SourceTrackers({ seqModulo: 2 ** 32 }) });

/** SDP exchanged through the relay between two mesh peers. */
export interface SdpSignal {
  rtcprobe: 'sdp';
  type: 'offer' | 'answer';
  sdp: string;
}

export function isSdpSignal(x: unknown): x is SdpSignal {
  const o = x as Partial<SdpSignal> | null;
  return !!o && typeof o === 'object' && o.rtcprobe === 'sdp' && (o.type === 'offer' || o.type === 'answer') && typeof o.sdp === 'string' && o.sdp.length < 60_000;
}

export const nowMs = () => performance.now();

/**
 * One abort listener per caller's signal, however many connections share it
 * (a bench of N peers in one process has N(N-1) of them): a listener per
 * connection trips Node's MaxListenersExceededWarning and piles up.
 */
const live = new WeakMap<AbortSignal, Set<Connection>>();

/** MeshPeers of this process with a connection, by relay URL and room: they share this process's clock. */
const local = new Map<string, Map<string, number>>();
const roomKey = (m: MeshPeer) => `${m.options.url}\n${m.options.room}`;

function register(m: MeshPeer): () => void {
  const k = roomKey(m);
  let ids = local.get(k);
  if (!ids) local.set(k, (ids = new Map()));
  const set = ids;
  set.set(m.peerId, (set.get(m.peerId) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (set.get(m.peerId) ?? 1) - 1;
    if (n > 0) set.set(m.peerId, n);
    else set.delete(m.peerId);
    if (set.size === 0) local.delete(k);
  };
}

function follow(signal: AbortSignal, c: Connection): () => void {
  let set = live.get(signal);
  if (!set) {
    const s = new Set<Connection>();
    set = s;
    live.set(signal, s);
    signal.addEventListener('abort', () => {
      live.delete(signal);
      for (const x of [...s]) x.abortNow();
    }, { once: true });
  }
  set.add(c);
  return () => {
    set.delete(c);
  };
}

export class Connection {
  readonly rtc: RtcPeer;
  state: ConnectionReport['state'] = 'connecting';
  error?: RtcprobeError;
  pair?: PairTypes;
  private readonly abort = new AbortController();
  private answerWaiter?: (sdp: string) => void;
  private remoteSdp?: string;
  private phase = 'ICE gathering';
  private reliable = newSide();
  private unreliable = newSide();
  private audio = new SourceTrackers({ clockRate: 8000 });
  private video = new SourceTrackers({ clockRate: 90000 });
  private audioTransit: number[] = [];
  private videoTransit: number[] = [];
  private allExchanges: TimeExchange[] = [];
  private windowStart = nowMs();
  private wireAtStart = { sent: 0, received: 0 };
  private rtpCount = { audio: 0, video: 0 };
  private timers: NodeJS.Timeout[] = [];
  private offs: (() => void)[] = [];

  constructor(
    readonly mesh: MeshPeer,
    readonly remote: string,
    readonly role: 'offerer' | 'answerer',
  ) {
    const o = mesh.options;
    const ch = mesh.traffic.channels;
    this.rtc = new RtcPeer({
      iceServers: mesh.iceServers,
      ...(o.loopback ? { loopback: true } : {}),
      ...(o.relayOnly ? { relayOnly: true } : {}),
      ...(ch.includes('audio') ? { audio: 'pcmu' as const } : {}),
      ...(ch.includes('video') ? { video: true } : {}),
      startedAtMs: o.startedAtMs ?? nowMs(),
    });
    if (mesh.joinedAtMs !== undefined) this.rtc.mark('joined', mesh.joinedAtMs);
    if (o.signal.aborted) this.abort.abort();
    else this.unfollow = follow(o.signal, this);
    this.unregister = register(mesh);
  }

  private unregister = () => {};
  /** Seen to share this process's clock with every sender whose media or probes it receives. */
  private sameClockSeen = false;

  /**
   * Whether the senders of what this connection receives run in this
   * process (one clock, offset exactly 0): the remote itself, or through a
   * room server every other participant in the room.
   */
  sameClock(): boolean {
    if (this.sameClockSeen) return true;
    const ids = local.get(roomKey(this.mesh));
    if (!ids) return false;
    const m = this.mesh;
    let yes: boolean;
    if (m.roomServers.has(this.remote)) {
      const others = [...(m.client?.peers.keys() ?? [])].filter((id) => !m.roomServers.has(id) && !m.roomObservers.has(id));
      yes = others.length > 0 && others.every((id) => ids.has(id));
    } else {
      yes = ids.has(this.remote);
    }
    if (yes) this.sameClockSeen = true;
    return yes;
  }

  private unfollow = () => {};

  /** The caller's signal fired. */
  abortNow(): void {
    this.abort.abort();
  }

  private get w() {
    return { timeoutMs: this.mesh.options.timeoutMs ?? 20_000, signal: this.abort.signal };
  }

  /** Offerer: offer, wait for the answer, connect. */
  async runOffer(): Promise<void> {
    try {
      const offer = await this.rtc.offer(this.w);
      this.phase = 'signalling (waiting for the answer)';
      const answered = new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new RtcprobeError('TIMEOUT', `no answer from ${this.remote} within ${this.w.timeoutMs} ms`)), this.w.timeoutMs);
        // Cleared on the answer: the timer list below keeps only recent timers, so close() may not see it.
        this.answerWaiter = (sdp) => (clearTimeout(t), resolve(sdp));
        this.abort.signal.addEventListener('abort', () => reject(new RtcprobeError('ABORTED', 'aborted')), { once: true });
        this.timers.push(t);
      });
      this.mesh.send(this.remote, { rtcprobe: 'sdp', type: 'offer', sdp: offer.sdp });
      this.rtc.mark('offerSent');
      const sdp = await answered;
      this.remoteSdp = sdp;
      await this.rtc.accept({ type: 'answer', sdp });
      await this.establish();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Answerer: answer the offer, connect. */
  async runAnswer(sdp: string): Promise<void> {
    try {
      this.remoteSdp = sdp;
      const answer = await this.rtc.answer({ type: 'offer', sdp }, this.w);
      this.mesh.send(this.remote, { rtcprobe: 'sdp', type: 'answer', sdp: answer.sdp });
      await this.establish();
    } catch (err) {
      this.fail(err);
    }
  }

  onAnswer(sdp: string): void {
    const w = this.answerWaiter;
    this.answerWaiter = undefined;
    w?.(sdp);
  }

  private async establish(): Promise<void> {
    this.phase = 'ICE connectivity checks';
    await this.rtc.connected(this.w);
    // A room server forwards every other participant's streams on their own SSRCs.
    if (this.mesh.roomServers.has(this.remote)) {
      this.rtc.receiveAllSsrcs();
      // Every other participant's streams arrive on this one socket.
      growReceiveBuffers(this.rtc.pc);
    }
    const sel: SelectedPair | undefined = await this.rtc.selectedPair();
    if (sel) {
      this.pair = {
        local: String(sel.local.type),
        remote: String(sel.remote.type),
        ...(sel.local.protocol ? { protocol: sel.local.protocol } : {}),
        ...(sel.local.address ? { localAddress: `${sel.local.address}:${sel.local.port ?? ''}` } : {}),
        ...(sel.remote.address ? { remoteAddress: `${sel.remote.address}:${sel.remote.port ?? ''}` } : {}),
      };
    }
    if (this.mesh.options.relayOnly && this.pair?.local !== 'relay') {
      this.phase = 'relay check';
      throw new RtcprobeError('NO_RELAY_CANDIDATE', `relay only, but the selected pair is ${this.pair ? `${this.pair.local}/${this.pair.remote}` : 'unknown'}, not through the TURN server`);
    }
    this.phase = 'data channels';
    const { reliable, unreliable } = await this.rtc.dataChannels(this.w);
    this.state = 'up';
    this.startTraffic(reliable, unreliable);
    this.startWindow();
    this.mesh.emit({ event: 'peer-connected', peerId: this.mesh.peerId, remote: this.remote, role: this.role, connectMs: this.rtc.breakdown(), pair: this.pair ?? { local: 'unknown', remote: 'unknown' } });
  }

  private fail(err: unknown): void {
    if (this.state === 'closed') return;
    let e = toRtcprobeError(err);
    if (e.code === 'ABORTED' && this.mesh.options.signal.aborted) {
      this.state = 'closed';
      return;
    }
    if (this.mesh.options.relayOnly && /no relay candidate/.test(e.message)) {
      e = new RtcprobeError('NO_RELAY_CANDIDATE', `connection to ${this.remote}: relay only, but the TURN server gave no allocation (credentials rejected, or the server unreachable)`, { cause: e });
    } else if (e.code !== 'NO_RELAY_CANDIDATE' && e.code !== 'ABORTED') {
      const local = this.rtc.sentDescription ? sdpCandidateTypes(this.rtc.sentDescription.sdp) : [];
      const remote = this.remoteSdp ? sdpCandidateTypes(this.remoteSdp) : [];
      const list = (l: CandidateType[]) => (l.length ? l.join(', ') : 'none');
      // The layer that did not finish. werift's connectionState turns "connected" only once SCTP is up too: the DTLS
      // transport itself says whether its handshake finished.
      const since = this.rtc.breakdown().sinceStart;
      const settingUp = this.phase === 'ICE connectivity checks' || this.phase === 'data channels';
      const f = LAYER_FAILURE[failedLayer({ settingUp, iceConnected: since.iceConnected !== undefined, dtls: this.rtc.layers().dtls })];
      const phase = f.during ?? this.phase;
      const code = f.code;
      e = new RtcprobeError(code, `connection to ${this.remote} failed during ${phase}: ${e.message} (local candidates: ${list(local)}; remote candidates: ${list(remote)})`, { cause: e });
    }
    this.error = e;
    this.state = 'failed';
    this.mesh.emit({ event: 'peer-failed', peerId: this.mesh.peerId, remote: this.remote, code: e.code, message: e.message });
    void this.stop();
  }

  private startTraffic(reliable: DataPipe, unreliable: DataPipe): void {
    const t = this.mesh.traffic;
    const clock = systemClock;
    for (const [pipe, side] of [[reliable, 'reliable'], [unreliable, 'unreliable']] as const) {
      const pacer: Pacer = this.rtc.pacer(pipe);
      this.offs.push(startEcho(pipe, clock, pacer));
      this.offs.push(
        pipe.onMessage((data) => {
          const t4 = clock.nowUs();
          const h = decodeProbe(data);
          if (!h) return;
          const s = side === 'reliable' ? this.reliable : this.unreliable;
          if (!h.echo) {
            // Through a room server the stream id names the source (see sfu/datachannel.ts); else it is constant.
            s.rx.add(h.streamId, { seq: h.seq, arrivalMs: t4 / 1000 });
            return;
          }
          if (s.echoed.has(h.seq) || h.seq >= s.sent + this.seqBase(side)) return;
          if (h.seq < this.seqBase(side)) return; // sent before the window
          s.echoed.add(h.seq);
          s.rtt.push((t4 - h.sentUs) / 1000);
          const ex = { t1: h.sentUs, t2: h.echoRecvUs, t3: h.echoSendUs, t4 };
          s.exchanges.push(ex);
          this.allExchanges.push(ex);
          if (this.allExchanges.length > 2000) this.allExchanges.splice(0, 1000);
        }),
      );
      if (t.channels.includes('data')) {
        let seq = 0;
        const period = 1000 / t.dataRate;
        const started = nowMs();
        const tick = () => {
          if (this.state !== 'up' || this.quiet) return;
          const s = side === 'reliable' ? this.reliable : this.unreliable;
          // Probes due by now, at most 2 ms of the schedule per tick (a timer fires at most about once per ms, so
          // high rates need several per tick; a process that fell behind catches up gradually, not in a burst:
          // bursts on a loaded machine overflow socket buffers and werift's SCTP then waits out a 1 s RTO).
          const due = Math.floor((nowMs() - started) / period) + 1 - seq;
          for (let k = Math.max(1, Math.min(due, Math.ceil(2 / period))); k > 0; k--) {
            const msg = encodeProbe({ kind: 'probe', echo: false, streamId: side === 'reliable' ? 1 : 2, seq, sentUs: clock.nowUs(), sentWallMs: clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, t.dataSize);
            try {
              pacer.send(msg);
              seq++;
              s.sent++;
            } catch {
              return;
            }
          }
          const next = started + (seq + 1) * period - nowMs();
          this.timers.push(setTimeout(tick, Math.max(0, next)));
          if (this.timers.length > 64) this.timers = this.timers.slice(-8);
        };
        this.seqCounters[side] = () => seq;
        this.timers.push(setTimeout(tick, 0));
      }
    }
    this.offs.push(
      this.rtc.onRtp((a: RtpArrival) => {
        const arrivalMs = a.arrivalUs / 1000;
        const tr = a.kind === 'audio' ? this.audio : this.video;
        tr.add(a.ssrc, { seq: a.seq, arrivalMs, rtpTimestamp: a.timestamp });
        this.rtpCount[a.kind]++;
        if (a.probe) (a.kind === 'audio' ? this.audioTransit : this.videoTransit).push(arrivalMs - a.probe.sentUs / 1000);
      }),
    );
    const long = { timeoutMs: 2_000_000_000, signal: this.abort.signal };
    // A remote that is not rtcprobe (a browser) may offer no video, or receive-only audio: send what was negotiated.
    const sends = (k: 'audio' | 'video') => t.channels.includes(k) && /^send/.test(this.rtc.mediaDirection(k) ?? '');
    if (sends('audio')) this.rtc.sendAudio({ packets: Number.MAX_SAFE_INTEGER, ...long }).catch((e: unknown) => this.mediaStopped(e));
    if (sends('video')) this.rtc.sendVideo({ frames: Number.MAX_SAFE_INTEGER, profile: { fps: t.videoFps, kbps: t.videoKbps }, ...long }).catch((e: unknown) => this.mediaStopped(e));
  }

  /** No new probes (the end of a window: outstanding echoes can still come back). */
  quiet = false;

  private seqCounters: Record<'reliable' | 'unreliable', () => number> = { reliable: () => 0, unreliable: () => 0 };
  private seqBases = { reliable: 0, unreliable: 0 };
  private seqBase(side: 'reliable' | 'unreliable'): number {
    return this.seqBases[side];
  }

  private mediaStopped(e: unknown): void {
    const err = toRtcprobeError(e);
    if (err.code === 'ABORTED' || this.state !== 'up') return;
    this.fail(err);
  }

  /** Wire bytes of the nominated pair so far. */
  async wireBytes(): Promise<{ sent: number; received: number }> {
    try {
      const report = await this.rtc.pc.getStats();
      let sent = 0;
      let received = 0;
      for (const s of report.values() as Iterable<Record<string, unknown>>) {
        if (s.type === 'candidate-pair' && s.nominated === true) {
          sent += Number(s.bytesSent ?? 0);
          received += Number(s.bytesReceived ?? 0);
        }
      }
      return { sent, received };
    } catch {
      return { sent: 0, received: 0 };
    }
  }

  /** Clear the counters: the window starts now. */
  startWindow(): void {
    this.windowStart = nowMs();
    this.seqBases = { reliable: this.seqCounters.reliable(), unreliable: this.seqCounters.unreliable() };
    this.reliable = newSide();
    this.unreliable = newSide();
    this.audio = new SourceTrackers({ clockRate: 8000 });
    this.video = new SourceTrackers({ clockRate: 90000 });
    this.audioTransit = [];
    this.videoTransit = [];
    this.rtpCount = { audio: 0, video: 0 };
    void this.wireBytes().then((b) => {
      this.wireAtStart = b;
    });
  }

  async report(): Promise<ConnectionReport> {
    const base: ConnectionReport = {
      peerId: this.mesh.peerId,
      remote: this.remote,
      role: this.role,
      state: this.state,
      windowMs: nowMs() - this.windowStart,
      bytes: { sent: 0, received: 0 },
      ...(this.error ? { error: { code: this.error.code, message: this.error.message } } : {}),
      ...(this.pair ? { pair: this.pair } : {}),
    };
    const cm = this.rtc.breakdown();
    if (Object.keys(cm.sinceStart).length > 1) base.connectMs = cm;
    if (this.state !== 'up') return base;
    const wire = await this.wireBytes();
    base.bytes = { sent: wire.sent - this.wireAtStart.sent, received: wire.received - this.wireAtStart.received };
    const off: OffsetEstimate | undefined = estimateOffset(this.allExchanges, 5);
    // One process, one clock: the offset is 0 exactly, data channel or not.
    const same = this.sameClock();
    const offMs = same ? 0 : off ? off.offset / 1000 : undefined;
    if (same) base.sameClock = true;
    const ch = this.mesh.traffic.channels;
    if (ch.includes('data')) {
      const side = (s: ProbeSide): ProbeStats => {
        const fw = offMs === undefined ? [] : s.exchanges.map((e) => (e.t2 - e.t1) / 1000 - offMs);
        const bw = offMs === undefined ? [] : s.exchanges.map((e) => (e.t4 - e.t3) / 1000 + offMs);
        const out: ProbeStats = { sent: s.sent, echoed: s.echoed.size, lossRatio: s.sent ? Math.max(0, s.sent - s.echoed.size) / s.sent : 0, received: s.rx.report() };
        const rtt = summarizeExact(s.rtt);
        if (rtt) out.rttMs = rtt;
        const f = summarizeExact(fw);
        if (f) out.forwardMs = f;
        const b = summarizeExact(bw);
        if (b) out.backwardMs = b;
        return out;
      };
      base.dc = {
        reliable: side(this.reliable),
        unreliable: side(this.unreliable),
        ...(off ? { clock: { offsetMs: off.offset / 1000, uncertaintyMs: off.uncertainty / 1000, exchanges: off.total } } : {}),
      };
    }
    const rtp = (tr: SourceTrackers, transit: number[], n: number): RtpStats => {
      const out: RtpStats = { stream: tr.report(), packetsReceived: n, ...(tr.size > 1 ? { sources: tr.size } : {}) };
      if (offMs !== undefined) {
        const s = summarizeExact(transit.map((x) => x + offMs));
        if (s) out.oneWayMs = s;
      } else if (transit.length) {
        out.oneWayUnknown = ch.includes('data')
          ? 'the senders run in another process (own clock) and no data-channel echo came back to estimate the clock offset from'
          : 'the senders run in another process (own clock) and without a data channel (--channels data) there are no round trips to estimate the clock offset from';
      }
      return out;
    };
    const sh = (x: number[]) => (offMs === undefined ? [] : x.map((v) => v + offMs));
    base.raw = {
      rtt: { reliable: this.reliable.rtt, unreliable: this.unreliable.rtt },
      forward: { reliable: offMs === undefined ? [] : this.reliable.exchanges.map((e) => (e.t2 - e.t1) / 1000 - offMs), unreliable: offMs === undefined ? [] : this.unreliable.exchanges.map((e) => (e.t2 - e.t1) / 1000 - offMs) },
      backward: { reliable: offMs === undefined ? [] : this.reliable.exchanges.map((e) => (e.t4 - e.t3) / 1000 + offMs), unreliable: offMs === undefined ? [] : this.unreliable.exchanges.map((e) => (e.t4 - e.t3) / 1000 + offMs) },
      audioOwd: sh(this.audioTransit),
      videoOwd: sh(this.videoTransit),
    };
    // RTP figures only for a stream the remote agreed to send: silence from a receive-only remote is no loss figure.
    const receives = (k: 'audio' | 'video') => ch.includes(k) && /recv/.test(this.rtc.mediaDirection(k) ?? '');
    if (receives('audio')) base.audio = rtp(this.audio, this.audioTransit, this.rtpCount.audio);
    if (receives('video')) base.video = rtp(this.video, this.videoTransit, this.rtpCount.video);
    return base;
  }

  async stop(): Promise<void> {
    if (this.state === 'up' || this.state === 'connecting') this.state = 'closed';
    this.unfollow();
    this.unregister();
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const off of this.offs) off();
    this.offs = [];
    await this.rtc.close();
  }
}
