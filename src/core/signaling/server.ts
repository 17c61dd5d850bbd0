/**
 * The signaling relay: a channel server (WebSocket, `ws`) that relays
 * messages between the peers of a room, and a session server (HTTP) that
 * shows rooms, peers, health and Prometheus metrics. Both roles share one
 * port unless `httpPort` asks for a separate HTTP listener.
 *
 * This file wires the pieces together and owns the protocol: frames in,
 * joins, relaying, leaves. The pieces: limits.ts (rate and strikes), auth.ts
 * (join tokens, Origin, admin token), rooms.ts (rosters), outbox.ts (writes
 * at the end of the turn), http.ts (router), metrics.ts (Prometheus),
 * lifecycle.ts (listeners, heartbeat, drain), bus.ts/redis-bus.ts (instances).
 *
 * Every limit is an option with a default (DEFAULT_LIMITS). Bad input never
 * throws out of a handler: it is answered with an `error` message carrying a
 * wire code, counted, and a connection that keeps misbehaving is closed with
 * a WebSocket close code (1008 policy, 1009 too big, 1013 try again later).
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { restCredentials } from '../ice/rest.js';
import type { IceServer } from '../ice/servers.js';
import { AdminToken, OriginAllowlist, authorizeJoin } from './auth.js';
import { MemoryBus, type Bus, type BusEvent, type PeerRecord } from './bus.js';
import { HttpRouter } from './http.js';
import { Listeners, closeSocket, drain, refuseUpgrade, startHeartbeat, type Addresses } from './lifecycle.js';
import { DEFAULT_LIMITS, StrikeCounter, TokenBucket, type RelayLimits } from './limits.js';
import { MetricsRegistry } from './metrics.js';
import { Outbox } from './outbox.js';
import {
  CLOSE,
  PROTOCOL_VERSION,
  errorMessage,
  parseClientFrame,
  validInstanceId,
  type ClientMessage,
  type JoinMessage,
  type ServerMessage,
  type WireErrorCode,
} from './protocol.js';
import { RoomRegistry, localConns, peerView, type Room } from './rooms.js';

export interface TurnConfig {
  uris: string[];
  secret: string;
  ttlSeconds: number;
}

export interface RelayOptions {
  port?: number;
  host?: string;
  /** Serve the HTTP session endpoints on their own port (0 = any); default: the channel port. */
  httpPort?: number;
  /** Address of that separate HTTP listener; default: `host`. Only with `httpPort`. */
  httpHost?: string;
  /**
   * Bearer token for the admin endpoints (/rooms, /rooms/:id, /metrics). Without
   * one, /rooms* is refused when `secret` is set and open otherwise; /metrics is open.
   */
  adminToken?: string;
  /** PEM certificate chain and key: the relay then serves wss:// and https://. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  limits?: Partial<RelayLimits>;
  /** HS256 secret: when set, join requires a token. */
  secret?: string;
  /** Allowed Origin values of the WebSocket upgrade; when set, others (and none) are refused. */
  origins?: string[];
  turn?: TurnConfig;
  /** Extra ICE servers handed out in `joined` as they are (e.g. STUN). */
  iceServers?: IceServer[];
  instanceId?: string;
  bus?: Bus;
  /** Monotonic clock for the rate and strike limits, ms; default `performance.now`. */
  clock?: () => number;
}

export type RelayAddresses = Addresses;

interface Conn {
  id: number;
  ws: WebSocket;
  room?: string;
  peerId?: string;
  /** '{"type":"signal","from":"<peerId>","data":' (peerIds never need JSON escaping). */
  signalPrefix?: string;
  joining: boolean;
  queue: string[];
  bucket: TokenBucket;
  strikes: StrikeCounter;
  alive: boolean;
  closing: boolean;
  joinTimer?: NodeJS.Timeout;
}

export interface RelayCounters {
  readonly connectionsTotal: number;
  readonly received: Record<string, number>;
  readonly relayed: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly closes: Record<string, number>;
  readonly terminatedDead: number;
}

export interface ShutdownReport {
  reason: string;
  peersNotified: number;
  forced: number;
}

