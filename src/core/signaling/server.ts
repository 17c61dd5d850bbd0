/**
 * The signaling relay: a channel server (WebSocket, `ws`) that relays
 * messages between the peers of a room, and a session server (HTTP) that
 * shows rooms, peers, health and Prometheus metrics. Both roles share one
 * port unless `httpPort` asks for a separate HTTP listener.
 *
 * Every limit is an option with a default (DEFAULT_LIMITS). Bad input never
 * throws out of a handler: it is answered with an `error` message carrying a
 * wire code, counted, and a connection that keeps misbehaving is closed with
 * a WebSocket close code (1008 policy, 1009 too big, 1013 try again later).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { MemoryBus, type Bus, type BusEvent, type PeerRecord } from './bus.js';
import {
  CLOSE,
  PROTOCOL_VERSION,
  errorMessage,
  parseClientFrame,
  validPeerId,
  type ClientMessage,
  type IceServer,
  type JoinMessage,
  type PeerMeta,
  type HttpErrorCode,
  type ServerMessage,
  type WireErrorCode,
} from './protocol.js';
import { restCredentials } from '../turn/credentials.js';
import { verifyToken } from './token.js';

export interface RelayLimits {
  /** Largest accepted frame, bytes. Larger frames get TOO_LARGE and close 1009. */
  maxMessageBytes: number;
  /** Sustained messages per second per connection (token bucket rate). */
  messagesPerSecond: number;
  /** Messages a connection may send in a burst above the rate. */
  messageBurst: number;
  maxPeersPerRoom: number;
  maxRooms: number;
  maxConnections: number;
  /** A connection must join a room within this time, ms. */
  joinTimeoutMs: number;
  /**
   * WebSocket ping interval, ms. At every beat a connection that has neither
   * answered the previous ping nor sent a frame since is terminated: one
   * unanswered ping, so it goes 1 to 2 intervals after the last sign of life.
   */
  heartbeatMs: number;
  /** Protocol errors tolerated on one connection before it is closed (1008); they fade at one per second. */
  maxStrikes: number;
  /** Bytes queued towards one slow client before it is dropped (1013). */
  maxBufferedBytes: number;
  /** How long a graceful shutdown waits for clients to close, ms. */
  drainTimeoutMs: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxMessageBytes: 64 * 1024,
  messagesPerSecond: 50,
  messageBurst: 100,
  maxPeersPerRoom: 50,
  maxRooms: 10_000,
  maxConnections: 10_000,
  joinTimeoutMs: 10_000,
  heartbeatMs: 30_000,
  maxStrikes: 20,
  maxBufferedBytes: 4 * 1024 * 1024,
  drainTimeoutMs: 5_000,
};

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
}

export interface RelayAddresses {
  host: string;
  port: number;
  httpPort: number;
  ws: string;
  http: string;
}

interface Conn {
  id: number;
  ws: WebSocket;
  room?: string;
  peerId?: string;
  /** Messages waiting for the end of the event-loop turn. */
  outbox?: string[];
  /** '{"type":"signal","from":"<peerId>","data":' (peerIds never need JSON escaping). */
  signalPrefix?: string;
  joining: boolean;
  queue: string[];
  tokens: number;
  refilledAt: number;
  strikes: number;
  struckAt: number;
  alive: boolean;
  closing: boolean;
  joinTimer?: NodeJS.Timeout;
}

interface Member {
  peerId: string;
  instance: string;
  meta?: PeerMeta;
  joinedAt: number;
  conn?: Conn;
}

interface Room {
  id: string;
  peers: Map<string, Member>;
  /** Local peers plus joins in progress: the room is watched while > 0. */
  local: number;
  watching?: Promise<void>;
}

export interface RelayCounters {
  connectionsTotal: number;
  received: Record<string, number>;
  relayed: Record<string, number>;
  errors: Record<string, number>;
  closes: Record<string, number>;
  terminatedDead: number;
}

export interface ShutdownReport {
  reason: string;
  peersNotified: number;
  forced: number;
}

const INSTANCE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function validInstanceId(x: string): boolean {
  return INSTANCE_ID.test(x);
}

const normOrigin = (o: string) => o.trim().replace(/\/+$/, '').toLowerCase();

