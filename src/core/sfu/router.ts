/**
 * The forwarding table of a selective forwarding unit, as a pure state
 * machine: who is in the room, which tracks each participant publishes, and
 * for an incoming RTP packet, to whom it goes with which SSRC and payload
 * type. Every participant receives every other participant's tracks.
 *
 * SSRC mapping. Each participant has its own peer connection with the SFU,
 * hence its own RTP session: an SSRC only has to be unique within that
 * session (RFC 3550 §8), not across the room. So a forwarded track keeps its
 * publisher's SSRC towards each subscriber — no rewriting of RTCP sender
 * reports, and the subscriber's stats name the SSRC the publisher chose. Two
 * publishers may pick the same random SSRC, though, or a publisher's SSRC may
 * equal one the subscriber itself sends (its own sending SSRCs live in the
 * same session): then that subscriber gets a fresh SSRC for the track, from
 * the allocator, unique in its session. The mapping of a track for a
 * subscriber never changes while both stay.
 *
 * Payload types are per session too (negotiated in each SDP): a packet's PT
 * is the publisher's PT of the track's codec, and goes out with the PT the
 * subscriber negotiated for that codec. A subscriber that did not negotiate
 * the codec does not get the track. Other PTs on the track's SSRC (RTX, RED)
 * are not routed.
 *
 * RTCP feedback (NACK, PLI, FIR) from a subscriber names the SSRC it sees;
 * `feedback()` maps it back to the publisher and the publisher's SSRC.
 *
 * A subscriber whose send queue grows beyond `maxQueuedBytes` is marked slow
 * and left out of routing (nobody else is affected) until its queue falls
 * below `resumeBelowBytes`; on resuming, its video tracks need a key frame,
 * so the publishers' SSRCs to send a PLI to are returned.
 */

export type TrackKind = 'audio' | 'video';

export interface TrackInfo {
  trackId: string;
  kind: TrackKind;
  /** The publisher's SSRC for this track (in the publisher's session). */
  ssrc: number;
  /** Codec name as in SDP rtpmap, e.g. "PCMU/8000", "VP8/90000" (compared case-insensitively). */
  codec: string;
  /** The publisher's payload type for the codec. */
  payloadType: number;
}

export interface JoinOptions {
  /** Codec (rtpmap name) → payload type negotiated with this participant as a subscriber. */
  payloadTypes: Record<string, number>;
  /** SSRCs this participant sends with (they share its session). */
  localSsrcs?: number[];
}

export interface RouteTarget {
  subscriber: string;
  ssrc: number;
  payloadType: number;
}

export interface PacketMeta {
  /** The participant whose connection the packet came in on. */
  from: string;
  ssrc: number;
  payloadType: number;
}

export interface Outbound {
  publisher: string;
  trackId: string;
  kind: TrackKind;
  /** SSRC as the subscriber sees it. */
  ssrc: number;
  /** The publisher's own SSRC. */
  sourceSsrc: number;
  payloadType: number;
}

export interface RouterOptions {
  /** Queued bytes beyond which a subscriber is slow (default 1 MiB). */
  maxQueuedBytes?: number;
  /** Queued bytes below which a slow subscriber resumes (default half the maximum). */
  resumeBelowBytes?: number;
  /** Source of candidate SSRCs when one collides (default: a seeded xorshift). */
  allocateSsrc?: () => number;
}

interface Participant {
  id: string;
  payloadTypes: Map<string, number>;
  localSsrcs: Set<number>;
  tracks: Map<string, TrackInfo>;
  /** Outbound mapping key `${publisher}\n${trackId}` → outbound. */
  outbound: Map<string, Outbound>;
  /** SSRC seen by this subscriber → outbound. */
  bySsrc: Map<number, Outbound>;
  queuedBytes: number;
  slow: boolean;
}

export interface RouterStats {
  routed: number;
  unroutable: number;
  slowDrops: number;
}

const key = (publisher: string, trackId: string): string => `${publisher}\n${trackId}`;

