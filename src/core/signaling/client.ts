/**
 * A typed client of the signaling relay. It connects, joins a room, keeps
 * the room's roster, and after an unexpected disconnection reconnects with
 * exponential backoff (with jitter) and joins the same room again under the
 * same peerId.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import {
  CLOSE,
  SUBPROTOCOL,
  parseServerFrame,
  type ErrorMessage,
  type JoinedMessage,
  type PeerInfo,
  type PeerMeta,
  type ServerMessage,
  type WireErrorCode,
} from './protocol.js';

export interface ReconnectOptions {
  minDelayMs: number;
  maxDelayMs: number;
  factor: number;
  /** Give up after this many failed attempts in a row (Infinity: never). */
  maxAttempts: number;
}

export interface SignalClientOptions {
  url: string;
  room: string;
  peerId?: string;
  /** A token, or a function returning a fresh one for every (re)join. */
  token?: string | (() => string | Promise<string>);
  meta?: PeerMeta;
  /** Origin header of the upgrade (browsers send one; relays with an allowlist require it). */
  origin?: string;
  /** wss://: PEM CA certificate(s) to trust in addition to the system store (e.g. a self-signed relay). */
  ca?: string | Buffer;
  /** Reconnect after an unexpected disconnection; default on. */
  reconnect?: boolean | Partial<ReconnectOptions>;
  /** Limit for connecting and joining once, ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface SignalClientEvents {
  joined: [JoinedMessage];
  'peer-joined': [PeerInfo];
  'peer-left': [PeerInfo];
  signal: [{ from: string; data: unknown }];
  broadcast: [{ from: string; data: unknown }];
  /** An `error` message from the relay. */
  'relay-error': [ErrorMessage];
  message: [ServerMessage];
  disconnected: [{ code: number; reason: string }];
  reconnecting: [{ attempt: number; delayMs: number }];
  /** The client stopped for good (close(), abort, fatal close code, attempts exhausted). */
  closed: [{ error?: RtcprobeError }];
}

/** Join refusals worth retrying later; anything else (auth, bad input) is final. */
const RETRYABLE_JOIN: ReadonlySet<WireErrorCode> = new Set(['PEER_ID_TAKEN', 'ROOM_FULL', 'SERVER_FULL', 'TOO_MANY_ROOMS', 'SHUTTING_DOWN', 'INTERNAL']);
/** Close codes after which reconnecting would only repeat the problem. */
const FATAL_CLOSE: ReadonlySet<number> = new Set([CLOSE.POLICY, CLOSE.TOO_BIG]);

export class SignalJoinError extends RtcprobeError {
  constructor(readonly wireCode: WireErrorCode, message: string) {
    super('SIGNAL_REJECTED', `${wireCode}: ${message}`);
    this.name = 'SignalJoinError';
  }
}

export class SignalClient extends EventEmitter<SignalClientEvents> {
  readonly options: SignalClientOptions;
  private readonly backoff: ReconnectOptions | undefined;
  private ws?: WebSocket;
  private stopped = false;
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private joinedOnce = false;
  /** The peerId the relay gave us; reused on rejoin. */
  peerId?: string;
  /** Other peers in the room. */
  readonly peers = new Map<string, PeerInfo>();
  lastJoined?: JoinedMessage;

  constructor(options: SignalClientOptions) {
    super();
    this.options = options;
    this.peerId = options.peerId;
    const r = options.reconnect ?? true;
    this.backoff = r === false ? undefined : { minDelayMs: 250, maxDelayMs: 10_000, factor: 2, maxAttempts: Infinity, ...(r === true ? {} : r) };
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Removed when the client stops: callers share one signal across many clients and runs. */
  private readonly onAbort = () => this.stop(new RtcprobeError('ABORTED', 'aborted'));

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.lastJoined !== undefined;
  }

  /** Connect and join. Rejects with a typed error (SIGNAL_REJECTED, CONNECTION, TIMEOUT, ABORTED). */
  async connect(): Promise<JoinedMessage> {
    if (this.stopped) throw new RtcprobeError('ABORTED', 'the client is closed');
    if (this.options.signal?.aborted) throw new RtcprobeError('ABORTED', 'aborted');
    const joined = await this.openAndJoin();
    this.joinedOnce = true;
    return joined;
  }

