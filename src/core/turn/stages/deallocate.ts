/**
 * The allocation's lifetime: Refresh must extend it, and Deallocate (a
 * Refresh with LIFETIME=0) must free it, shown by a new Allocate on the same
 * 5-tuple succeeding (or, over TCP/TLS, the server closing the connection).
 * Rows: refresh, deallocate.
 */
import { toRtcprobeError } from '../../errors.js';
import { sleep } from '../../sleep.js';
import { ErrorCodes } from '../../stun/constants.js';
import type { TurnClient } from '../client.js';
import { errText, isCode, type ServerCheck } from '../context.js';

/** How often a freed allocation is looked for, ms. */
const POLL_MS = 250;

export async function refreshCheck(x: ServerCheck, a: TurnClient): Promise<void> {
  try {
    const life = await a.refresh(600);
    x.add('refresh', 'pass', `Refresh accepted, lifetime ${life ?? '?'} s`);
  } catch (err) {
    x.add('refresh', 'fail', `Refresh failed: ${errText(err)}`, 'allocations will expire after their first lifetime and calls will drop: check the server logs');
  }
}

export async function deallocateCheck(x: ServerCheck, a: TurnClient): Promise<void> {
  x.progress('deallocating');
  try {
    await a.deallocate();
  } catch (err) {
    x.add('deallocate', 'fail', `Refresh with LIFETIME=0 failed: ${errText(err)}`, 'allocations will linger until they expire, holding relay ports');
    return;
  }
  // coturn frees the allocation on its next timer tick, so poll (bounded).
  const t0 = performance.now();
  const limit = Math.max(3000, x.o.timeout);
  for (;;) {
    try {
      await a.allocate(x.relayFamily ? { family: x.relayFamily } : {});
      x.add('deallocate', 'pass', `LIFETIME=0 accepted and the allocation freed: a new Allocate on the same 5-tuple succeeded after ${Math.round(performance.now() - t0)} ms`);
      await a.deallocate().catch(() => {});
      return;
    } catch (err) {
      if (x.transport !== 'udp' && toRtcprobeError(err).code === 'CONNECTION') {
        // Over TCP/TLS the connection is the 5-tuple: coturn closes it along with the allocation.
        x.add('deallocate', 'pass', `LIFETIME=0 accepted and the allocation freed: the server closed the ${x.transport.toUpperCase()} connection that carried it after ${Math.round(performance.now() - t0)} ms`);
        return;
      }
      if (!isCode(err, ErrorCodes.AllocationMismatch)) {
        x.add('deallocate', 'warn', `LIFETIME=0 accepted; re-allocating on the same 5-tuple then failed: ${errText(err)}`, '');
        return;
      }
    }
    if (performance.now() - t0 > limit) {
      x.add('deallocate', 'fail', `LIFETIME=0 accepted, but the allocation still exists after ${limit} ms (437 to a new Allocate)`, 'the server does not free allocations on request');
      return;
    }
    await sleep(POLL_MS, x.o.signal);
  }
}
