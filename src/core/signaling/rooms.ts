/**
 * The rooms this instance has local peers in, each with its full roster:
 * local members (with their connection) and members on other instances (from
 * the bus). A room stays while `local` (local peers plus joins in progress)
 * is above zero. No I/O: the relay tells the bus what to watch.
 */
import type { PeerRecord } from './bus.js';
import type { PeerMeta } from './protocol.js';

/** A peer of a room; `conn` is set for a peer connected to this instance. */
export type Member<C> = PeerRecord & { conn?: C };

export interface Room<C> {
  id: string;
  peers: Map<string, Member<C>>;
  /** Local peers plus joins in progress: the room is watched while > 0. */
  local: number;
  watching?: Promise<void>;
}

export class RoomRegistry<C> {
  private readonly rooms = new Map<string, Room<C>>();

  get size(): number {
    return this.rooms.size;
  }

  get(id: string): Room<C> | undefined {
    return this.rooms.get(id);
  }

  /** The room, created when missing, with one more local hold on it. */
  hold(id: string): Room<C> {
    let room = this.rooms.get(id);
    if (!room) {
      room = { id, peers: new Map(), local: 0 };
      this.rooms.set(id, room);
    }
    room.local++;
    return room;
  }

  /** Drop one local hold; true when that removed the room (stop watching it then). */
  release(room: Room<C>): boolean {
    room.local--;
    if (room.local > 0 || this.rooms.get(room.id) !== room) return false;
    this.rooms.delete(room.id);
    return true;
  }

  /** Peers connected to this instance, over all rooms. */
  localPeers(): number {
    let n = 0;
    for (const r of this.rooms.values()) for (const m of r.peers.values()) if (m.conn) n++;
    return n;
  }
}

/** The local connections of a room, optionally but one. */
export function* localConns<C>(room: Room<C>, except?: C): Generator<C> {
  for (const m of room.peers.values()) if (m.conn && m.conn !== except) yield m.conn;
}

/** A peer's public view in `joined` and `peer-joined`: peerId, and meta when it has some. */
export function peerView(m: { peerId: string; meta?: PeerMeta }): { peerId: string; meta?: PeerMeta } {
  return { peerId: m.peerId, ...(m.meta ? { meta: m.meta } : {}) };
}
