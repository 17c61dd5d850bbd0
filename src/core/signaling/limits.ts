/**
 * Per-connection limits of the relay: the configurable figures (RelayLimits),
 * a token bucket for the message rate and a strike counter whose strikes fade
 * with time. Pure: every method takes the current time (milliseconds on a
 * monotonic clock) as an argument; nothing here reads a clock or does I/O.
 */

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

/**
 * A token bucket: it starts full (`burst` tokens) and refills at `ratePerSecond`
 * up to `burst`. Every `take` costs one token.
 */
export class TokenBucket {
  private tokens: number;
  private refilledAt: number;

  constructor(readonly ratePerSecond: number, readonly burst: number, now: number) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Spend one token at time `now`; false (nothing spent) when the bucket is empty. */
  take(now: number): boolean {
    this.tokens = this.available(now);
    this.refilledAt = Math.max(this.refilledAt, now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens available at time `now`, without spending any. */
  available(now: number): number {
    return Math.min(this.burst, this.tokens + (Math.max(0, now - this.refilledAt) / 1000) * this.ratePerSecond);
  }
}

/**
 * Strikes for protocol errors that fade at `fadePerSecond`: honest races (a
 * signal to a peer that has just left) never add up, a connection that keeps
 * misbehaving goes over `max`.
 */
export class StrikeCounter {
  private level = 0;
  private struckAt = 0;

  constructor(readonly max: number, readonly fadePerSecond = 1) {}

  /** Record one strike at time `now`. True when the count is now over the limit. */
  strike(now: number): boolean {
    this.level = this.current(now) + 1;
    this.struckAt = Math.max(this.struckAt, now);
    return this.level > this.max;
  }

  /** The faded count at time `now`. */
  current(now: number): number {
    return Math.max(0, this.level - (Math.max(0, now - this.struckAt) / 1000) * this.fadePerSecond);
  }
}
