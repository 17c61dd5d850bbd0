/**
 * An audio participant for measurements through a room server: joins the
 * relay room, offers to the room server (join meta role "mcu" or "sfu") a
 * PCMU sendrecv audio transceiver (plus the two data channels RtcPeer always
 * makes), sends real PCMU on a steady 20 ms clock — silence with this
 * participant's tone burst at the start of a frame every `periodFrames`
 * frames — and records every audio frame it receives with its arrival time.
 * The analysis (mouth-to-ear.ts) finds the bursts in what it received.
 *
 * For tests of the server's input checks it can also send datagrams werift
 * would never send: raw bytes on the ICE connection, RTP with any header.
 */
import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SignalClient } from '../signaling/client.js';
import type { IceServer } from '../ice/servers.js';
import { FrameClock } from '../mcu/jitter.js';
import { FRAME_SAMPLES } from '../mcu/mixer.js';
import { burst } from '../mcu/impulse.js';
import { ulawEncodeFrame } from '../mcu/g711.js';
import type { BurstSent, ReceivedFrame } from '../mcu/mouth-to-ear.js';
import { RtcPeer, PCMU_PT } from './peer.js';
import { isSdpSignal, type SdpSignal } from './connection.js';
import { roomServerRole } from './mesh.js';

export interface ImpulseClientOptions {
  url: string;
  room: string;
  token?: string;
  peerId: string;
  iceServers: IceServer[];
  loopback?: boolean;
  /** This participant's burst id (0..7). */
  burstId: number;
  amplitude?: number;
  timeoutMs?: number;
  signal: AbortSignal;
}

export interface SendPlan {
  /** A burst every this many frames (default 50: once a second). */
  periodFrames?: number;
  /** Frame of the period the burst starts at (stagger participants with it). */
  phaseFrames?: number;
  /** Stop after this many frames (default: until stopSending). */
  frames?: number;
}

const now = () => performance.now();
const FRAME_MS = 20;

export class ImpulseClient {
  readonly options: ImpulseClientOptions;
  rtc?: RtcPeer;
  client?: SignalClient;
  server?: string;
  tx?: RTCRtpTransceiver;
  /** Bursts sent: mouth time of each. */
  readonly sent: BurstSent[] = [];
  /** Audio frames received (PCMU only), in arrival order. */
  readonly frames: ReceivedFrame[] = [];
  /** Received RTP of another payload type (counted, not kept). */
  otherRx = 0;
  packetsSent = 0;
  payloadBytesSent = 0;
  private seq = Math.floor(Math.random() * 65536);
  private ts = Math.floor(Math.random() * 2 ** 31);
  private timer?: NodeJS.Timeout;
  private sending = false;
  private readonly abort = new AbortController();
  private readonly shape: Int16Array;
  firstArrivalMs?: number;
  lastArrivalMs?: number;

  constructor(options: ImpulseClientOptions) {
    this.options = options;
    this.shape = burst(options.burstId, options.amplitude ?? 8000);
    options.signal.addEventListener('abort', () => this.abort.abort(), { once: true });
  }

  private get w() {
    return { timeoutMs: this.options.timeoutMs ?? 20_000, signal: this.abort.signal };
  }

