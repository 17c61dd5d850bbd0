/**
 * Stage 5 (--quota N, on the first server with an allocation): open more
 * allocations for the same user until the server answers 486 (Allocation
 * Quota Reached) or N more succeed. The extra allocations are released here.
 * Row: quota.
 */
import { ErrorCodes } from '../../stun/constants.js';
import type { TurnClient } from '../client.js';
import { errText, isCode, releaseAll, type ServerCheck } from '../context.js';
import { NO_QUOTA } from '../hints.js';

export async function quotaProbe(x: ServerCheck): Promise<void> {
  x.quotaRan = true;
  x.progress('looking for the allocation quota');
  const extra: TurnClient[] = [];
  // The two allocations of the checks so far (A, B) are still held.
  const held = 2;
  try {
    for (let i = 0; i < x.o.quota; i++) {
      const c = await x.open(x.t.credentials);
      extra.push(c);
      try {
        await c.allocate(x.relayFamily ? { family: x.relayFamily } : {});
      } catch (err) {
        if (isCode(err, ErrorCodes.AllocationQuotaReached)) {
          x.addGlobal('quota', 'pass', `allocation quota reached after ${held + i} simultaneous allocations (486)`, '');
          return;
        }
        x.addGlobal('quota', 'warn', `allocation ${held + i + 1} failed before any quota answer: ${errText(err)}`, '');
        return;
      }
    }
    x.addGlobal('quota', 'warn', `no quota: ${held + x.o.quota} simultaneous allocations succeeded for one user`, x.hint(NO_QUOTA));
  } finally {
    await releaseAll(extra);
  }
}
