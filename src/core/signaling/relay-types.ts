// Relay option, connection, counter and shutdown-report types shared by server.ts and its helpers.
import type { WebSocket } from 'ws';
import type { IceServer } from '../ice/servers.js';
import type { Bus } from './bus.js';
import type { Addresses } from './lifecycle.js';
import type { RelayLimits, StrikeCounter, TokenBucket } from './limits.js';

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

export interface Conn {
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
