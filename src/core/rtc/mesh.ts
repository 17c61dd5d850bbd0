/**
 * A mesh member: joins a room of the signaling relay through SignalClient
 * and keeps one RtcPeer to every other peer there, following peers as they
 * come and go. The lexicographically smaller peerId offers, so two peers
 * never offer to each other at once. Over every connection it sends probes
 * on both data channels (reliable ordered and unreliable unordered), echoes
 * the other side's probes, and sends audio-like and video-like RTP; the
 * per-connection figures come from that traffic only.
 *
 * The measurement window is separate from the connection's life: traffic
 * flows from the moment a connection is up, `startWindow()` clears the
 * counters (end of warm-up) and `connections()` reads them.
 */
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SignalClient } from '../signaling/client.js';
import type { JoinedMessage } from '../signaling/protocol.js';
import type { ConnectBreakdown } from '../bench/connect.js';
import { ReceiveTracker, type StreamReport } from '../bench/tracker.js';
import { estimateOffset, type OffsetEstimate, type TimeExchange } from '../bench/clock.js';
import { decodeProbe, encodeProbe } from '../bench/probe.js';
import { summarizeExact, type Summary } from '../bench/summary.js';
import type { ConnectionReport, PairTypes, ProbeStats, RawSamples, RtpStats } from '../bench/report.js';
export type { ConnectionReport, PairTypes, ProbeStats, RtpStats } from '../bench/report.js';
import { RtcPeer, type RtpArrival, type SelectedPair } from './peer.js';
import { startEcho, systemClock, type DataPipe, type Pacer } from './channel.js';
import { sdpCandidateTypes, toRtcIceServers, type CandidateType } from './ice.js';
import type { IceServer } from '../ice/servers.js';

export type MeshChannel = 'data' | 'audio' | 'video';

export interface MeshTraffic {
  channels: readonly MeshChannel[];
  /** Probes per second on each data channel of each connection. */
  dataRate: number;
  /** Bytes per probe message (at least the 48-byte header). */
  dataSize: number;
  videoFps: number;
  videoKbps: number;
}

export const DEFAULT_TRAFFIC: MeshTraffic = { channels: ['data', 'audio', 'video'], dataRate: 50, dataSize: 200, videoFps: 30, videoKbps: 500 };

export interface MeshOptions {
  url: string;
  room: string;
  token?: string;
  peerId?: string;
  /** Explicit ICE servers; undefined: the relay's `joined.iceServers`, else none. */
  iceServers?: IceServer[];
  loopback?: boolean;
  relayOnly?: boolean;
  traffic?: Partial<MeshTraffic>;
  /** Limit for joining, for one connection to come up (gathering, signalling, ICE, DTLS, channels). */
  timeoutMs?: number;
  signal: AbortSignal;
  /** Connect-time `start` mark (ms, performance.now()), e.g. the start of a benchmark run. */
  startedAtMs?: number;
  onEvent?: (e: MeshEvent) => void;
}

export type MeshEvent =
  | { event: 'joined'; peerId: string; room: string; peers: string[]; iceServers: number }
  | { event: 'peer-connected'; peerId: string; remote: string; role: 'offerer' | 'answerer'; connectMs: ConnectBreakdown; pair: PairTypes }
  | { event: 'peer-failed'; peerId: string; remote: string; code: string; message: string }
  | { event: 'peer-left'; peerId: string; remote: string };

interface ProbeSide {
  sent: number;
  rtt: number[];
  exchanges: TimeExchange[];
  echoed: Set<number>;
  rx: ReceiveTracker;
}

const newSide = (): ProbeSide => ({ sent: 0, rtt: [], exchanges: [], echoed: new Set(), rx: new ReceiveTracker({ seqModulo: 2 ** 32 }) });

/** SDP exchanged through the relay between two mesh peers. */
interface SdpSignal {
  rtcprobe: 'sdp';
  type: 'offer' | 'answer';
  sdp: string;
}