export class SfuRouter {
  private readonly people = new Map<string, Participant>();
  /** `${publisher}\n${ssrc}` → track. */
  private readonly bySource = new Map<string, { publisher: string; track: TrackInfo }>();
  private readonly maxQueued: number;
  private readonly resumeBelow: number;
  private readonly allocate: () => number;
  readonly stats: RouterStats = { routed: 0, unroutable: 0, slowDrops: 0 };

  constructor(o: RouterOptions = {}) {
    this.maxQueued = o.maxQueuedBytes ?? 1 << 20;
    this.resumeBelow = o.resumeBelowBytes ?? Math.floor(this.maxQueued / 2);
    let x = 0x9e3779b9;
    this.allocate = o.allocateSsrc ?? (() => {
      x ^= x << 13; x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5; x >>>= 0;
      return x;
    });
  }

  has(id: string): boolean {
    return this.people.has(id);
  }

  join(id: string, o: JoinOptions): void {
    if (this.people.has(id)) throw new Error(`participant ${id} already joined`);
    const p: Participant = {
      id,
      payloadTypes: new Map(Object.entries(o.payloadTypes).map(([c, pt]) => [c.toLowerCase(), pt])),
      localSsrcs: new Set(o.localSsrcs ?? []),
      tracks: new Map(),
      outbound: new Map(),
      bySsrc: new Map(),
      queuedBytes: 0,
      slow: false,
    };
    this.people.set(id, p);
    for (const other of this.people.values()) if (other !== p) for (const t of other.tracks.values()) this.subscribe(p, other.id, t);
  }

  /** Remove a participant: its tracks leave every route, its subscriptions go. Returns the outbounds removed from each other subscriber. */
  leave(id: string): Map<string, Outbound[]> {
    const p = this.people.get(id);
    const removed = new Map<string, Outbound[]>();
    if (!p) return removed;
    this.people.delete(id);
    for (const t of p.tracks.values()) this.bySource.delete(key(id, String(t.ssrc)));
    for (const sub of this.people.values()) {
      const gone: Outbound[] = [];
      for (const t of p.tracks.values()) {
        const ob = sub.outbound.get(key(id, t.trackId));
        if (!ob) continue;
        sub.outbound.delete(key(id, t.trackId));
        sub.bySsrc.delete(ob.ssrc);
        gone.push(ob);
      }
      if (gone.length) removed.set(sub.id, gone);
    }
    return removed;
  }

  publish(id: string, track: TrackInfo): void {
    const p = this.need(id);
    if (p.tracks.has(track.trackId)) throw new Error(`track ${track.trackId} of ${id} already published`);
    if (this.bySource.has(key(id, String(track.ssrc)))) throw new Error(`SSRC ${track.ssrc} already used by ${id}`);
    const t = { ...track, ssrc: track.ssrc >>> 0, codec: track.codec.toLowerCase() };
    p.tracks.set(t.trackId, t);
    this.bySource.set(key(id, String(t.ssrc)), { publisher: id, track: t });
    for (const sub of this.people.values()) if (sub !== p) this.subscribe(sub, id, t);
  }

  unpublish(id: string, trackId: string): void {
    const p = this.need(id);
    const t = p.tracks.get(trackId);
    if (!t) return;
    p.tracks.delete(trackId);
    this.bySource.delete(key(id, String(t.ssrc)));
    for (const sub of this.people.values()) {
      const ob = sub.outbound.get(key(id, trackId));
      if (!ob) continue;
      sub.outbound.delete(key(id, trackId));
      sub.bySsrc.delete(ob.ssrc);
    }
  }

  private need(id: string): Participant {
    const p = this.people.get(id);
    if (!p) throw new Error(`unknown participant ${id}`);
    return p;
  }

