// Per-frame protocol handling: ping, join, leave, signal, broadcast, and events from other instances.
import { restCredentials } from '../ice/rest.js';
import type { IceServer } from '../ice/servers.js';
import { authorizeJoin } from './auth.js';
import type { Bus, BusEvent, PeerRecord } from './bus.js';
import type { RelayLimits } from './limits.js';
import { PROTOCOL_VERSION, type ClientMessage, type JoinMessage, type ServerMessage, type WireErrorCode } from './protocol.js';
import type { RelayMetrics } from './relay-metrics.js';
import type { Conn, RelayOptions } from './relay-types.js';
import { localConns, peerView, type Room, type RoomRegistry } from './rooms.js';

/** The relay state and actions the handlers use (SignalRelay builds one over itself). */
export interface RelayState {
  readonly instanceId: string;
  readonly bus: Bus;
  readonly rooms: RoomRegistry<Conn>;
  readonly metrics: RelayMetrics;
  readonly limits: RelayLimits;
  readonly opts: RelayOptions;
  draining(): boolean;
  send(conn: Conn, msg: ServerMessage | string): void;
  reject(conn: Conn, code: WireErrorCode, message?: string, ref?: string, strike?: boolean): void;
  armJoinTimer(conn: Conn): void;
  handleText(conn: Conn, text: string): void;
}

/** The room of a joined connection, or a NOT_JOINED answer for `ref`. */
export function joinedRoom(r: RelayState, conn: Conn, ref: string): Room<Conn> | undefined {
  const room = conn.room ? r.rooms.get(conn.room) : undefined;
  if (room && conn.peerId) return room;
  r.reject(conn, 'NOT_JOINED', undefined, ref);
  return undefined;
}

export function dispatch(r: RelayState, conn: Conn, msg: ClientMessage): void {
  switch (msg.type) {
    case 'ping':
      r.send(conn, { type: 'pong', ts: msg.ts, serverTs: Date.now() });
      return;
    case 'join':
      if (conn.room) {
        r.reject(conn, 'ALREADY_JOINED', `already in room "${conn.room}"`, 'join');
        return;
      }
      void join(r, conn, msg);
      return;
    case 'leave': {
      const room = conn.room;
      if (!room) {
        r.reject(conn, 'NOT_JOINED', undefined, 'leave');
        return;
      }
      void leave(r, conn);
      r.send(conn, { type: 'left', room });
      r.armJoinTimer(conn);
      return;
    }
    case 'signal': {
      const room = joinedRoom(r, conn, 'signal');
      if (!room) return;
      const from = conn.peerId!;
      if (msg.to === from) {
        r.reject(conn, 'SIGNAL_TO_SELF', `"${msg.to}" is this connection's own peerId: signal another peer`, 'signal');
        return;
      }
      const target = room.peers.get(msg.to);
      if (!target) {
        r.reject(conn, 'UNKNOWN_PEER', `no peer "${msg.to}" in the room`, 'signal');
        return;
      }
      const frame = `${conn.signalPrefix}${JSON.stringify(msg.data)}}`;
      if (target.conn) {
        r.metrics.relayed.inc('signal');
        r.send(target.conn, frame);
      } else {
        r.bus.sendTo(target.instance, { kind: 'signal', room: room.id, from, to: msg.to, frame, src: r.instanceId });
      }
      return;
    }
    case 'broadcast': {
      const room = joinedRoom(r, conn, 'broadcast');
      if (!room) return;
      const from = conn.peerId!;
      const frame = JSON.stringify({ type: 'broadcast', from, data: msg.data });
      deliverBroadcast(r, room, from, frame);
      if (r.bus.kind !== 'memory' && room.peers.size > room.local) {
        r.bus.publishRoom({ kind: 'broadcast', room: room.id, from, frame, src: r.instanceId });
      }
      return;
    }
  }
}

export function deliverBroadcast(r: RelayState, room: Room<Conn>, from: string, frame: string): void {
  for (const m of room.peers.values()) {
    if (!m.conn || m.peerId === from) continue;
    r.metrics.relayed.inc('broadcast');
    r.send(m.conn, frame);
  }
}

/** Send one text to every local peer of a room, but `except`. */
export function tellRoom(r: RelayState, room: Room<Conn>, text: string, except?: Conn): void {
  for (const c of localConns(room, except)) r.send(c, text);
}

export function iceServersFor(r: RelayState, peerId: string): IceServer[] | undefined {
  const list: IceServer[] = [...(r.opts.iceServers ?? [])];
  const turn = r.opts.turn;
  if (turn && turn.uris.length > 0) {
    // coturn REST API scheme: username `expiry:peerId`, password base64(HMAC-SHA1(secret, username)).
    const { username, password } = restCredentials(turn.secret, { user: peerId, ttl: turn.ttlSeconds, now: Date.now() });
    list.push({ urls: turn.uris, username, credential: password });
  }
  return list.length > 0 ? list : undefined;
}

