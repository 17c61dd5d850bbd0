/**
 * The Bus connects relay instances: room presence (who is in which room, on
 * which instance) and the delivery of messages to peers served by another
 * instance. The relay keeps the roster of every room it has local peers in;
 * the bus tells it what happens on the other instances.
 *
 * MemoryBus serves a single instance (nothing crosses a process). RedisBus
 * (redis-bus.ts) shares presence through Redis with TTLs and carries
 * messages over pub/sub.
 */
import { isObject, jsonObject, validInstanceId, validMeta, validPeerId, type PeerMeta } from './protocol.js';

export interface PeerRecord {
  peerId: string;
  /** The relay instance holding this peer's connection. */
  instance: string;
  meta?: PeerMeta;
  /** Milliseconds since the epoch. */
  joinedAt: number;
}

/** What one instance tells the others. `src` is the instance the event is about. */
/**
 * A presence record read back from a store shared with others (Redis): the
 * record when every field is as this code writes it, undefined otherwise.
 */
export function peerRecordFrom(value: unknown): PeerRecord | undefined {
  if (!isObject(value)) return undefined;
  const { peerId, instance, joinedAt, meta } = value;
  if (!validPeerId(peerId) || !validInstanceId(instance)) return undefined;
  if (typeof joinedAt !== 'number' || !Number.isFinite(joinedAt) || joinedAt < 0) return undefined;
  if (meta !== undefined && !validMeta(meta)) return undefined;
  return { peerId, instance, joinedAt, ...(meta !== undefined ? { meta } : {}) };
}

/** The same from JSON text. */
export function parsePeerRecord(text: string): PeerRecord | undefined {
  return peerRecordFrom(jsonObject(text));
}

export type BusEvent =
  | { kind: 'peer-joined'; room: string; peer: PeerRecord; src: string }
  | { kind: 'peer-left'; room: string; peerId: string; src: string }
  /** `frame` is the exact text the receiving peer gets: rendered once, by the sender's instance. */
  | { kind: 'signal'; room: string; from: string; to: string; frame: string; src: string }
  | { kind: 'broadcast'; room: string; from: string; frame: string; src: string };

export type JoinOutcome =
  | { ok: true; peers: PeerRecord[] }
  | { ok: false; code: 'ROOM_FULL' | 'TOO_MANY_ROOMS' | 'PEER_ID_TAKEN' };

export interface RoomSummary {
  id: string;
  peers: number;
}

export interface BusStats {
  published: number;
  received: number;
  /** Records and events read back from the store that did not validate (skipped). */
  malformed: number;
}

export interface Bus {
  readonly kind: 'memory' | 'redis';
  readonly instanceId: string;
  start(): Promise<void>;
  /** Events from other instances (and peers of dead instances leaving). */
  onEvent(handler: (event: BusEvent) => void): void;
  /** Register presence atomically, within the limits. Returns the room's roster, the joiner included. */
  join(room: string, peer: PeerRecord, limits: { maxPeersPerRoom: number; maxRooms: number }): Promise<JoinOutcome>;
  /** Remove presence and tell the other instances. */
  leave(room: string, peerId: string): Promise<void>;
  /** Start receiving the events of a room (this instance has peers in it). */
  watch(room: string): Promise<void>;
  unwatch(room: string): Promise<void>;
  /** Publish an event to the other instances (peer-joined, broadcast). */
  publishRoom(event: BusEvent): void;
  /** Deliver a signal to the instance holding its target. */
  sendTo(instance: string, event: BusEvent): void;
  listRooms(limit: number): Promise<{ rooms: RoomSummary[]; total: number }>;
  getRoom(room: string): Promise<PeerRecord[] | undefined>;
  stats(): BusStats;
  close(): Promise<void>;
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private readonly rooms = new Map<string, Map<string, PeerRecord>>();

  constructor(readonly instanceId: string) {}

  async start(): Promise<void> {}
  onEvent(): void {}

  async join(room: string, peer: PeerRecord, limits: { maxPeersPerRoom: number; maxRooms: number }): Promise<JoinOutcome> {
    let r = this.rooms.get(room);
    if (r?.has(peer.peerId)) return { ok: false, code: 'PEER_ID_TAKEN' };
    if (r && r.size >= limits.maxPeersPerRoom) return { ok: false, code: 'ROOM_FULL' };
    if (!r) {
      if (this.rooms.size >= limits.maxRooms) return { ok: false, code: 'TOO_MANY_ROOMS' };
      r = new Map();
      this.rooms.set(room, r);
    }
    r.set(peer.peerId, peer);
    return { ok: true, peers: [...r.values()] };
  }

  async leave(room: string, peerId: string): Promise<void> {
    const r = this.rooms.get(room);
    if (!r) return;
    r.delete(peerId);
    if (r.size === 0) this.rooms.delete(room);
  }

  async watch(): Promise<void> {}
  async unwatch(): Promise<void> {}
  publishRoom(): void {}
  sendTo(): void {}

  async listRooms(limit: number): Promise<{ rooms: RoomSummary[]; total: number }> {
    const rooms: RoomSummary[] = [];
    for (const [id, r] of this.rooms) {
      if (rooms.length >= limit) break;
      rooms.push({ id, peers: r.size });
    }
    return { rooms, total: this.rooms.size };
  }

  async getRoom(room: string): Promise<PeerRecord[] | undefined> {
    const r = this.rooms.get(room);
    return r ? [...r.values()] : undefined;
  }

  stats(): BusStats {
    return { published: 0, received: 0, malformed: 0 };
  }

  async close(): Promise<void> {
    this.rooms.clear();
  }
}