export class SignalRelay {
  readonly limits: RelayLimits;
  readonly instanceId: string;
  readonly bus: Bus;
  private readonly opts: RelayOptions;
  private readonly origins?: Set<string>;
  private readonly wss: WebSocketServer;
  private server?: http.Server;
  private httpServer?: http.Server;
  private readonly adminDigest?: Buffer;
  private readonly conns = new Set<Conn>();
  private readonly rooms = new Map<string, Room>();
  private heartbeat?: NodeJS.Timeout;
  private nextId = 1;
  private dirty: Conn[] = [];
  private flushScheduled = false;
  private draining = false;
  private closed?: Promise<ShutdownReport>;
  private startedAt = Date.now();
  private addr?: RelayAddresses;
  readonly counters: RelayCounters = { connectionsTotal: 0, received: {}, relayed: {}, errors: {}, closes: {}, terminatedDead: 0 };

  constructor(opts: RelayOptions = {}) {
    this.opts = opts;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.instanceId = opts.instanceId ?? opts.bus?.instanceId ?? `relay-${randomBytes(4).toString('hex')}`;
    if (!validInstanceId(this.instanceId)) throw new RtcprobeError('USAGE', 'the instance id must be 1..64 characters of A-Z a-z 0-9 _ . -');
    this.bus = opts.bus ?? new MemoryBus(this.instanceId);
    if (opts.httpHost !== undefined && opts.httpPort === undefined) throw new RtcprobeError('USAGE', 'an HTTP host needs a separate HTTP port');
    if (opts.adminToken !== undefined) {
      if (opts.adminToken === '') throw new RtcprobeError('USAGE', 'the admin token must not be empty');
      this.adminDigest = createHash('sha256').update(opts.adminToken).digest();
    }
    if (opts.origins && opts.origins.length > 0) this.origins = new Set(opts.origins.map(normOrigin));
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
    const host = this.opts.host ?? '127.0.0.1';
    await this.bus.start();
    const tls = this.opts.tls;
    const create = (handler: http.RequestListener): http.Server => {
      if (!tls) return http.createServer(handler);
      try {
        return https.createServer({ cert: tls.cert, key: tls.key }, handler);
      } catch (err) {
        throw new RtcprobeError('TLS', `cannot use the certificate and key: ${(err as Error).message}`, { cause: err });
      }
    };
    const server = create((req, res) => this.onHttp(req, res, this.opts.httpPort === undefined));
    server.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    server.on('clientError', (_err, socket) => socket.destroy());
    if (tls) server.on('tlsClientError', (_err, socket) => socket.destroy());
    this.server = server;
    const port = await listenOn(server, this.opts.port ?? 0, host);
    let httpPort = port;
    let httpHost = host;
    if (this.opts.httpPort !== undefined) {
      httpHost = this.opts.httpHost ?? host;
      const hs = create((req, res) => this.onHttp(req, res, true));
      hs.on('upgrade', (_req, socket) => socket.destroy());
      hs.on('clientError', (_err, socket) => socket.destroy());
      if (tls) hs.on('tlsClientError', (_err, socket) => socket.destroy());
      this.httpServer = hs;
      try {
        httpPort = await listenOn(hs, this.opts.httpPort, httpHost);
      } catch (err) {
        await closeServer(server);
        throw err;
      }
    }
    this.startedAt = Date.now();
    this.heartbeat = setInterval(() => this.beat(), this.limits.heartbeatMs);
    this.heartbeat.unref();
    const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a);
    const s = tls ? 's' : '';
    this.addr = { host, port, httpPort, ws: `ws${s}://${bracket(host)}:${port}/`, http: `http${s}://${bracket(httpHost)}:${httpPort}/` };
    return this.addr;
  }

  get addresses(): RelayAddresses | undefined {
    return this.addr;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  // ---------------------------------------------------------------- errors

  private count(map: Record<string, number>, key: string, n = 1): void {
    map[key] = (map[key] ?? 0) + n;
  }

  /**
   * Queue a message; queues are written at the end of the current event-loop
   * turn. Writing after all ready sockets were read lets the kernel hand the
   * peers their data in bursts instead of waking them once per message.
   */
  private send(conn: Conn, msg: ServerMessage | string): void {
    if (conn.ws.readyState !== 1) return;
    const text = typeof msg === 'string' ? msg : JSON.stringify(msg);
    if (conn.outbox) {
      conn.outbox.push(text);
      return;
    }
    conn.outbox = [text];
    this.dirty.push(conn);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const conn of dirty) this.flushConn(conn);
  };

  private flushConn(conn: Conn): void {
    const out = conn.outbox;
    conn.outbox = undefined;
    const ws = conn.ws;
    if (!out || ws.readyState !== 1) return;
    if (ws.bufferedAmount > this.limits.maxBufferedBytes) {
      this.closeConn(conn, CLOSE.TRY_AGAIN_LATER, 'client too slow');
      return;
    }
    for (const text of out) ws.send(text);
  }


  /** Answer a bad input with an error; close the connection after too many. */
  private reject(conn: Conn, code: WireErrorCode, message?: string, ref?: string, strike = true): void {
    this.count(this.counters.errors, code);
    this.send(conn, errorMessage(code, message, ref));
    if (!strike) return;
    // Strikes fade at one per second: honest races (a signal to a peer that just left) never add up.
    const now = performance.now();
    conn.strikes = Math.max(0, conn.strikes - (now - conn.struckAt) / 1000) + 1;
    conn.struckAt = now;
    if (conn.strikes > this.limits.maxStrikes) this.closeConn(conn, CLOSE.POLICY, 'too many protocol errors');
  }

  private closeConn(conn: Conn, code: number, reason: string): void {
    if (conn.closing) return;
    this.flushConn(conn);
    conn.closing = true;
    this.count(this.counters.closes, String(code));
    try {
      conn.ws.close(code, reason);
    } catch {
      conn.ws.terminate();
    }
    // A peer that never completes the closing handshake is cut.
    setTimeout(() => conn.ws.terminate(), 2000).unref();
  }

  // ---------------------------------------------------------------- upgrade

  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    if (this.draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.origins) {
      const origin = req.headers.origin;
      if (typeof origin !== 'string' || !this.origins.has(normOrigin(origin))) {
        this.count(this.counters.errors, 'ORIGIN_FORBIDDEN');
        const body = JSON.stringify(errorMessage('ORIGIN_FORBIDDEN'));
        socket.end(`HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        return;
      }
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  private onConnection(ws: WebSocket): void {
    const conn: Conn = {
      id: this.nextId++,
      ws,
      joining: false,
      queue: [],
      tokens: this.limits.messageBurst,
      refilledAt: performance.now(),
      strikes: 0,
      struckAt: 0,
      alive: true,
      closing: false,
    };
    this.counters.connectionsTotal++;
    ws.on('error', (err: Error & { code?: string }) => {
      // ws closes the connection itself (1009 for oversize, 1002/1007 for bad frames).
      this.count(this.counters.errors, err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? 'TOO_LARGE' : 'BAD_FRAME');
    });
    ws.on('close', () => this.onClose(conn));
    if (this.draining) {
      this.send(conn, errorMessage('SHUTTING_DOWN'));
      this.closeConn(conn, CLOSE.GOING_AWAY, 'shutting down');
      return;
    }
    this.conns.add(conn);
    if (this.conns.size > this.limits.maxConnections) {
      this.count(this.counters.errors, 'SERVER_FULL');
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

  private beat(): void {
    for (const conn of this.conns) {
      if (!conn.alive) {
        this.counters.terminatedDead++;
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      try {
        conn.ws.ping();
      } catch {
        conn.ws.terminate();
      }
    }
  }

  // ---------------------------------------------------------------- frames

  private onFrame(conn: Conn, data: RawData, isBinary: boolean): void {
    if (conn.closing) return;
    conn.alive = true;
    // Token bucket: every frame costs one token, valid or not.
    const now = performance.now();
    conn.tokens = Math.min(this.limits.messageBurst, conn.tokens + ((now - conn.refilledAt) / 1000) * this.limits.messagesPerSecond);
    conn.refilledAt = now;
    if (conn.tokens < 1) {
      this.reject(conn, 'RATE_LIMITED', `more than ${this.limits.messagesPerSecond} messages per second`);
      return;
    }
    conn.tokens -= 1;
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
    this.count(this.counters.received, msg.type);
    try {
      this.dispatch(conn, msg);
    } catch (err) {
      // Relaying re-serialises `data`: absurd nesting overflows the stack there.
      if (err instanceof RangeError) this.reject(conn, 'BAD_FIELD', '"data" is nested too deeply', msg.type);
      else this.reject(conn, 'INTERNAL', toRtcprobeError(err).message.slice(0, 100), msg.type, false);
    }
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
      case 'leave':
        if (!conn.room) {
          this.reject(conn, 'NOT_JOINED', undefined, 'leave');
          return;
        }
        {
          const room = conn.room;
          this.leave(conn);
          this.send(conn, { type: 'left', room });
          this.armJoinTimer(conn);
        }
        return;
      case 'signal': {
        const room = conn.room ? this.rooms.get(conn.room) : undefined;
        if (!room || !conn.peerId) {
          this.reject(conn, 'NOT_JOINED', undefined, 'signal');
          return;
        }
        if (msg.to === conn.peerId) {
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
          this.counters.relayed.signal = (this.counters.relayed.signal ?? 0) + 1;
          this.send(target.conn, frame);
        } else {
          this.bus.sendTo(target.instance, { kind: 'signal', room: room.id, from: conn.peerId, to: msg.to, frame, src: this.instanceId });
        }
        return;
      }
      case 'broadcast': {
        const room = conn.room ? this.rooms.get(conn.room) : undefined;
        if (!room || !conn.peerId) {
          this.reject(conn, 'NOT_JOINED', undefined, 'broadcast');
          return;
        }
        const frame = JSON.stringify({ type: 'broadcast', from: conn.peerId, data: msg.data });
        this.deliverBroadcast(room, conn.peerId, frame);
        if (this.bus.kind !== 'memory' && room.peers.size > room.local) {
          this.bus.publishRoom({ kind: 'broadcast', room: room.id, from: conn.peerId, frame, src: this.instanceId });
        }
        return;
      }
    }
  }

  private deliverBroadcast(room: Room, from: string, frame: string): void {
    for (const m of room.peers.values()) {
      if (!m.conn || m.peerId === from) continue;
      this.count(this.counters.relayed, 'broadcast');
      this.send(m.conn, frame);
    }
  }

  // ---------------------------------------------------------------- rooms

  private authorize(conn: Conn, msg: JoinMessage): string | undefined {
    const secret = this.opts.secret;
    if (!secret) return msg.peerId ?? randomBytes(9).toString('base64url');
    if (!msg.token) {
      this.reject(conn, 'AUTH_REQUIRED', undefined, 'join');
      return undefined;
    }
    const check = verifyToken(msg.token, secret);
    if (!check.ok) {
      this.reject(conn, check.reason === 'expired' ? 'AUTH_EXPIRED' : 'AUTH_INVALID', undefined, 'join');
      return undefined;
    }
    const { room, sub } = check.claims;
    if (room !== msg.room || (msg.peerId !== undefined && msg.peerId !== sub)) {
      this.reject(conn, 'AUTH_MISMATCH', room !== msg.room ? 'the token is for another room' : 'the token is for another identity', 'join');
      return undefined;
    }
    if (!validPeerId(sub)) {
      this.reject(conn, 'AUTH_INVALID', 'the token identity is not a valid peerId', 'join');
      return undefined;
    }
    return sub;
  }

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
    const peerId = this.authorize(conn, msg);
    if (peerId === undefined) return;
    const existing = this.rooms.get(msg.room);
    if (existing?.peers.has(peerId)) {
      this.reject(conn, 'PEER_ID_TAKEN', undefined, 'join', false);
      return;
    }
    conn.joining = true;
    let room = existing;
    if (!room) {
      room = { id: msg.room, peers: new Map(), local: 0 };
      this.rooms.set(msg.room, room);
    }
    room.local++;
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
      peers: [...room.peers.values()].filter((m) => m.peerId !== peerId).map((m) => ({ peerId: m.peerId, ...(m.meta ? { meta: m.meta } : {}) })),
      ...(ice ? { iceServers: ice } : {}),
    });
    const note = JSON.stringify({ type: 'peer-joined', room: room.id, peerId, ...(record.meta ? { meta: record.meta } : {}) });
    for (const m of room.peers.values()) if (m.conn && m.conn !== conn) this.send(m.conn, note);
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

  private releaseRoom(room: Room): void {
    room.local--;
    if (room.local <= 0 && this.rooms.get(room.id) === room) {
      this.rooms.delete(room.id);
      void this.bus.unwatch(room.id).catch(() => {});
    }
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
      const note = JSON.stringify({ type: 'peer-left', room: roomId, peerId });
      for (const m of room.peers.values()) if (m.conn) this.send(m.conn, note);
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
        const note = JSON.stringify({ type: 'peer-joined', room: room.id, peerId: e.peer.peerId, ...(e.peer.meta ? { meta: e.peer.meta } : {}) });
        for (const m of room.peers.values()) if (m.conn) this.send(m.conn, note);
        return;
      }
      case 'peer-left': {
        const known = room.peers.get(e.peerId);
        if (!known || known.conn || known.instance !== e.src) return;
        room.peers.delete(e.peerId);
        const note = JSON.stringify({ type: 'peer-left', room: room.id, peerId: e.peerId });
        for (const m of room.peers.values()) if (m.conn) this.send(m.conn, note);
        return;
      }
      case 'signal': {
        const target = room.peers.get(e.to);
        if (!target?.conn) return;
        this.count(this.counters.relayed, 'signal');
        this.send(target.conn, e.frame);
        return;
      }
      case 'broadcast':
        this.deliverBroadcast(room, e.from, e.frame);
        return;
    }
  }

  // ---------------------------------------------------------------- HTTP

  /** Whether a request carries the admin token (`Authorization: Bearer <token>`), compared in constant time. */
  private adminAuthorized(req: http.IncomingMessage): boolean {
    if (!this.adminDigest) return false;
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    return timingSafeEqual(createHash('sha256').update(m[1]!).digest(), this.adminDigest);
  }

  private onHttp(req: http.IncomingMessage, res: http.ServerResponse, session: boolean): void {
    const url = new URL(req.url ?? '/', 'http://relay');
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
      res.end(text);
    };
    const fail = (status: number, code: HttpErrorCode, message: string, headers?: Record<string, string>) => json(status, { error: { code, message } }, headers);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      fail(405, 'METHOD_NOT_ALLOWED', 'only GET and HEAD', { allow: 'GET, HEAD' });
      return;
    }
    const path = url.pathname;
    if (path === '/healthz') {
      json(this.draining ? 503 : 200, {
        ok: !this.draining,
        instance: this.instanceId,
        bus: this.bus.kind,
        draining: this.draining,
        connections: this.conns.size,
        rooms: this.rooms.size,
        uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
      });
      return;
    }
    if (!session) {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'Upgrade' });
      res.end('this port speaks WebSocket; the session endpoints are on the HTTP port\n');
      return;
    }
    const isRooms = path === '/rooms' || path === '/rooms/' || path.startsWith('/rooms/');
    if (!isRooms && path !== '/metrics') {
      fail(404, 'NOT_FOUND', 'try /healthz, /rooms, /rooms/:id, /metrics');
      return;
    }
    // Room listings show room and peer ids: with an admin token they need it; with join auth
    // (a secret) but no admin token they are not served at all. /metrics holds no ids: it needs
    // the admin token only when one is set.
    if (this.adminDigest ? !this.adminAuthorized(req) : isRooms && this.opts.secret) {
      const why = this.adminDigest ? 'send the admin token as "Authorization: Bearer <token>"' : 'this relay requires join tokens, so room listings need an admin token (start it with --admin-token)';
      fail(401, 'UNAUTHORIZED', why, { 'www-authenticate': 'Bearer realm="rtcprobe-signal"' });
      return;
    }
    if (path === '/metrics') {
      const text = this.prometheus();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (path === '/rooms' || path === '/rooms/') {
      const q = parseQuery(url.searchParams, { limit: { min: 1, max: 10_000 } });
      if (typeof q === 'string') {
        fail(400, 'BAD_QUERY', q);
        return;
      }
      this.bus.listRooms(q.limit ?? 1000).then(
        ({ rooms, total }) => json(200, { rooms, total, truncated: rooms.length < total }),
        (err) => fail(503, 'BUS', toRtcprobeError(err).message),
      );
      return;
    }
    const q = parseQuery(url.searchParams, {});
    if (typeof q === 'string') {
      fail(400, 'BAD_QUERY', q);
      return;
    }
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/rooms/'.length));
    } catch {
      fail(400, 'BAD_ROOM', 'bad room id encoding');
      return;
    }
    this.bus.getRoom(id).then(
      (peers) => {
        if (!peers) fail(404, 'NO_SUCH_ROOM', 'no such room');
        else json(200, { id, peers: peers.map((p) => ({ peerId: p.peerId, instance: p.instance, joinedAt: new Date(p.joinedAt).toISOString(), ...(p.meta ? { meta: p.meta } : {}) })) });
      },
      (err) => fail(503, 'BUS', toRtcprobeError(err).message),
    );
  }

  /** Local counters in the Prometheus text exposition format (0.0.4). */
  prometheus(): string {
    const inst = `instance_id="${this.instanceId}"`;
    const out: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, rows: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of rows) out.push(`${name}{${inst}${labels ? `,${labels}` : ''}} ${v}`);
    };
    const byLabel = (label: string, rec: Record<string, number>): [string, number][] =>
      Object.entries(rec).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [`${label}="${k}"`, v]);
    let peers = 0;
    for (const r of this.rooms.values()) for (const m of r.peers.values()) if (m.conn) peers++;
    const bus = this.bus.stats();
    metric('rtcprobe_signal_connections', 'gauge', 'Open WebSocket connections.', [['', this.conns.size]]);
    metric('rtcprobe_signal_connections_total', 'counter', 'WebSocket connections accepted.', [['', this.counters.connectionsTotal]]);
    metric('rtcprobe_signal_rooms', 'gauge', 'Rooms with at least one peer on this instance.', [['', this.rooms.size]]);
    metric('rtcprobe_signal_peers', 'gauge', 'Joined peers on this instance.', [['', peers]]);
    metric('rtcprobe_signal_messages_received_total', 'counter', 'Valid client messages, by type.', byLabel('type', this.counters.received));
    metric('rtcprobe_signal_messages_relayed_total', 'counter', 'Messages delivered to a peer on this instance, by type.', byLabel('type', this.counters.relayed));
    metric('rtcprobe_signal_errors_total', 'counter', 'Error answers and refused inputs, by wire code.', byLabel('code', this.counters.errors));
    metric('rtcprobe_signal_closes_total', 'counter', 'Connections closed by the relay, by WebSocket close code.', byLabel('code', this.counters.closes));
    metric('rtcprobe_signal_dead_terminated_total', 'counter', 'Connections terminated for missing heartbeats.', [['', this.counters.terminatedDead]]);
    metric('rtcprobe_signal_bus_published_total', 'counter', 'Events published to other instances.', [['', bus.published]]);
    metric('rtcprobe_signal_bus_received_total', 'counter', 'Events received from other instances.', [['', bus.received]]);
    return `${out.join('\n')}\n`;
  }

  snapshot() {
    return {
      instance: this.instanceId,
      connections: this.conns.size,
      rooms: this.rooms.size,
      connectionsTotal: this.counters.connectionsTotal,
      received: { ...this.counters.received },
      relayed: { ...this.counters.relayed },
      errors: { ...this.counters.errors },
      closes: { ...this.counters.closes },
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
    clearInterval(this.heartbeat);
    const stopped = Promise.all([closeServer(this.server), closeServer(this.httpServer)]);
    let peersNotified = 0;
    const leaving: Promise<void>[] = [];
    const gone: Promise<void>[] = [];
    for (const conn of this.conns) {
      if (conn.peerId) peersNotified++;
      gone.push(new Promise((resolve) => {
        if (conn.ws.readyState === 3) resolve();
        else conn.ws.once('close', () => resolve());
      }));
      this.send(conn, errorMessage('SHUTTING_DOWN', `the relay is shutting down (${reason})`));
      leaving.push(this.leave(conn));
      this.closeConn(conn, CLOSE.GOING_AWAY, 'shutting down');
    }
    let forced = 0;
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), this.limits.drainTimeoutMs).unref());
    if ((await Promise.race([Promise.all([...gone, ...leaving]).then(() => 'ok' as const), timer])) === 'timeout') {
      for (const conn of this.conns) {
        forced++;
        conn.ws.terminate();
      }
    }
    this.server?.closeAllConnections();
    this.httpServer?.closeAllConnections();
    await stopped;
    await this.bus.close();
    return { reason, peersNotified, forced };
  }
}

/**
 * Check a query string against the integer parameters an endpoint takes:
 * the values, or a message saying what is wrong (unknown, repeated, not an
 * integer in range). Nothing is silently ignored.
 */
export function parseQuery<K extends string>(params: URLSearchParams, spec: Record<K, { min: number; max: number }>): Partial<Record<K, number>> | string {
  const out: Partial<Record<K, number>> = {};
  const seen = new Set<string>();
  const known = Object.keys(spec);
  for (const [key, value] of params) {
    const shown = JSON.stringify(key.slice(0, 32));
    if (!known.includes(key)) return known.length ? `unknown query parameter ${shown} (this endpoint takes ${known.join(', ')})` : `unknown query parameter ${shown} (this endpoint takes none)`;
    if (seen.has(key)) return `query parameter ${shown} is repeated`;
    seen.add(key);
    const { min, max } = spec[key as K];
    if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) return `${key} must be an integer from ${min} to ${max}`;
    out[key as K] = Number(value);
  }
  return out;
}

function listenOn(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(toRtcprobeError(err, `cannot listen on ${host}:${port}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server?: http.Server): Promise<void> {
  if (!server || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