  private subscribe(sub: Participant, publisher: string, t: TrackInfo): void {
    const pt = sub.payloadTypes.get(t.codec);
    if (pt === undefined) return;
    const taken = (s: number) => sub.bySsrc.has(s) || sub.localSsrcs.has(s) || s === 0;
    let ssrc = t.ssrc;
    for (let tries = 0; taken(ssrc); tries++) {
      if (tries > 1000) throw new Error('no free SSRC found');
      ssrc = this.allocate() >>> 0;
    }
    const ob: Outbound = { publisher, trackId: t.trackId, kind: t.kind, ssrc, sourceSsrc: t.ssrc, payloadType: pt };
    sub.outbound.set(key(publisher, t.trackId), ob);
    sub.bySsrc.set(ssrc, ob);
  }

  /** Where a packet goes: one target per subscriber that is not slow and negotiated the codec. */
  route(m: PacketMeta): RouteTarget[] {
    const src = this.bySource.get(key(m.from, String(m.ssrc >>> 0)));
    if (!src || src.track.payloadType !== m.payloadType) {
      this.stats.unroutable++;
      return [];
    }
    const out: RouteTarget[] = [];
    const k = key(src.publisher, src.track.trackId);
    for (const sub of this.people.values()) {
      const ob = sub.outbound.get(k);
      if (!ob) continue;
      if (sub.slow) {
        this.stats.slowDrops++;
        continue;
      }
      out.push({ subscriber: sub.id, ssrc: ob.ssrc, payloadType: ob.payloadType });
    }
    this.stats.routed += out.length;
    return out;
  }

  /** Every subscriber of a publisher's SSRC (slow ones too), with the SSRC it sees: where that source's sender reports go. */
  subscribersOf(publisher: string, ssrc: number): { subscriber: string; ssrc: number }[] {
    const src = this.bySource.get(key(publisher, String(ssrc >>> 0)));
    if (!src) return [];
    const k = key(src.publisher, src.track.trackId);
    const out: { subscriber: string; ssrc: number }[] = [];
    for (const sub of this.people.values()) {
      const ob = sub.outbound.get(k);
      if (ob) out.push({ subscriber: sub.id, ssrc: ob.ssrc });
    }
    return out;
  }

  /** The publisher's track with this SSRC, if any (to tell an unknown SSRC from an unknown payload type). */
  source(publisher: string, ssrc: number): TrackInfo | undefined {
    return this.bySource.get(key(publisher, String(ssrc >>> 0)))?.track;
  }

  /** Map the media SSRC of a subscriber's RTCP feedback (NACK, PLI, FIR) back to the publisher. */
  feedback(subscriber: string, mediaSsrc: number): { publisher: string; ssrc: number } | undefined {
    const ob = this.people.get(subscriber)?.bySsrc.get(mediaSsrc >>> 0);
    return ob ? { publisher: ob.publisher, ssrc: ob.sourceSsrc } : undefined;
  }

  /** What a subscriber receives, for its SDP/transceivers. */
  outbound(subscriber: string): Outbound[] {
    return [...(this.people.get(subscriber)?.outbound.values() ?? [])];
  }

  isSlow(subscriber: string): boolean {
    return this.people.get(subscriber)?.slow ?? false;
  }

  /**
   * Report a subscriber's queued bytes. Returns 'slow' when it just became
   * slow, 'resumed' with the PLI targets (its video sources) when it just
   * recovered, otherwise undefined.
   */
  setQueuedBytes(subscriber: string, bytes: number): { change: 'slow' } | { change: 'resumed'; pli: { publisher: string; ssrc: number }[] } | undefined {
    const p = this.need(subscriber);
    p.queuedBytes = bytes;
    if (!p.slow && bytes > this.maxQueued) {
      p.slow = true;
      return { change: 'slow' };
    }
    if (p.slow && bytes < this.resumeBelow) {
      p.slow = false;
      const pli = [...p.outbound.values()].filter((o) => o.kind === 'video').map((o) => ({ publisher: o.publisher, ssrc: o.sourceSsrc }));
      return { change: 'resumed', pli };
    }
    return undefined;
  }
}
