/**
 * RFC 8489 §6.2.1 retransmission over unreliable transports: the first send
 * at 0, then after RTO, 2*RTO, 4*RTO... until Rc requests have been sent; after
 * the last one, wait Rm*RTO before giving up. A `timeout` caps the whole
 * transaction: no request is sent at or after it.
 */
export interface RetransmitOptions {
  /** Initial retransmission timeout, ms (RFC default 500; SHOULD be >= 500 on the Internet). */
  rto: number;
  /** Total number of requests (RFC default 7). */
  rc: number;
  /** Multiple of RTO to wait after the last request (RFC default 16). */
  rm: number;
  /** Overall cap in ms, or undefined for none. */
  timeout?: number;
}

export const RFC_RETRANSMIT: RetransmitOptions = { rto: 500, rc: 7, rm: 16 };

export interface Schedule {
  /** Offsets (ms from the first send) at which the request is (re)sent. */
  sendAt: number[];
  /** Offset at which the transaction fails. */
  giveUpAt: number;
}

export function retransmitSchedule(o: RetransmitOptions): Schedule {
  if (!(o.rto > 0) || !Number.isInteger(o.rc) || o.rc < 1 || !(o.rm > 0)) {
    throw new RangeError('retransmission needs rto > 0, an integer rc >= 1 and rm > 0');
  }
  const sendAt: number[] = [];
  let t = 0;
  let interval = o.rto;
  for (let i = 0; i < o.rc; i++) {
    if (o.timeout !== undefined && t >= o.timeout) break;
    sendAt.push(t);
    if (i < o.rc - 1) {
      t += interval;
      interval *= 2;
    }
  }
  const last = sendAt[sendAt.length - 1] ?? 0;
  let giveUpAt = sendAt.length === o.rc ? last + o.rm * o.rto : t;
  if (o.timeout !== undefined) giveUpAt = Math.min(giveUpAt, o.timeout);
  return { sendAt, giveUpAt };
}
