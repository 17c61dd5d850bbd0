/**
 * A selective forwarding unit on werift. It joins rooms of the signaling
 * relay as a peer whose meta says `role: "sfu"`; every client in such a room
 * offers to it (see MeshPeer) and it answers. Per participant it keeps one
 * RTCPeerConnection, forwards every publisher's RTP to every other
 * participant (SfuRouter decides to whom, with which SSRC and payload type),
 * fans data-channel messages out to the room, forwards sender reports to the
 * subscribers and NACK/PLI to the publisher, and counts and drops bad input.
 *
 * Sending is done on the subscriber's DTLS transport directly, packet by
 * packet, never awaited: one subscriber's socket cannot hold up the others.
 * A subscriber whose data channels stop draining (bufferedAmount over the
 * limit) gets nothing until they drain, and is removed when that lasts.
 */
import {
  type RTCDataChannel,
  GenericNack, PictureLossIndication, RtcpPayloadSpecificFeedback, RtcpSrPacket, RtcpTransportLayerFeedback,
  type RtcpPacket, type RtpPacket,
} from 'werift';
import { cpuUsage, resourceUsage } from 'node:process';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SignalClient } from '../signaling/client.js';
import { MetricsRegistry, type Histogram, type LabelledCounter } from '../signaling/metrics.js';
import { SfuRouter, mediaSections, routeDataMessage, RateLimit, rtcpProblem, rtpProblem } from '../sfu/index.js';
import { RtcPeer } from './peer.js';
import { isSdpSignal } from './connection.js';
import { growReceiveBuffers } from './sockets.js';
import { wrapChannel } from './datachannel.js';
import type { Pacer } from './channel.js';

import {
  EARLY_QUEUE_MESSAGES, FORWARD_BUCKETS, LABELS,
  type DropReason, type Label, type Participant, type ParticipantStats, type RemovalReason, type Room, type SfuEvent, type SfuServerOptions, type WeriftDtls,
} from './sfu-types.js';
export { DROP_REASONS, EARLY_QUEUE_MESSAGES, FORWARD_BUCKETS, type DropReason, type ParticipantStats, type RemovalReason, type SfuEvent, type SfuServerOptions } from './sfu-types.js';

/** Default pacing of the data channels towards a subscriber. */
const PACER = {};

export class SfuServer {
  readonly rooms = new Map<string, Room>();
  readonly metrics = new MetricsRegistry();
  private readonly all: ParticipantStats[] = [];
  private readonly dropped: LabelledCounter;
  private readonly removedTotal: LabelledCounter;
  private readonly rtcpForwarded: LabelledCounter;
  private readonly forwardTime: Histogram;
  readonly totals = { rtpIn: { packets: 0, bytes: 0 }, rtpOut: { packets: 0, bytes: 0 }, dcIn: { messages: 0, bytes: 0 }, dcOut: { messages: 0, bytes: 0 } };
  private stopped = false;
  private readonly pending = new Set<Promise<unknown>>();
  private readonly slowTimer: NodeJS.Timeout;
  readonly startedAt = Date.now();
  private readonly cpu0 = cpuUsage();
  /** Event-loop delay of this process: a stalled loop delays every packet. */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  /** Event-loop delay since the start, ms (p99 and max). */
  loopDelayMs(): { p99: number; max: number } {
    return { p99: this.loopDelay.percentile(99) / 1e6, max: this.loopDelay.max / 1e6 };
  }

  /** CPU time of this process since the server was created, and its peak RSS. */
  usage(): { cpuMs: number; maxRssBytes: number } {
    const c = cpuUsage(this.cpu0);
    return { cpuMs: (c.user + c.system) / 1000, maxRssBytes: resourceUsage().maxRSS * 1024 };
  }