export async function join(r: RelayState, conn: Conn, msg: JoinMessage): Promise<void> {
  const auth = authorizeJoin(msg, r.opts.secret);
  if (!auth.ok) {
    r.reject(conn, auth.code, auth.message, 'join');
    return;
  }
  const peerId = auth.peerId;
  if (r.rooms.get(msg.room)?.peers.has(peerId)) {
    r.reject(conn, 'PEER_ID_TAKEN', undefined, 'join', false);
    return;
  }
  conn.joining = true;
  const room = r.rooms.hold(msg.room);
  const record: PeerRecord = { peerId, instance: r.instanceId, joinedAt: Date.now(), ...(msg.meta ? { meta: msg.meta } : {}) };
  let outcome;
  try {
    room.watching ??= r.bus.watch(room.id);
    await room.watching;
    outcome = await r.bus.join(room.id, record, { maxPeersPerRoom: r.limits.maxPeersPerRoom, maxRooms: r.limits.maxRooms });
  } catch (err) {
    outcome = { ok: false as const, code: 'INTERNAL' as const, err };
  }
  conn.joining = false;
  if (!outcome.ok || conn.closing || r.draining()) {
    releaseRoom(r, room);
    if (outcome.ok) void r.bus.leave(room.id, peerId).catch(() => {});
    else r.reject(conn, outcome.code, outcome.code === 'INTERNAL' ? 'the presence store failed' : undefined, 'join', false);
    drainQueue(r, conn);
    return;
  }
  for (const p of outcome.peers) {
    if (!room.peers.has(p.peerId) && p.peerId !== peerId) room.peers.set(p.peerId, { ...p });
  }
  room.peers.set(peerId, { ...record, conn });
  conn.room = room.id;
  conn.peerId = peerId;
  conn.signalPrefix = `{"type":"signal","from":"${peerId}","data":`;
  clearTimeout(conn.joinTimer);
  const ice = iceServersFor(r, peerId);
  r.send(conn, {
    type: 'joined',
    v: PROTOCOL_VERSION,
    room: room.id,
    peerId,
    peers: [...room.peers.values()].filter((m) => m.peerId !== peerId).map(peerView),
    ...(ice ? { iceServers: ice } : {}),
  });
  tellRoom(r, room, JSON.stringify({ type: 'peer-joined', room: room.id, ...peerView(record) }), conn);
  if (r.bus.kind !== 'memory') r.bus.publishRoom({ kind: 'peer-joined', room: room.id, peer: record, src: r.instanceId });
  drainQueue(r, conn);
}

export function drainQueue(r: RelayState, conn: Conn): void {
  const q = conn.queue;
  conn.queue = [];
  for (const text of q) {
    if (conn.closing) return;
    if (conn.joining) {
      conn.queue.push(text);
      continue;
    }
    r.handleText(conn, text);
  }
}

export function releaseRoom(r: RelayState, room: Room<Conn>): void {
  if (r.rooms.release(room)) void r.bus.unwatch(room.id).catch(() => {});
}

/** Remove a connection's peer from its room, tell the room. Returns the bus promise. */
export function leave(r: RelayState, conn: Conn): Promise<void> {
  const roomId = conn.room;
  const peerId = conn.peerId;
  conn.room = undefined;
  conn.peerId = undefined;
  if (!roomId || !peerId) return Promise.resolve();
  const room = r.rooms.get(roomId);
  if (room) {
    room.peers.delete(peerId);
    tellRoom(r, room, JSON.stringify({ type: 'peer-left', room: roomId, peerId }));
    releaseRoom(r, room);
  }
  return r.bus.leave(roomId, peerId).catch(() => {});
}

export function onBusEvent(r: RelayState, e: BusEvent): void {
  if (e.src === r.instanceId && e.kind !== 'peer-left') return;
  const room = r.rooms.get(e.room);
  if (!room) return;
  switch (e.kind) {
    case 'peer-joined': {
      const known = room.peers.get(e.peer.peerId);
      if (known?.conn) return;
      room.peers.set(e.peer.peerId, { ...e.peer });
      if (known) return;
      tellRoom(r, room, JSON.stringify({ type: 'peer-joined', room: room.id, ...peerView(e.peer) }));
      return;
    }
    case 'peer-left': {
      const known = room.peers.get(e.peerId);
      if (!known || known.conn || known.instance !== e.src) return;
      room.peers.delete(e.peerId);
      tellRoom(r, room, JSON.stringify({ type: 'peer-left', room: room.id, peerId: e.peerId }));
      return;
    }
    case 'signal': {
      const target = room.peers.get(e.to);
      if (!target?.conn) return;
      r.metrics.relayed.inc('signal');
      r.send(target.conn, e.frame);
      return;
    }
    case 'broadcast':
      deliverBroadcast(r, room, e.from, e.frame);
      return;
  }
}