function isSdpSignal(x: unknown): x is SdpSignal {
  const o = x as Partial<SdpSignal> | null;
  return !!o && typeof o === 'object' && o.rtcprobe === 'sdp' && (o.type === 'offer' || o.type === 'answer') && typeof o.sdp === 'string' && o.sdp.length < 60_000;
}

const nowMs = () => performance.now();

class Connection {
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
  private audio = new ReceiveTracker({ clockRate: 8000 });
  private video = new ReceiveTracker({ clockRate: 90000 });
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
    o.signal.addEventListener('abort', () => this.abort.abort(), { once: true });
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
        this.answerWaiter = resolve;
        const t = setTimeout(() => reject(new RtcprobeError('TIMEOUT', `no answer from ${this.remote} within ${this.w.timeoutMs} ms`)), this.w.timeoutMs);
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
      e = new RtcprobeError('ICE_FAILED', `connection to ${this.remote} failed during ${this.phase}: ${e.message} (local candidates: ${list(local)}; remote candidates: ${list(remote)})`, { cause: e });
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
            s.rx.add({ seq: h.seq, arrivalMs: t4 / 1000 });
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
          const msg = encodeProbe({ kind: 'probe', echo: false, streamId: side === 'reliable' ? 1 : 2, seq, sentUs: clock.nowUs(), sentWallMs: clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, t.dataSize);
          try {
            pacer.send(msg);
            seq++;
            s.sent++;
          } catch {
            return;
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
        tr.add({ seq: a.seq, arrivalMs, rtpTimestamp: a.timestamp });
        this.rtpCount[a.kind]++;
        if (a.probe) (a.kind === 'audio' ? this.audioTransit : this.videoTransit).push(arrivalMs - a.probe.sentUs / 1000);
      }),
    );
    const long = { timeoutMs: 2_000_000_000, signal: this.abort.signal };
    if (t.channels.includes('audio')) this.rtc.sendAudio({ packets: Number.MAX_SAFE_INTEGER, ...long }).catch((e: unknown) => this.mediaStopped(e));
    if (t.channels.includes('video')) this.rtc.sendVideo({ frames: Number.MAX_SAFE_INTEGER, profile: { fps: t.videoFps, kbps: t.videoKbps }, ...long }).catch((e: unknown) => this.mediaStopped(e));
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
    this.audio = new ReceiveTracker({ clockRate: 8000 });
    this.video = new ReceiveTracker({ clockRate: 90000 });
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
    const offMs = off ? off.offset / 1000 : undefined;
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
    const rtp = (tr: ReceiveTracker, transit: number[], n: number): RtpStats => {
      const out: RtpStats = { stream: tr.report(), packetsReceived: n };
      if (offMs !== undefined) {
        const s = summarizeExact(transit.map((x) => x + offMs));
        if (s) out.oneWayMs = s;
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
    if (ch.includes('audio')) base.audio = rtp(this.audio, this.audioTransit, this.rtpCount.audio);
    if (ch.includes('video')) base.video = rtp(this.video, this.videoTransit, this.rtpCount.video);
    return base;
  }

  async stop(): Promise<void> {
    if (this.state === 'up' || this.state === 'connecting') this.state = 'closed';
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    for (const off of this.offs) off();
    this.offs = [];
    await this.rtc.close();
  }
}

/** One member of a mesh. */
export class MeshPeer {
  readonly options: MeshOptions;
  readonly traffic: MeshTraffic;
  client?: SignalClient;
  peerId = '';
  joinedAtMs?: number;
  iceServers: IceServer[] = [];
  joined?: JoinedMessage;
  private readonly conns = new Map<string, Connection>();
  /** Connections that ended (peer left), kept for the summary. */
  readonly ended: ConnectionReport[] = [];
  private stopped = false;
  private readonly pending = new Set<Promise<void>>();

  constructor(options: MeshOptions) {
    this.options = options;
    this.traffic = { ...DEFAULT_TRAFFIC, ...options.traffic };
  }

  emit(e: MeshEvent): void {
    try {
      this.options.onEvent?.(e);
    } catch {
      // a listener's failure is not the mesh's
    }
  }