  constructor(readonly options: SfuServerOptions) {
    const m = this.metrics;
    m.gauge('rtcprobe_sfu_rooms', 'Rooms this server has joined.', () => this.rooms.size);
    m.gauge('rtcprobe_sfu_participants', 'Participants with a connection (connecting or up).', () => this.participantCount());
    m.counterOf('rtcprobe_sfu_rtp_received_packets_total', 'RTP packets received from publishers.', () => this.totals.rtpIn.packets);
    m.counterOf('rtcprobe_sfu_rtp_received_bytes_total', 'RTP payload bytes received from publishers.', () => this.totals.rtpIn.bytes);
    m.counterOf('rtcprobe_sfu_rtp_forwarded_packets_total', 'RTP packets sent to subscribers (one per subscriber).', () => this.totals.rtpOut.packets);
    m.counterOf('rtcprobe_sfu_rtp_forwarded_bytes_total', 'RTP payload bytes sent to subscribers.', () => this.totals.rtpOut.bytes);
    m.counterOf('rtcprobe_sfu_dc_forwarded_messages_total', 'Data-channel messages sent to participants.', () => this.totals.dcOut.messages);
    m.counterOf('rtcprobe_sfu_dc_forwarded_bytes_total', 'Data-channel bytes sent to participants.', () => this.totals.dcOut.bytes);
    this.rtcpForwarded = m.labelledCounter('rtcprobe_sfu_rtcp_forwarded_total', 'RTCP packets forwarded, by type (sr to subscribers; nack, pli to the publisher).', 'type');
    this.dropped = m.labelledCounter('rtcprobe_sfu_dropped_total', 'Packets and messages counted and dropped, by reason.', 'reason');
    this.removedTotal = m.labelledCounter('rtcprobe_sfu_participants_removed_total', 'Participants removed from forwarding, by reason.', 'reason');
    this.forwardTime = m.histogram('rtcprobe_sfu_forward_seconds', 'Time from receiving an RTP packet (decrypted) to having sent it to every subscriber (encrypted, handed to the socket).', FORWARD_BUCKETS);
    m.gauge('rtcprobe_sfu_event_loop_delay_p99_seconds', 'p99 of the event-loop delay of the server process since it started.', () => this.loopDelay.percentile(99) / 1e9);
    this.loopDelay.enable();
    this.slowTimer = setInterval(() => this.checkSlow(), 250);
    this.slowTimer.unref();
    options.signal.addEventListener('abort', () => void this.stop(), { once: true });
  }

  private emit(e: SfuEvent): void {
    try {
      this.options.onEvent?.(e);
    } catch {
      // a listener's failure is not the server's
    }
  }

  participantCount(): number {
    let n = 0;
    for (const r of this.rooms.values()) n += r.people.size;
    return n;
  }

  /** Counters of the current participants and of the last 1000 removed ones. */
  participants(): ParticipantStats[] {
    return this.all.map((s) => ({ ...s, rtpIn: { ...s.rtpIn }, rtpOut: { ...s.rtpOut }, dcIn: { ...s.dcIn }, dcOut: { ...s.dcOut }, drops: { ...s.drops } }));
  }

  drops(): Record<string, number> {
    return { ...this.dropped.values };
  }

  removals(): Record<string, number> {
    return { ...this.removedTotal.values };
  }

  rtcp(): Record<string, number> {
    return { ...this.rtcpForwarded.values };
  }

  forwardHistogram(): { bounds: readonly number[]; counts: number[]; sum: number; count: number } {
    const h = this.forwardTime;
    return { bounds: h.bounds, counts: [...h.counts], sum: h.sum, count: h.count };
  }

  /** Join every room; rejects with the first join error. */
  async start(): Promise<void> {
    const o = this.options;
    for (const name of o.rooms) {
      const client = new SignalClient({
        url: o.url,
        room: name,
        reconnect: false,
        timeoutMs: o.timeoutMs ?? 10_000,
        signal: o.signal,
        meta: { role: 'sfu' },
        ...(o.token ? { token: o.token } : {}),
        ...(o.peerId ? { peerId: o.peerId } : {}),
      });
      const room: Room = { name, client, router: new SfuRouter(o.maxQueuedBytes ? { maxQueuedBytes: o.maxQueuedBytes } : {}), people: new Map(), nextSource: 1 };
      client.on('signal', ({ from, data }) => this.onSignal(room, from, data));
      client.on('peer-left', (p) => this.remove(room, p.peerId, 'left'));
      const joined = await client.connect();
      this.rooms.set(name, room);
      this.emit({ event: 'joined', room: name, peerId: joined.peerId });
    }
  }

