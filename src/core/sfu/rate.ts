/**
 * A byte-rate limit per publisher: a token bucket refilled at `bytesPerSecond`
 * and holding at most `burstBytes`. Pure: the caller passes the clock (ms).
 */
export class RateLimit {
  private tokens: number;
  private last?: number;

  constructor(readonly bytesPerSecond: number, readonly burstBytes: number) {
    this.tokens = burstBytes;
  }

  /** Take `bytes` at time `nowMs`; false when over the rate (the packet is to be dropped). */
  take(bytes: number, nowMs: number): boolean {
    if (this.last !== undefined) this.tokens = Math.min(this.burstBytes, this.tokens + ((nowMs - this.last) * this.bytesPerSecond) / 1000);
    this.last = nowMs;
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}