  /** Join the room and start connecting to everyone there. Rejects with the join error. */
  async start(): Promise<JoinedMessage> {
    const o = this.options;
    const client = new SignalClient({
      url: o.url,
      room: o.room,
      reconnect: false,
      timeoutMs: o.timeoutMs ?? 10_000,
      signal: o.signal,
      ...(o.token ? { token: o.token } : {}),
      ...(o.peerId ? { peerId: o.peerId } : {}),
    });
    this.client = client;
    client.on('signal', ({ from, data }) => this.onSignal(from, data));
    client.on('peer-joined', (p) => this.ensure(p.peerId));
    client.on('peer-left', (p) => void this.drop(p.peerId));
    const joined = await client.connect();
    this.joinedAtMs = nowMs();
    this.joined = joined;
    this.peerId = joined.peerId;
    if (o.iceServers) this.iceServers = o.iceServers;
    else if (joined.iceServers?.length) this.iceServers = toRtcIceServers(joined.iceServers as { urls: string | string[]; username?: string; credential?: string }[]);
    this.emit({ event: 'joined', peerId: joined.peerId, room: joined.room, peers: joined.peers.map((p) => p.peerId), iceServers: joined.iceServers?.length ?? 0 });
    for (const p of joined.peers) this.ensure(p.peerId);
    return joined;
  }

  send(to: string, data: SdpSignal): void {
    this.client?.signal(to, data);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private ensure(remote: string, role?: 'offerer' | 'answerer'): Connection | undefined {
    if (this.stopped || remote === this.peerId) return undefined;
    const have = this.conns.get(remote);
    if (have) return have;
    const r = role ?? (this.peerId < remote ? 'offerer' : 'answerer');
    let c: Connection;
    try {
      c = new Connection(this, remote, r);
    } catch (err) {
      const e = toRtcprobeError(err);
      this.emit({ event: 'peer-failed', peerId: this.peerId, remote, code: e.code, message: e.message });
      return undefined;
    }
    this.conns.set(remote, c);
    if (r === 'offerer') this.track(c.runOffer());
    return c;
  }

  private onSignal(from: string, data: unknown): void {
    if (!isSdpSignal(data)) return;
    if (data.type === 'offer') {
      const existing = this.conns.get(from);
      if (existing && existing.role === 'offerer') return; // the rule says we offer; ignore
      if (existing && existing.state !== 'connecting') {
        // The remote restarted: start over.
        void this.drop(from).then(() => {
          const c = this.ensure(from, 'answerer');
          if (c) this.track(c.runAnswer(data.sdp));
        });
        return;
      }
      const c = this.ensure(from, 'answerer');
      if (c) this.track(c.runAnswer(data.sdp));
    } else this.conns.get(from)?.onAnswer(data.sdp);
  }

  private async drop(remote: string): Promise<void> {
    const c = this.conns.get(remote);
    if (!c) return;
    this.conns.delete(remote);
    const r = await c.report();
    this.ended.push(r.state === 'up' ? { ...r, state: 'closed' } : r);
    await c.stop();
    this.emit({ event: 'peer-left', peerId: this.peerId, remote });
  }

  /** Remote peers with a connection (any state). */
  get remotes(): string[] {
    return [...this.conns.keys()];
  }

  states(): { up: number; connecting: number; failed: number } {
    const s = { up: 0, connecting: 0, failed: 0 };
    for (const c of this.conns.values()) if (c.state === 'up' || c.state === 'connecting' || c.state === 'failed') s[c.state]++;
    return s;
  }

  /** Restart every connection's measurement window. */
  startWindow(): void {
    for (const c of this.conns.values()) if (c.state === 'up') c.startWindow();
  }

  /** Stop sending new probes (media keeps flowing); echoes still come back. */
  quiesce(): void {
    for (const c of this.conns.values()) c.quiet = true;
  }

  async connections(): Promise<ConnectionReport[]> {
    return Promise.all([...this.conns.values()].map((c) => c.report()));
  }

  /** Leave the room, close every connection and the relay connection. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.conns.values()].map((c) => c.stop()));
    await Promise.allSettled([...this.pending]);
    await this.client?.close();
  }
}