  private onSignal(room: Room, from: string, data: unknown): void {
    if (this.stopped || !isSdpSignal(data) || data.type !== 'offer') return;
    // A new offer from a participant we have: it restarted; start over.
    if (room.people.has(from)) this.remove(room, from, 'left');
    const p = this.track(this.admit(room, from, data.sdp));
    void p;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => {});
    return p;
  }

  private async admit(room: Room, id: string, offer: string): Promise<void> {
    const o = this.options;
    const stats: ParticipantStats = {
      room: room.name, participant: id, source: room.nextSource++, state: 'connecting',
      rtpIn: { packets: 0, bytes: 0 }, rtpOut: { packets: 0, bytes: 0 }, dcIn: { messages: 0, bytes: 0 }, dcOut: { messages: 0, bytes: 0 }, drops: {},
    };
    this.all.push(stats);
    // A long-running server keeps the counters of the last 1000 removed participants, not of everyone ever.
    if (this.all.length > 1000 + this.participantCount()) {
      const i = this.all.findIndex((x) => x.state === 'removed');
      if (i >= 0) this.all.splice(i, 1);
    }
    const rate = o.maxBytesPerSecond ?? 1_000_000;
    const rtc = new RtcPeer({ iceServers: o.iceServers, ...(o.loopback ? { loopback: true } : {}), audio: 'pcmu', video: true });
    const p: Participant = {
      id, room, source: stats.source, rtc, limit: new RateLimit(rate, Math.max(rate / 2, 64_000)), stats, offs: [],
      pipes: {}, pacers: {}, early: { reliable: [], unreliable: [] },
    };
    room.people.set(id, p);
    // Listen on each channel from the moment it exists: a client sends as soon as its side is open.
    const dcSub = rtc.pc.onDataChannel.subscribe((dc) => this.adoptChannel(p, dc));
    p.offs.push(() => dcSub.unSubscribe());
    const w = { timeoutMs: o.timeoutMs ?? 20_000, signal: o.signal };
    try {
      const answer = await rtc.answer({ type: 'offer', sdp: offer }, w);
      if (room.people.get(id) !== p) return;
      // Every other participant's traffic leaves through this socket's peer, and all of its own comes in here.
      growReceiveBuffers(rtc.pc);
      this.register(p, offer, answer.sdp);
      room.client.signal(id, { rtcprobe: 'sdp', type: 'answer', sdp: answer.sdp });
      await rtc.connected(w);
      if (room.people.get(id) !== p) return;
      const dtls = (rtc.pc as unknown as { dtlsTransports: WeriftDtls[] }).dtlsTransports[0];
      if (!dtls) throw new RtcprobeError('INTERNAL', 'no DTLS transport after connecting');
      p.dtls = dtls;
      this.guardDecrypt(p, dtls);
      const rtpSub = dtls.onRtp.subscribe((pkt) => this.onRtp(p, pkt));
      const rtcpSub = dtls.onRtcp.subscribe((pkt) => this.onRtcp(p, pkt));
      p.offs.push(() => rtpSub.unSubscribe(), () => rtcpSub.unSubscribe());
      const stateSub = rtc.pc.connectionStateChange.subscribe((s) => {
        if (s === 'failed' || s === 'closed' || s === 'disconnected') this.remove(room, id, 'failed');
      });
      p.offs.push(() => stateSub.unSubscribe());
      await rtc.dataChannels(w);
      if (room.people.get(id) !== p) return;
      stats.state = 'up';
      this.emit({ event: 'participant-joined', room: room.name, participant: id });
    } catch (err) {
      if (room.people.get(id) !== p) return;
      const e = toRtcprobeError(err);
      if (!(e.code === 'ABORTED' && o.signal.aborted)) this.emit({ event: 'participant-failed', room: room.name, participant: id, code: e.code, message: e.message });
      this.remove(room, id, 'failed');
    }
  }

  /** A data channel the participant opened: forward what comes in on it, and once open what waited for it. */
  private adoptChannel(p: Participant, dc: RTCDataChannel): void {
    const label = LABELS[dc.label];
    if (!label || p.pipes[label]) return;
    const pipe = wrapChannel(dc);
    p.offs.push(pipe.onMessage((data) => this.onData(p, label, data)));
    const opened = () => {
      if (p.pipes[label] || p.room.people.get(p.id) !== p || this.stopped) return;
      p.pipes[label] = pipe;
      const pacer = p.rtc.pacer(pipe, PACER);
      p.pacers[label] = pacer;
      const waiting = p.early[label];
      p.early[label] = [];
      for (const msg of waiting) this.sendData(p, label, pacer, msg);
    };
    if (dc.readyState === 'open') opened();
    else {
      const sub = dc.stateChanged.subscribe((st) => {
        if (st === 'open') opened();
      });
      p.offs.push(() => sub.unSubscribe());
    }
  }

  /** The participant's tracks and payload types, from its offer (SSRCs) and our answer (what was negotiated). */
  private register(p: Participant, offer: string, answer: string): void {
    const offered = mediaSections(offer);
    const answered = mediaSections(answer);
    const payloadTypes: Record<string, number> = {};
    const local: number[] = [];
    answered.forEach((a, i) => {
      for (const pt of a.payloadTypes) {
        const c = a.codecs.get(pt);
        if (c && payloadTypes[c] === undefined) payloadTypes[c] = pt;
      }
      if (a.ssrc !== undefined) local.push(a.ssrc);
      const off = offered[i];
      if (off?.ssrc !== undefined) local.push(off.ssrc);
    });
    p.room.router.join(p.id, { payloadTypes, localSsrcs: local });
    answered.forEach((a, i) => {
      const off = offered[i];
      const pt = a.payloadTypes[0];
      if (!off || off.ssrc === undefined || pt === undefined || a.direction === 'inactive' || a.direction === 'sendonly') return;
      const codec = a.codecs.get(pt);
      if (!codec) return;
      try {
        p.room.router.publish(p.id, { trackId: off.mid ?? `${a.kind}${i}`, kind: a.kind, ssrc: off.ssrc, codec, payloadType: pt });
      } catch {
        // the same SSRC twice in one offer: the second m-line is not routed
      }
    });
  }

  /**
   * Check every decrypted RTP and RTCP packet before werift parses it: wrap
   * the session's SRTP/SRTCP decrypt. A malformed packet is counted and
   * replaced by an empty buffer, which werift drops (it would otherwise drop
   * some silently and pass others on half-parsed).
   */
  private guardDecrypt(p: Participant, dtls: WeriftDtls): void {
    const wrap = (s: { decrypt(b: Buffer): Buffer } | undefined, check: (b: Buffer) => string | undefined, reason: DropReason) => {
      if (!s) return;
      const decrypt = s.decrypt.bind(s);
      s.decrypt = (b: Buffer) => {
        const out = decrypt(b);
        if (check(out) === undefined) return out;
        this.drop(p, reason);
        return Buffer.alloc(0);
      };
    };
    wrap(dtls.srtp, rtpProblem, 'malformed_rtp');
    // Datagrams that are neither DTLS (first byte 20..63) nor RTP/RTCP version 2 (128..191): werift drops them unseen.
    const sub = dtls.iceTransport?.connection.onData.subscribe((d: Buffer) => {
      const b = d[0] ?? 0;
      if (!((b >= 20 && b <= 63) || (b >= 128 && b <= 191))) this.drop(p, 'malformed_rtp');
    });
    if (sub) p.offs.push(() => sub.unSubscribe());
    wrap(dtls.srtcp, rtcpProblem, 'malformed_rtcp');
  }

  private drop(p: Participant, reason: DropReason, n = 1): void {
    this.dropped.inc(reason, n);
    p.stats.drops[reason] = (p.stats.drops[reason] ?? 0) + n;
  }

  private onRtp(p: Participant, pkt: RtpPacket): void {
    const t0 = performance.now();
    const h = pkt.header;
    const bytes = pkt.payload.length;
    p.stats.rtpIn.packets++;
    p.stats.rtpIn.bytes += bytes;
    this.totals.rtpIn.packets++;
    this.totals.rtpIn.bytes += bytes;
    if (!p.limit.take(bytes + 12, performance.now())) {
      this.drop(p, 'over_rate');
      return;
    }
    const router = p.room.router;
    const skipped = router.stats.slowDrops;
    const targets = router.route({ from: p.id, ssrc: h.ssrc, payloadType: h.payloadType });
    // Subscribers marked slow are skipped: count it like their skipped data-channel messages.
    if (router.stats.slowDrops !== skipped) this.dropped.inc('slow_subscriber', router.stats.slowDrops - skipped);
    if (targets.length === 0) {
      // No target: an SSRC the participant did not announce, a payload type other than its track's, or nobody else in the room.
      const track = router.source(p.id, h.ssrc);
      if (!track) this.drop(p, 'unknown_ssrc');
      else if (track.payloadType !== h.payloadType) this.drop(p, 'unknown_pt');
      return;
    }
    const ssrc = h.ssrc;
    const pt = h.payloadType;
    for (const t of targets) {
      const sub = p.room.people.get(t.subscriber);
      if (!sub?.dtls || sub.dtls.state !== 'connected') continue;
      h.ssrc = t.ssrc;
      h.payloadType = t.payloadType;
      // werift encrypts (and serializes the header) synchronously; the socket send is not awaited. Its sendRtp
      // catches every error itself (it resolves 0): no catch handler, one promise less per forwarded packet.
      void sub.dtls.sendRtp(pkt.payload, h);
      sub.stats.rtpOut.packets++;
      sub.stats.rtpOut.bytes += bytes;
      this.totals.rtpOut.packets++;
      this.totals.rtpOut.bytes += bytes;
    }
    h.ssrc = ssrc;
    h.payloadType = pt;
    this.forwardTime.observe((performance.now() - t0) / 1000);
  }

  /** Feedback about a forwarded stream goes back to its publisher, about the publisher's own SSRC. */
  private toPublisher(p: Participant, ssrc: number, kind: 'nack' | 'pli', make: (publisherSsrc: number) => RtcpPacket): void {
    const src = p.room.router.feedback(p.id, ssrc);
    const pub = src && p.room.people.get(src.publisher);
    if (!src || !pub?.dtls) return;
    void pub.dtls.sendRtcp([make(src.ssrc)]).catch(() => {});
    this.rtcpForwarded.inc(kind);
  }

  private onRtcp(p: Participant, pkt: RtcpPacket): void {
    const router = p.room.router;
    if (pkt instanceof RtcpSrPacket) {
      for (const t of router.subscribersOf(p.id, pkt.ssrc)) {
        const sub = p.room.people.get(t.subscriber);
        if (!sub?.dtls || sub.dtls.state !== 'connected') continue;
        void sub.dtls.sendRtcp([new RtcpSrPacket({ ssrc: t.ssrc, senderInfo: pkt.senderInfo, reports: [] })]).catch(() => {});
        this.rtcpForwarded.inc('sr');
      }
      return;
    }
    if (pkt instanceof RtcpTransportLayerFeedback && pkt.feedback instanceof GenericNack) {
      const f = pkt.feedback;
      this.toPublisher(p, f.mediaSourceSsrc, 'nack', (ssrc) => new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: f.senderSsrc, mediaSourceSsrc: ssrc, lost: f.lost }) }));
    } else if (pkt instanceof RtcpPayloadSpecificFeedback && pkt.feedback instanceof PictureLossIndication) {
      const f = pkt.feedback;
      this.toPublisher(p, f.mediaSsrc, 'pli', (ssrc) => new RtcpPayloadSpecificFeedback({ feedback: new PictureLossIndication({ senderSsrc: f.senderSsrc, mediaSsrc: ssrc }) }));
    }
  }

  private onData(p: Participant, label: Label, data: Buffer): void {
    p.stats.dcIn.messages++;
    p.stats.dcIn.bytes += data.length;
    this.totals.dcIn.messages++;
    this.totals.dcIn.bytes += data.length;
    const msg = Buffer.from(data); // werift may reuse the buffer; the stream id is rewritten in place
    const route = routeDataMessage(msg, p.source);
    for (const sub of p.room.people.values()) {
      if (sub === p) continue;
      if (route.to === 'one' && sub.source !== route.source) continue;
      const pacer = sub.pacers[label];
      if (!pacer) {
        // Its channel is not open yet: hold the message, within a bound.
        const q = sub.early[label];
        if (q.length < (this.options.earlyQueueMessages ?? EARLY_QUEUE_MESSAGES)) q.push(msg);
        else this.drop(sub, 'not_open_overflow');
        continue;
      }
      if (!sub.pipes[label]?.isOpen) continue;
      this.sendData(sub, label, pacer, msg);
    }
  }

  private sendData(sub: Participant, label: Label, pacer: Pacer, msg: Buffer): void {
    const router = sub.room.router;
    if (!router.has(sub.id)) return;
    const change = router.setQueuedBytes(sub.id, queuedBytes(sub, msg.length));
    if (change?.change === 'slow') sub.slowSince = performance.now();
    else if (change?.change === 'resumed') sub.slowSince = undefined;
    if (router.isSlow(sub.id)) {
      this.drop(sub, 'slow_subscriber');
      return;
    }
    try {
      pacer.send(msg);
    } catch {
      return;
    }
    sub.stats.dcOut.messages++;
    sub.stats.dcOut.bytes += msg.length;
    this.totals.dcOut.messages++;
    this.totals.dcOut.bytes += msg.length;
  }

  /** Remove subscribers that have been slow for too long; re-check the queues of slow ones. */
  private checkSlow(): void {
    const limit = this.options.slowTimeoutMs ?? 5000;
    const now = performance.now();
    for (const room of this.rooms.values()) {
      for (const p of [...room.people.values()]) {
        if (p.slowSince === undefined) continue;
        const change = room.router.setQueuedBytes(p.id, queuedBytes(p, 200));
        if (change?.change === 'resumed') p.slowSince = undefined;
        else if (now - p.slowSince > limit) this.remove(room, p.id, 'slow');
      }
    }
  }

  /** Take a participant out of every route and close its connection. */
  remove(room: Room, id: string, reason: RemovalReason): void {
    const p = room.people.get(id);
    if (!p) return;
    room.people.delete(id);
    if (room.router.has(id)) room.router.leave(id);
    for (const off of p.offs) off();
    p.offs = [];
    p.stats.state = 'removed';
    p.stats.removedReason = reason;
    this.removedTotal.inc(reason);
    this.emit({ event: 'participant-removed', room: room.name, participant: id, reason });
    this.track(p.rtc.close());
  }

  /** Leave every room and close every connection. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.slowTimer);
    this.loopDelay.disable();
    for (const room of this.rooms.values()) for (const id of [...room.people.keys()]) this.remove(room, id, 'stopped');
    await Promise.allSettled([...this.pending]);
    await Promise.allSettled([...this.rooms.values()].map((r) => r.client.close()));
  }
}

/** Bytes waiting for a subscriber: inside werift, plus its pacers' queues (counted at `size` bytes a message). */
function queuedBytes(p: Participant, size: number): number {
  let n = 0;
  for (const l of ['reliable', 'unreliable'] as const) n += (p.pipes[l]?.bufferedAmount ?? 0) + (p.pacers[l]?.queued ?? 0) * size;
  return n;
}