/** The relay's Prometheus metrics; `counters` is the same figures as plain numbers. */
function relayMetrics(relay: SignalRelay, rooms: RoomRegistry<Conn>, conns: Set<Conn>) {
  const reg = new MetricsRegistry({ instance_id: relay.instanceId });
  reg.gauge('rtcprobe_signal_connections', 'Open WebSocket connections.', () => conns.size);
  const connectionsTotal = reg.counter('rtcprobe_signal_connections_total', 'WebSocket connections accepted.');
  reg.gauge('rtcprobe_signal_rooms', 'Rooms with at least one peer on this instance.', () => rooms.size);
  reg.gauge('rtcprobe_signal_peers', 'Joined peers on this instance.', () => rooms.localPeers());
  const received = reg.labelledCounter('rtcprobe_signal_messages_received_total', 'Valid client messages, by type.', 'type');
  const relayed = reg.labelledCounter('rtcprobe_signal_messages_relayed_total', 'Messages delivered to a peer on this instance, by type.', 'type');
  const errors = reg.labelledCounter('rtcprobe_signal_errors_total', 'Error answers and refused inputs, by wire code.', 'code');
  const closes = reg.labelledCounter('rtcprobe_signal_closes_total', 'Connections closed by the relay, by WebSocket close code.', 'code');
  const dead = reg.counter('rtcprobe_signal_dead_terminated_total', 'Connections terminated for missing heartbeats.');
  reg.counterOf('rtcprobe_signal_bus_published_total', 'Events published to other instances.', () => relay.bus.stats().published);
  reg.counterOf('rtcprobe_signal_bus_received_total', 'Events received from other instances.', () => relay.bus.stats().received);
  reg.counterOf('rtcprobe_signal_bus_malformed_total', 'Presence records and events read back from the bus that did not validate (skipped).', () => relay.bus.stats().malformed);
  const counters: RelayCounters = {
    get connectionsTotal() { return connectionsTotal.value; },
    received: received.values,
    relayed: relayed.values,
    errors: errors.values,
    closes: closes.values,
    get terminatedDead() { return dead.value; },
  };
  return { reg, connectionsTotal, received, relayed, errors, closes, dead, counters };
}

export class SignalRelay {
  readonly limits: RelayLimits;
  readonly instanceId: string;
  readonly bus: Bus;
  readonly counters: RelayCounters;
  private readonly opts: RelayOptions;
  private readonly now: () => number;
  private readonly origins?: OriginAllowlist;
  private readonly wss: WebSocketServer;
  private readonly router: HttpRouter;
  private readonly metrics: ReturnType<typeof relayMetrics>;
  private readonly outbox: Outbox<Conn>;
  private readonly conns = new Set<Conn>();
  private readonly rooms = new RoomRegistry<Conn>();
  private listeners?: Listeners;
  private stopHeartbeat?: () => void;
  private nextId = 1;
  private draining = false;
  private closed?: Promise<ShutdownReport>;
  private startedAt = Date.now();