  private async tokenValue(): Promise<string | undefined> {
    const t = this.options.token;
    return typeof t === 'function' ? await t() : t;
  }

  private openAndJoin(): Promise<JoinedMessage> {
    const timeoutMs = this.options.timeoutMs ?? 10_000;
    return new Promise<JoinedMessage>((resolve, reject) => {
      const ws = new WebSocket(this.options.url, [SUBPROTOCOL], {
        handshakeTimeout: timeoutMs,
        perMessageDeflate: false,
        ...(this.options.origin ? { origin: this.options.origin } : {}),
        ...(this.options.ca ? { ca: this.options.ca } : {}),
      });
      this.ws = ws;
      let settled = false;
      const timer = setTimeout(() => finish(new RtcprobeError('TIMEOUT', `no "joined" from ${this.options.url} within ${timeoutMs} ms`)), timeoutMs);
      const finish = (err?: RtcprobeError, joined?: JoinedMessage) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) {
          ws.removeAllListeners('close');
          ws.on('close', () => {});
          ws.terminate();
          if (this.ws === ws) this.ws = undefined;
          reject(err);
        } else resolve(joined!);
      };
      ws.on('error', (e) => {
        // A certificate that does not verify is a TLS error; anything else a connection error.
        const code = toRtcprobeError(e).code === 'TLS' ? 'TLS' : 'CONNECTION';
        finish(new RtcprobeError(code, `cannot connect to ${this.options.url}: ${e.message}`, { cause: e }));
      });
      ws.on('unexpected-response', (_req, res) => {
        finish(new RtcprobeError('CONNECTION', `the relay refused the WebSocket upgrade: HTTP ${res.statusCode}`));
      });
      ws.on('open', () => {
        this.tokenValue().then(
          (token) => {
            this.sendRaw({ type: 'join', room: this.options.room, ...(this.peerId ? { peerId: this.peerId } : {}), ...(token ? { token } : {}), ...(this.options.meta ? { meta: this.options.meta } : {}) });
          },
          (e: unknown) => finish(new RtcprobeError('SIGNAL_REJECTED', `cannot get a token: ${(e as Error).message}`, { cause: e })),
        );
      });
      // Frames read together with `joined` (one TCP read can hold several) are held until the
      // next macrotask: whoever awaited connect() attaches its handlers first and misses none.
      let held: ServerMessage[] | undefined;
      const release = () => {
        const h = held;
        held = undefined;
        for (const m of h ?? []) this.onMessage(m);
      };
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const msg = parseServerFrame(data.toString());
        if (!msg) return;
        if (held) {
          held.push(msg);
          return;
        }
        if (!settled) {
          if (msg.type === 'joined') {
            this.onJoined(msg);
            finish(undefined, msg);
            held = [];
            setImmediate(release);
          } else if (msg.type === 'error') {
            finish(new SignalJoinError(msg.code, msg.message));
            return;
          }
        }
        this.onMessage(msg);
      });
      ws.on('close', (code, reason) => {
        finish(new RtcprobeError('CONNECTION', `the relay closed the connection (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
        release();
        this.onClose(ws, code, reason.toString());
      });
    });
  }

  private onJoined(msg: JoinedMessage): void {
    this.peerId = msg.peerId;
    this.lastJoined = msg;
    this.attempt = 0;
    this.peers.clear();
    for (const p of msg.peers) this.peers.set(p.peerId, p);
  }

  private onMessage(msg: ServerMessage): void {
    this.emit('message', msg);
    switch (msg.type) {
      case 'joined':
        this.emit('joined', msg);
        break;
      case 'peer-joined':
        this.peers.set(msg.peerId, { peerId: msg.peerId, ...(msg.meta ? { meta: msg.meta } : {}) });
        this.emit('peer-joined', { peerId: msg.peerId, ...(msg.meta ? { meta: msg.meta } : {}) });
        break;
      case 'peer-left': {
        const p = this.peers.get(msg.peerId) ?? { peerId: msg.peerId };
        this.peers.delete(msg.peerId);
        this.emit('peer-left', p);
        break;
      }
      case 'signal':
        this.emit('signal', { from: msg.from, data: msg.data });
        break;
      case 'broadcast':
        this.emit('broadcast', { from: msg.from, data: msg.data });
        break;
      case 'error':
        this.emit('relay-error', msg);
        break;
      default:
        break;
    }
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = undefined;
    this.lastJoined = undefined;
    this.emit('disconnected', { code, reason });
    if (this.stopped) return;
    if (!this.backoff || !this.joinedOnce || FATAL_CLOSE.has(code)) {
      this.stop(FATAL_CLOSE.has(code) ? new RtcprobeError('CONNECTION', `the relay closed the connection: ${code} ${reason}`) : undefined);
      return;
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const b = this.backoff!;
    if (this.attempt >= b.maxAttempts) {
      this.stop(new RtcprobeError('CONNECTION', `gave up reconnecting after ${this.attempt} attempts`));
      return;
    }
    const base = Math.min(b.maxDelayMs, b.minDelayMs * b.factor ** this.attempt);
    const delayMs = Math.round(base / 2 + Math.random() * (base / 2));
    this.attempt++;
    this.emit('reconnecting', { attempt: this.attempt, delayMs });
    this.retryTimer = setTimeout(() => {
      if (this.stopped) return;
      this.openAndJoin().catch((err: RtcprobeError) => {
        if (this.stopped) return;
        if (err instanceof SignalJoinError && !RETRYABLE_JOIN.has(err.wireCode)) {
          this.stop(err);
          return;
        }
        this.scheduleReconnect();
      });
    }, delayMs);
  }

  private stop(error?: RtcprobeError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.options.signal?.removeEventListener('abort', this.onAbort);
    clearTimeout(this.retryTimer);
    const ws = this.ws;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(CLOSE.NORMAL, 'bye');
    this.emit('closed', error ? { error } : {});
  }

  /** Send any JSON value or raw text (tests use this to send bad input). */
  sendRaw(msg: unknown): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new RtcprobeError('CONNECTION', 'not connected to the relay');
    ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  signal(to: string, data: unknown): void {
    this.sendRaw({ type: 'signal', to, data });
  }

  broadcast(data: unknown): void {
    this.sendRaw({ type: 'broadcast', data });
  }

  /** Round trip through the relay, ms. */
  async ping(timeoutMs = 5000): Promise<number> {
    const ts = performance.now();
    const wait = this.next('pong', (m) => m.ts === ts, timeoutMs);
    this.sendRaw({ type: 'ping', ts });
    await wait;
    return performance.now() - ts;
  }

  /** The next message of a type (optionally matching a predicate), or a TIMEOUT error. */
  next<T extends ServerMessage['type']>(type: T, filter?: (m: Extract<ServerMessage, { type: T }>) => boolean, timeoutMs = 10_000): Promise<Extract<ServerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMsg = (m: ServerMessage) => {
        if (m.type !== type) return;
        const mm = m as Extract<ServerMessage, { type: T }>;
        if (filter && !filter(mm)) return;
        cleanup();
        resolve(mm);
      };
      const onClosed = () => {
        cleanup();
        reject(new RtcprobeError('CONNECTION', `the client closed while waiting for "${type}"`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new RtcprobeError('TIMEOUT', `no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('message', onMsg);
        this.off('closed', onClosed);
      };
      this.on('message', onMsg);
      this.on('closed', onClosed);
    });
  }

  /** Leave the room (the connection stays open). */
  async leave(timeoutMs = 5000): Promise<void> {
    const wait = this.next('left', undefined, timeoutMs);
    this.sendRaw({ type: 'leave' });
    await wait;
    this.joinedOnce = false;
    this.peers.clear();
  }

  /** Close for good: no reconnection. Resolves once the socket is closed. */
  async close(): Promise<void> {
    const ws = this.ws;
    this.stop();
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { ws.terminate(); resolve(); }, 2000);
        ws.once('close', () => { clearTimeout(t); resolve(); });
      });
    }
  }
}
