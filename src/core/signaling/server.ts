/**
 * The signaling relay: a channel server (WebSocket, `ws`) that relays
 * messages between the peers of a room, and a session server (HTTP) that
 * shows rooms, peers, health and Prometheus metrics. Both roles share one
 * port unless `httpPort` asks for a separate HTTP listener.
 *
 * This file wires the pieces together and takes frames in (rate, size,
 * parsing); handlers.ts answers them: joins, relaying, leaves. The pieces:
 * limits.ts (rate and strikes), auth.ts (join tokens, Origin, admin token),
 * rooms.ts (rosters), outbox.ts (writes at the end of the turn), http.ts
 * (router), metrics.ts (Prometheus), lifecycle.ts (listeners, heartbeat,
 * drain), bus.ts/redis-bus.ts (instances), relay-types.ts (options, Conn,
 * counters), relay-metrics.ts (the relay's metrics), relay-http.ts (the
 * session routes).
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
import { AdminToken, OriginAllowlist } from './auth.js';
import { MemoryBus, type Bus } from './bus.js';
import { dispatch, leave, onBusEvent, type RelayState } from './handlers.js';
import type { HttpRouter } from './http.js';
import { Listeners, closeSocket, drain, refuseUpgrade, startHeartbeat } from './lifecycle.js';
import { DEFAULT_LIMITS, StrikeCounter, TokenBucket, type RelayLimits } from './limits.js';
import { Outbox } from './outbox.js';
import {
  CLOSE,
  errorMessage,
  parseClientFrame,
  validInstanceId,
  type ServerMessage,
  type WireErrorCode,
} from './protocol.js';
import { sessionRoutes } from './relay-http.js';
import { relayMetrics, type RelayMetrics } from './relay-metrics.js';
import type { Conn, RelayAddresses, RelayCounters, RelayOptions, ShutdownReport } from './relay-types.js';
import { RoomRegistry } from './rooms.js';

export type { RelayAddresses, RelayCounters, RelayOptions, ShutdownReport, TurnConfig } from './relay-types.js';

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
  private readonly metrics: RelayMetrics;
  private readonly state: RelayState;
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
    this.router = sessionRoutes({
      instanceId: this.instanceId,
      bus: this.bus,
      ...(opts.secret !== undefined ? { secret: opts.secret } : {}),
      draining: () => this.draining,
      connections: () => this.conns.size,
      rooms: () => this.rooms.size,
      startedAt: () => this.startedAt,
      prometheus: () => this.prometheus(),
    }, admin);
    this.wss = new WebSocketServer({
      noServer: true,
      // Frames a little over the limit are read and answered with TOO_LARGE;
      // far larger ones are cut by ws itself (close 1009) without buffering them.
      maxPayload: Math.max(this.limits.maxMessageBytes * 2, this.limits.maxMessageBytes + 16 * 1024),
      perMessageDeflate: false,
      clientTracking: false,
    });
    this.state = {
      instanceId: this.instanceId,
      bus: this.bus,
      rooms: this.rooms,
      metrics: this.metrics,
      limits: this.limits,
      opts,
      draining: () => this.draining,
      send: (conn, msg) => this.send(conn, msg),
      reject: (conn, code, message, ref, strike) => this.reject(conn, code, message, ref, strike),
      armJoinTimer: (conn) => this.armJoinTimer(conn),
      handleText: (conn, text) => this.handleText(conn, text),
    };
    this.bus.onEvent((e) => onBusEvent(this.state, e));
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
      dispatch(this.state, conn, msg);
    } catch (err) {
      // Relaying re-serialises `data`: absurd nesting overflows the stack there.
      if (err instanceof RangeError) this.reject(conn, 'BAD_FIELD', '"data" is nested too deeply', msg.type);
      else this.reject(conn, 'INTERNAL', toRtcprobeError(err).message.slice(0, 100), msg.type, false);
    }
  }


  private onClose(conn: Conn): void {
    clearTimeout(conn.joinTimer);
    conn.closing = true;
    if (!this.conns.delete(conn)) return;
    void leave(this.state, conn);
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
      const left = leave(this.state, conn);
      this.closeConn(conn, CLOSE.GOING_AWAY, 'shutting down');
      return left;
    }, this.limits.drainTimeoutMs, () => this.conns);
    this.listeners?.cut();
    await stopped;
    await this.bus.close();
    return { reason, peersNotified, forced };
  }
}