  constructor(opts: RelayOptions = {}) {
    this.opts = opts;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.now = opts.clock ?? (() => performance.now());
    this.instanceId = opts.instanceId ?? opts.bus?.instanceId ?? `relay-${randomBytes(4).toString('hex')}`;
    if (!validInstanceId(this.instanceId)) throw new RtcprobeError('USAGE', 'the instance id must be 1..64 characters of A-Z a-z 0-9 _ . -');
    this.bus = opts.bus ?? new MemoryBus(this.instanceId);
    if (opts.httpHost !== undefined && opts.httpPort === undefined) throw new RtcprobeError('USAGE', 'an HTTP host needs a separate HTTP port');
    const admin = opts.adminToken !== undefined ? new AdminToken(opts.adminToken) : undefined;
    if (opts.origins && opts.origins.length > 0) this.origins = new OriginAllowlist(opts.origins);
    this.metrics = relayMetrics(this, this.rooms, this.conns);
    this.counters = this.metrics.counters;
    this.outbox = new Outbox<Conn>(this.limits.maxBufferedBytes, (conn) => this.closeConn(conn, CLOSE.TRY_AGAIN_LATER, 'client too slow'));
    this.router = this.sessionRoutes(admin);
    this.wss = new WebSocketServer({
      noServer: true,
      // Frames a little over the limit are read and answered with TOO_LARGE;
      // far larger ones are cut by ws itself (close 1009) without buffering them.
      maxPayload: Math.max(this.limits.maxMessageBytes * 2, this.limits.maxMessageBytes + 16 * 1024),
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.bus.onEvent((e) => this.onBusEvent(e));
  }

  /** Start the bus and the listeners. Resolves once accepting connections. */
  async listen(): Promise<RelayAddresses> {
    await this.bus.start();
    this.listeners = await Listeners.open({
      host: this.opts.host ?? '127.0.0.1',
      port: this.opts.port ?? 0,
      ...(this.opts.httpPort !== undefined ? { httpPort: this.opts.httpPort } : {}),
      ...(this.opts.httpHost !== undefined ? { httpHost: this.opts.httpHost } : {}),
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
      onRequest: (req, res, full) => this.router.handle(req, res, full),
      onUpgrade: (req, socket, head) => this.onUpgrade(req, socket, head),
    });
    this.startedAt = Date.now();
    this.stopHeartbeat = startHeartbeat(this.limits.heartbeatMs, () => this.conns, () => this.metrics.dead.inc());
    return this.listeners.addresses;
  }

  get addresses(): RelayAddresses | undefined {
    return this.listeners?.addresses;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  // ---------------------------------------------------------------- sending and closing

  private send(conn: Conn, msg: ServerMessage | string): void {
    this.outbox.send(conn, typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Answer a bad input with an error; close the connection after too many. */
  private reject(conn: Conn, code: WireErrorCode, message?: string, ref?: string, strike = true): void {
    this.metrics.errors.inc(code);
    this.send(conn, errorMessage(code, message, ref));
    if (strike && conn.strikes.strike(this.now())) this.closeConn(conn, CLOSE.POLICY, 'too many protocol errors');
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.closing) return;
    this.outbox.flush(conn);
    conn.closing = true;
    this.metrics.closes.inc(String(code));
    closeSocket(conn.ws, code, reason);
  }

  // ---------------------------------------------------------------- upgrade

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    if (this.draining) {
      refuseUpgrade(socket, '503 Service Unavailable');
      return;
    }
    if (this.origins && !this.origins.allows(req.headers.origin)) {
      this.metrics.errors.inc('ORIGIN_FORBIDDEN');
      refuseUpgrade(socket, '403 Forbidden', { type: 'application/json', text: JSON.stringify(errorMessage('ORIGIN_FORBIDDEN')) });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  private onConnection(ws: WebSocket): void {
    const conn: Conn = {
      id: this.nextId++,
      ws,
      joining: false,
      queue: [],
      bucket: new TokenBucket(this.limits.messagesPerSecond, this.limits.messageBurst, this.now()),
      strikes: new StrikeCounter(this.limits.maxStrikes),
      alive: true,
      closing: false,
    };
    this.metrics.connectionsTotal.inc();
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection itself (1009 for oversize, 1002/1007 for bad frames).
      this.metrics.errors.inc(err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'TOO_LARGE' : 'BAD_FRAME');
    });
    ws.on('close', () => this.onClose(conn));
    if (this.draining) {
      this.send(conn, errorMessage('SHUTTING_DOWN'));
      this.closeConn(conn, CLOSE.GOING_AWAY, 'shutting down');
      return;
    }
    this.conns.add(conn);
    if (this.conns.size > this.limits.maxConnections) {
      this.metrics.errors.inc('SERVER_FULL');
      this.send(conn, errorMessage('SERVER_FULL'));
      this.closeConn(conn, CLOSE.TRY_AGAIN_LATER, 'server full');
      return;
    }
    ws.on('pong', () => { conn.alive = true; });
    ws.on('message', (data, isBinary) => {
      try {
        this.onFrame(conn, data, isBinary);
      } catch (err) {
        this.reject(conn, 'INTERNAL', toRtcprobeError(err).message.slice(0, 100), undefined, false);
      }
    });
    this.armJoinTimer(conn);
  }

  private armJoinTimer(conn: Conn): void {
    clearTimeout(conn.joinTimer);
    conn.joinTimer = setTimeout(() => {
      if (conn.room || conn.joining || conn.closing) return;
      this.reject(conn, 'JOIN_TIMEOUT', undefined, undefined, false);
      this.closeConn(conn, CLOSE.POLICY, 'join timeout');
    }, this.limits.joinTimeoutMs);
    conn.joinTimer.unref();
  }

  // ---------------------------------------------------------------- frames

  private onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.closing) return;
    conn.alive = true;
    // Every frame costs one token, valid or not.
    if (!conn.bucket.take(this.now())) {
      this.reject(conn, 'RATE_LIMITED', `more than ${this.limits.messagesPerSecond} messages per second`);
      return;
    }
    const size = Buffer.isBuffer(data) ? data.length : Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data.byteLength;
    if (size > this.limits.maxMessageBytes) {
      this.reject(conn, 'TOO_LARGE', `frames are limited to ${this.limits.maxMessageBytes} bytes`, undefined, false);
      this.closeConn(conn, CLOSE.TOO_BIG, 'message too big');
      return;
    }
    if (isBinary) {
      this.reject(conn, 'BAD_FRAME');
      return;
    }
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    if (conn.joining) {
      // Messages sent right after join wait for the join to complete.
      if (conn.queue.length >= 64) this.reject(conn, 'RATE_LIMITED', 'too many messages while joining');
      else conn.queue.push(text);
      return;
    }
    this.handleText(conn, text);
  }

  private handleText(conn: Conn, text: string): void {
    const parsed = parseClientFrame(text);
    if (!parsed.ok) {
      this.reject(conn, parsed.code, parsed.message, parsed.ref);
      return;
    }
    const msg = parsed.msg;
    this.metrics.received.inc(msg.type);
    try {
      this.dispatch(conn, msg);
    } catch (err) {
      // Relaying re-serialises `data`: absurd nesting overflows the stack there.
      if (err instanceof RangeError) this.reject(conn, 'BAD_FIELD', '"data" is nested too deeply', msg.type);
      else this.reject(conn, 'INTERNAL', toRtcprobeError(err).message.slice(0, 100), msg.type, false);
    }
  }

  /** The room of a joined connection, or a NOT_JOINED answer for `ref`. */
  private joinedRoom(conn: Conn, ref: string): Room<Conn> | undefined {
    const room = conn.room ? this.rooms.get(conn.room) : undefined;
    if (room && conn.peerId) return room;
    this.reject(conn, 'NOT_JOINED', undefined, ref);
    return undefined;
  }

  private dispatch(conn: Conn, msg: ClientMessage): void {
    switch (msg.type) {
      case 'ping':
        this.send(conn, { type: 'pong', ts: msg.ts, serverTs: Date.now() });
        return;
      case 'join':
        if (conn.room) {
          this.reject(conn, 'ALREADY_JOINED', `already in room "${conn.room}"`, 'join');
          return;
        }
        void this.join(conn, msg);
        return;
      case 'leave': {
        const room = conn.room;
        if (!room) {
          this.reject(conn, 'NOT_JOINED', undefined, 'leave');
          return;
        }
        void this.leave(conn);
        this.send(conn, { type: 'left', room });
        this.armJoinTimer(conn);
        return;
      }
      case 'signal': {
        const room = this.joinedRoom(conn, 'signal');
        if (!room) return;
        const from = conn.peerId!;
        if (msg.to === from) {
          this.reject(conn, 'SIGNAL_TO_SELF', `"${msg.to}" is this connection's own peerId: signal another peer`, 'signal');
          return;
        }
        const target = room.peers.get(msg.to);
        if (!target) {
          this.reject(conn, 'UNKNOWN_PEER', `no peer "${msg.to}" in the room`, 'signal');
          return;
        }
        const frame = `${conn.signalPrefix}${JSON.stringify(msg.data)}}`;
        if (target.conn) {
          this.metrics.relayed.inc('signal');
          this.send(target.conn, frame);
        } else {
          this.bus.sendTo(target.instance, { kind: 'signal', room: room.id, from, to: msg.to, frame, src: this.instanceId });
        }
        return;
      }
      case 'broadcast': {
        const room = this.joinedRoom(conn, 'broadcast');
        if (!room) return;
        const from = conn.peerId!;
        const frame = JSON.stringify({ type: 'broadcast', from, data: msg.data });
        this.deliverBroadcast(room, from, frame);
        if (this.bus.kind !== 'memory' && room.peers.size > room.local) {
          this.bus.publishRoom({ kind: 'broadcast', room: room.id, from, frame, src: this.instanceId });
        }
        return;
      }
    }
  }

  private deliverBroadcast(room: Room<Conn>, from: string, frame: string): void {
    for (const m of room.peers.values()) {
      if (!m.conn || m.peerId === from) continue;
      this.metrics.relayed.inc('broadcast');
      this.send(m.conn, frame);
    }
  }

  /** Send one text to every local peer of a room, but `except`. */
  private tellRoom(room: Room<Conn>, text: string, except?: Conn): void {
    for (const c of localConns(room, except)) this.send(c, text);
  }

  // ---------------------------------------------------------------- rooms

  private iceServersFor(peerId: string): IceServer[] | undefined {
    const list: IceServer[] = [...(this.opts.iceServers ?? [])];
    const turn = this.opts.turn;
    if (turn && turn.uris.length > 0) {
      // coturn REST API scheme: username `expiry:peerId`, password base64(HMAC-SHA1(secret, username)).
      const { username, password } = restCredentials(turn.secret, { user: peerId, ttl: turn.ttlSeconds, now: Date.now() });
      list.push({ urls: turn.uris, username, credential: password });
    }
    return list.length > 0 ? list : undefined;
  }

  private async join(conn: Conn, msg: JoinMessage): Promise<void> {
    const auth = authorizeJoin(msg, this.opts.secret);
    if (!auth.ok) {
      this.reject(conn, auth.code, auth.message, 'join');
      return;
    }
    const peerId = auth.peerId;
    if (this.rooms.get(msg.room)?.peers.has(peerId)) {
      this.reject(conn, 'PEER_ID_TAKEN', undefined, 'join', false);
      return;
    }
    conn.joining = true;
    const room = this.rooms.hold(msg.room);
    const record: PeerRecord = { peerId, instance: this.instanceId, joinedAt: Date.now(), ...(msg.meta ? { meta: msg.meta } : {}) };
    let outcome;
    try {
      room.watching ??= this.bus.watch(room.id);
      await room.watching;
      outcome = await this.bus.join(room.id, record, { maxPeersPerRoom: this.limits.maxPeersPerRoom, maxRooms: this.limits.maxRooms });
    } catch (err) {
      outcome = { ok: false as const, code: 'INTERNAL' as const, err };
    }
    conn.joining = false;
    if (!outcome.ok || conn.closing || this.draining) {
      this.releaseRoom(room);
      if (outcome.ok) void this.bus.leave(room.id, peerId).catch(() => {});
      else this.reject(conn, outcome.code, outcome.code === 'INTERNAL' ? 'the presence store failed' : undefined, 'join', false);
      this.drainQueue(conn);
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
    const ice = this.iceServersFor(peerId);
    this.send(conn, {
      type: 'joined',
      v: PROTOCOL_VERSION,
      room: room.id,
      peerId,
      peers: [...room.peers.values()].filter((m) => m.peerId !== peerId).map(peerView),
      ...(ice ? { iceServers: ice } : {}),
    });
    this.tellRoom(room, JSON.stringify({ type: 'peer-joined', room: room.id, ...peerView(record) }), conn);
    if (this.bus.kind !== 'memory') this.bus.publishRoom({ kind: 'peer-joined', room: room.id, peer: record, src: this.instanceId });
    this.drainQueue(conn);
  }

  private drainQueue(conn: Conn): void {
    const q = conn.queue;
    conn.queue = [];
    for (const text of q) {
      if (conn.closing) return;
      if (conn.joining) {
        conn.queue.push(text);
        continue;
      }
      this.handleText(conn, text);
    }
  }

  private releaseRoom(room: Room<Conn>): void {
    if (this.rooms.release(room)) void this.bus.unwatch(room.id).catch(() => {});
  }

  /** Remove a connection's peer from its room, tell the room. Returns the bus promise. */
  private leave(conn: Conn): Promise<void> {
    const roomId = conn.room;
    const peerId = conn.peerId;
    conn.room = undefined;
    conn.peerId = undefined;
    if (!roomId || !peerId) return Promise.resolve();
    const room = this.rooms.get(roomId);
    if (room) {
      room.peers.delete(peerId);
      this.tellRoom(room, JSON.stringify({ type: 'peer-left', room: roomId, peerId }));
      this.releaseRoom(room);
    }
    return this.bus.leave(roomId, peerId).catch(() => {});
  }

  private onClose(conn: Conn): void {
    clearTimeout(conn.joinTimer);
    conn.closing = true;
    if (!this.conns.delete(conn)) return;
    void this.leave(conn);
  }

  private onBusEvent(e: BusEvent): void {
    if (e.src === this.instanceId && e.kind !== 'peer-left') return;
    const room = this.rooms.get(e.room);
    if (!room) return;
    switch (e.kind) {
      case 'peer-joined': {
        const known = room.peers.get(e.peer.peerId);
        if (known?.conn) return;
        room.peers.set(e.peer.peerId, { ...e.peer });
        if (known) return;
        this.tellRoom(room, JSON.stringify({ type: 'peer-joined', room: room.id, ...peerView(e.peer) }));
        return;
      }
      case 'peer-left': {
        const known = room.peers.get(e.peerId);
        if (!known || known.conn || known.instance !== e.src) return;
        room.peers.delete(e.peerId);
        this.tellRoom(room, JSON.stringify({ type: 'peer-left', room: room.id, peerId: e.peerId }));
        return;
      }
      case 'signal': {
        const target = room.peers.get(e.to);
        if (!target?.conn) return;
        this.metrics.relayed.inc('signal');
        this.send(target.conn, e.frame);
        return;
      }
      case 'broadcast':
        this.deliverBroadcast(room, e.from, e.frame);
        return;
    }
  }

  // ---------------------------------------------------------------- HTTP

  private sessionRoutes(admin: AdminToken | undefined): HttpRouter {
    // Room listings show room and peer ids: with an admin token they need it; with join auth
    // (a secret) but no admin token they are not served at all. /metrics holds no ids: it needs
    // the admin token only when one is set.
    const locked = this.opts.secret ? 'this relay requires join tokens, so room listings need an admin token (start it with --admin-token)' : undefined;
    return new HttpRouter({
      realm: 'rtcprobe-signal',
      ...(admin ? { adminToken: admin } : {}),
      health: () => ({
        status: this.draining ? 503 : 200,
        body: {
          ok: !this.draining,
          instance: this.instanceId,
          bus: this.bus.kind,
          draining: this.draining,
          connections: this.conns.size,
          rooms: this.rooms.size,
          uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
        },
      }),
      metrics: () => this.prometheus(),
      elsewhere: (res) => {
        res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'Upgrade' });
        res.end('this port speaks WebSocket; the session endpoints are on the HTTP port\n');
      },
    })
      .mount({
        paths: ['/rooms', '/rooms/'],
        label: '/rooms',
        admin: true,
        ...(locked ? { lockedWithoutToken: locked } : {}),
        query: { limit: { min: 1, max: 10_000 } },
        handle: ({ query }, reply) =>
          this.bus.listRooms(query.limit ?? 1000).then(
            ({ rooms, total }) => reply.json(200, { rooms, total, truncated: rooms.length < total }),
            (err) => reply.fail(503, 'BUS', toRtcprobeError(err).message),
          ),
      })
      .mount({
        prefix: '/rooms/',
        label: '/rooms/:id',
        admin: true,
        ...(locked ? { lockedWithoutToken: locked } : {}),
        query: {},
        handle: ({ rest }, reply) => {
          let id: string;
          try {
            id = decodeURIComponent(rest);
          } catch {
            reply.fail(400, 'BAD_ROOM', 'bad room id encoding');
            return;
          }
          return this.bus.getRoom(id).then(
            (peers) => {
              if (!peers) reply.fail(404, 'NO_SUCH_ROOM', 'no such room');
              else reply.json(200, { id, peers: peers.map((p) => ({ peerId: p.peerId, instance: p.instance, joinedAt: new Date(p.joinedAt).toISOString(), ...(p.meta ? { meta: p.meta } : {}) })) });
            },
            (err) => reply.fail(503, 'BUS', toRtcprobeError(err).message),
          );
        },
      });
  }