  /** Join, find the room server, offer, and wait until the connection is up. */
  async start(): Promise<void> {
    const o = this.options;
    const client = new SignalClient({ url: o.url, room: o.room, reconnect: false, timeoutMs: this.w.timeoutMs, signal: this.abort.signal, peerId: o.peerId, ...(o.token ? { token: o.token } : {}) });
    this.client = client;
    let answerWaiter: ((sdp: string) => void) | undefined;
    const answers: string[] = [];
    client.on('signal', ({ from, data }) => {
      if (from !== this.server || !isSdpSignal(data) || data.type !== 'answer') return;
      if (answerWaiter) answerWaiter(data.sdp);
      else answers.push(data.sdp);
    });
    let serverWaiter: ((id: string) => void) | undefined;
    client.on('peer-joined', (p) => {
      if (roomServerRole(p.meta) && !this.server) serverWaiter?.(p.peerId);
    });
    const joined = await client.connect();
    const there = joined.peers.find((p) => roomServerRole(p.meta));
    this.server = there?.peerId ?? (await this.until<string>((r) => { serverWaiter = r; }, 'no room server joined the room'));
    const rtc = new RtcPeer({ iceServers: o.iceServers, audio: 'pcmu', ...(o.loopback ? { loopback: true } : {}) });
    this.rtc = rtc;
    rtc.pc.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        if (rtp.header.payloadType !== PCMU_PT) {
          this.otherRx++;
          return;
        }
        const t = now();
        this.firstArrivalMs ??= t;
        this.lastArrivalMs = t;
        this.frames.push({ seq: rtp.header.sequenceNumber, arrivalMs: t, payload: new Uint8Array(rtp.payload) });
      });
    });
    const offer = await rtc.offer(this.w);
    const msg: SdpSignal = { rtcprobe: 'sdp', type: 'offer', sdp: offer.sdp };
    client.signal(this.server, msg);
    const sdp = answers.shift() ?? (await this.until<string>((r) => { answerWaiter = r; }, `no answer from ${this.server}`));
    await rtc.accept({ type: 'answer', sdp });
    await rtc.connected(this.w);
    this.tx = rtc.pc.getTransceivers().find((t) => t.kind === 'audio');
    if (!this.tx) throw new RtcprobeError('CONNECTION', 'no audio transceiver');
  }

  private until<T>(set: (resolve: (v: T) => void) => void, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new RtcprobeError('TIMEOUT', `${what} within ${this.w.timeoutMs} ms`)), this.w.timeoutMs);
      const onAbort = () => reject(new RtcprobeError('ABORTED', 'aborted'));
      this.abort.signal.addEventListener('abort', onAbort, { once: true });
      set((v) => {
        clearTimeout(t);
        this.abort.signal.removeEventListener('abort', onAbort);
        resolve(v);
      });
    });
  }

  /** Send 20 ms PCMU frames on a steady clock until stopSending() (or `frames`). */
  startSending(plan: SendPlan = {}): void {
    if (!this.tx || this.sending) return;
    this.sending = true;
    const period = plan.periodFrames ?? 50;
    const phase = plan.phaseFrames ?? 0;
    const clock = new FrameClock(now(), FRAME_MS);
    const burstFrames = Math.ceil(this.shape.length / FRAME_SAMPLES);
    let k = 0;
    const pcm = new Int16Array(FRAME_SAMPLES);
    const tick = () => {
      if (!this.sending) return;
      const n = clock.due(now());
      for (let i = 0; i < n; i++) {
        if (plan.frames !== undefined && k >= plan.frames) {
          this.sending = false;
          return;
        }
        pcm.fill(0);
        const j = (k - phase) % period;
        if (k >= phase && j < burstFrames) {
          const part = this.shape.subarray(j * FRAME_SAMPLES, (j + 1) * FRAME_SAMPLES);
          pcm.set(part);
          if (j === 0) this.sent.push({ source: this.options.peerId, id: this.options.burstId, mouthMs: now() - FRAME_MS });
        }
        this.sendFrame(ulawEncodeFrame(pcm));
        k++;
      }
      this.timer = setTimeout(tick, Math.max(0, clock.nextDueMs() - now()));
    };
    tick();
  }

  stopSending(): void {
    this.sending = false;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One PCMU frame on the negotiated stream. */
  sendFrame(payload: Uint8Array, o: { payloadType?: number } = {}): void {
    if (!this.tx) return;
    const header = new RtpHeader({ payloadType: PCMU_PT, sequenceNumber: this.seq, timestamp: this.ts >>> 0, marker: this.packetsSent === 0 });
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + FRAME_SAMPLES) >>> 0;
    this.packetsSent++;
    this.payloadBytesSent += payload.length;
    const pkt = new RtpPacket(header, Buffer.from(payload.buffer, payload.byteOffset, payload.length));
    if (o.payloadType !== undefined) {
      // RTCRtpSender.sendRtp would put the negotiated payload type back: go one layer down.
      header.ssrc = this.tx.sender.ssrc;
      header.payloadType = o.payloadType;
      void this.tx.sender.dtlsTransport.sendRtp(pkt.payload, header);
      return;
    }
    this.tx.sender.sendRtp(pkt).catch(() => {});
  }

  /** Raw bytes on the ICE connection, unencrypted (what a broken or hostile endpoint could send). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    if (!this.tx) return Promise.resolve();
    return this.tx.sender.dtlsTransport.iceTransport.connection.send(Buffer.from(bytes)).catch(() => {});
  }

  /** Wire bytes of the transport (SRTP, SRTCP, DTLS/SCTP). */
  wireBytes(): { sent: number; received: number } {
    const d = this.tx?.sender.dtlsTransport;
    return d ? { sent: d.bytesSent, received: d.bytesReceived } : { sent: 0, received: 0 };
  }

  async stop(): Promise<void> {
    this.stopSending();
    this.abort.abort();
    try {
      await this.rtc?.close();
    } catch (err) {
      void toRtcprobeError(err);
    }
    await this.client?.close();
  }
}
