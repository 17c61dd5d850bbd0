import { RtcprobeError, StunDecodeError, toRtcprobeError } from '../errors.js';
import { formatEndpoint, type Endpoint } from '../address.js';
import type { Channel } from '../net/channel.js';
import { StunClass } from './constants.js';
import { verifyFingerprint } from './integrity.js';
import { decodeMessage, type StunMessage } from './message.js';
import { retransmitSchedule, type RetransmitOptions } from './retransmit.js';

/** Why an incoming message was not accepted as an answer. */
export type IgnoreReason =
  | 'malformed'
  | 'unknown-transaction'
  | 'wrong-source'
  | 'not-a-response'
  | 'method-mismatch'
  | 'bad-fingerprint';

export interface IgnoredMessage {
  reason: IgnoreReason;
  from: Endpoint;
  detail: string;
}

export interface TransactionResult {
  response: StunMessage;
  /** ms from the last (re)transmission before the answer; see `ambiguous`. */
  rtt: number;
  /** Requests sent, including the first. */
  transmissions: number;
  /** True when the answer came after a retransmission (Karn: the RTT sample is ambiguous). */
  ambiguous: boolean;
}

export interface TransactOptions {
  retransmit: RetransmitOptions;
  /** Timeout for reliable transports (RFC 8489 Ti, default 39.5 s). */
  timeout: number;
  signal?: AbortSignal;
}

interface Pending {
  method: number;
  sentAt: number;
  transmissions: number;
  resolve: (r: TransactionResult) => void;
  reject: (e: Error) => void;
}

/**
 * Matches answers to requests over one channel. A response counts only when
 * its transaction ID is pending, it is a response to the same method, it came
 * from the server's address, and its FINGERPRINT (when present) is valid.
 * Everything else is reported through `onIgnored` and dropped.
 */
export class StunTransactor {
  private readonly pending = new Map<string, Pending>();
  private fatal: Error | undefined;

  constructor(
    private readonly channel: Channel,
    private readonly onIgnored: (m: IgnoredMessage) => void = () => {},
    private readonly onOther?: (data: Buffer, from: Endpoint) => boolean,
  ) {
    channel.on('message', (data, from, stray) => this.onMessage(data, from, stray));
    channel.on('error', (err) => {
      this.fatal = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  private onMessage(data: Buffer, from: Endpoint, stray: boolean): void {
    let msg: StunMessage;
    try {
      msg = decodeMessage(data);
    } catch (err) {
      if (!stray && this.onOther?.(data, from)) return;
      const reason = err instanceof StunDecodeError ? err.message : String(err);
      this.onIgnored({ reason: 'malformed', from, detail: `${data.length} bytes: ${reason}` });
      return;
    }
    const key = msg.transactionId.toString('hex');
    const p = this.pending.get(key);
    if (stray) {
      this.onIgnored({
        reason: 'wrong-source',
        from,
        detail: `${p ? 'matching' : 'unknown'} transaction ID from ${formatEndpoint(from)}, request went to ${formatEndpoint(this.channel.remote)}`,
      });
      return;
    }
    if (msg.cls === StunClass.Request || msg.cls === StunClass.Indication) {
      if (this.onOther?.(data, from)) return;
      this.onIgnored({ reason: 'not-a-response', from, detail: `class ${msg.cls} message` });
      return;
    }
    if (!p) {
      this.onIgnored({ reason: 'unknown-transaction', from, detail: `transaction ID ${key}` });
      return;
    }
    if (msg.method !== p.method) {
      this.onIgnored({ reason: 'method-mismatch', from, detail: `method 0x${msg.method.toString(16)}, expected 0x${p.method.toString(16)}` });
      return;
    }
    if (verifyFingerprint(msg) === 'mismatch') {
      this.onIgnored({ reason: 'bad-fingerprint', from, detail: 'FINGERPRINT does not match' });
      return;
    }
    this.pending.delete(key);
    p.resolve({
      response: msg,
      rtt: performance.now() - p.sentAt,
      transmissions: p.transmissions,
      ambiguous: p.transmissions > 1,
    });
  }

  /** Send an encoded request and wait for its answer (success or error response). */
  transact(request: Buffer, method: number, o: TransactOptions): Promise<TransactionResult> {
    if (this.fatal) return Promise.reject(this.fatal);
    const key = request.subarray(8, 20).toString('hex');
    return new Promise<TransactionResult>((resolve, reject) => {
      const timers: NodeJS.Timeout[] = [];
      const cleanup = () => {
        for (const t of timers) clearTimeout(t);
        o.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(key);
      };
      const p: Pending = {
        method,
        sentAt: 0,
        transmissions: 0,
        resolve: (r) => { cleanup(); resolve(r); },
        reject: (e) => { cleanup(); reject(e); },
      };
      const onAbort = () => p.reject(new RtcprobeError('ABORTED', 'aborted', { cause: o.signal?.reason }));
      if (o.signal?.aborted) { onAbort(); return; }
      o.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(key, p);
      const send = () => {
        try {
          p.sentAt = performance.now();
          p.transmissions++;
          this.channel.send(request);
        } catch (err) {
          p.reject(toRtcprobeError(err));
        }
      };
      const schedule = this.channel.reliable
        ? { sendAt: [0], giveUpAt: o.timeout }
        : retransmitSchedule(o.retransmit);
      send();
      for (const at of schedule.sendAt.slice(1)) timers.push(setTimeout(send, at));
      timers.push(
        setTimeout(() => {
          p.reject(new RtcprobeError('TIMEOUT', `no answer after ${p.transmissions} request(s) in ${schedule.giveUpAt} ms`));
        }, schedule.giveUpAt),
      );
    });
  }
}