  /** Local counters in the Prometheus text exposition format (0.0.4). */
  prometheus(): string {
    return this.metrics.reg.expose();
  }

  snapshot() {
    const c = this.counters;
    return {
      instance: this.instanceId,
      connections: this.conns.size,
      rooms: this.rooms.size,
      connectionsTotal: c.connectionsTotal,
      received: { ...c.received },
      relayed: { ...c.relayed },
      errors: { ...c.errors },
      closes: { ...c.closes },
    };
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Graceful shutdown: stop accepting, tell every peer (error SHUTTING_DOWN,
   * then close 1001), withdraw presence, wait for the sockets to close (or
   * cut them after drainTimeoutMs), close the bus. Idempotent.
   */
  close(reason = 'shutdown'): Promise<ShutdownReport> {
    this.closed ??= this.shutdown(reason);
    return this.closed;
  }

  private async shutdown(reason: string): Promise<ShutdownReport> {
    this.draining = true;
    this.stopHeartbeat?.();
    const stopped = this.listeners?.stop();
    let peersNotified = 0;
    for (const conn of this.conns) if (conn.peerId) peersNotified++;
    const forced = await drain([...this.conns], (conn) => {
      this.send(conn, errorMessage('SHUTTING_DOWN', `the relay is shutting down (${reason})`));
      const left = this.leave(conn);
      this.closeConn(conn, CLOSE.GOING_AWAY, 'shutting down');
      return left;
    }, this.limits.drainTimeoutMs, () => this.conns);
    this.listeners?.cut();
    await stopped;
    await this.bus.close();
    return { reason, peersNotified, forced };
  }
}
