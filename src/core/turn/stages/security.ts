/**
 * Stage 4 (--security, on the first server with an allocation): permissions
 * toward loopback, private, link-local, metadata and other special peers
 * must be refused. IPv6 peers are asked through an IPv6 allocation and IPv4
 * peers through an IPv4 one, when the server grants both.
 * Rows: security.<peer address>, relay-family.
 */
import { ErrorCodes } from '../../stun/constants.js';
import { FORBIDDEN_PEERS } from '../addresses.js';
import { TurnClient, TurnErrorResponse } from '../client.js';
import { addr, errText, isCode, type ServerCheck } from '../context.js';
import { forbiddenPeerGranted } from '../hints.js';
import { familyMismatchRow } from './allocate.js';

export async function securityProbes(x: ServerCheck, a: TurnClient): Promise<void> {
  x.securityRan = true;
  x.progress('probing forbidden peers');
  const add = (peer: string, status: 'pass' | 'warn' | 'fail', detail: string, hint = '') => x.addGlobal(`security.${peer}`, status, detail, hint);
  const v4 = a.allocation!.relayed.family === 4;
  // An allocation of the other family, when the server has one, for the peers of that family.
  let other: TurnClient | undefined;
  let otherErr: string | undefined;
  try {
    other = await x.open(x.t.credentials);
    await other.allocate({ family: v4 ? 6 : 4 });
    const mm = other.familyMismatch;
    if (mm) {
      // Permissions on it would say nothing about peers of the family asked for.
      familyMismatchRow(x, mm);
      otherErr = `IPv${mm.asked} was asked for, the server granted IPv${mm.granted.family} ${addr(mm.granted)}`;
      await other.deallocate().catch(() => {});
      other = undefined;
    }
  } catch (err) {
    otherErr = err instanceof TurnErrorResponse ? (err.errorCode ? `${err.errorCode} ${err.reason}` : 'error without ERROR-CODE') : errText(err);
    other = undefined;
  }
  for (const p of FORBIDDEN_PEERS) {
    const isV6 = p.address.includes(':');
    const client = isV6 === !v4 ? a : other;
    try {
      if (!client) {
        add(p.address, 'pass', `${p.label} ${p.address}: unreachable: the server gave no IPv${isV6 ? 6 : 4} relayed address (${otherErr})`);
        continue;
      }
      await client.createPermission([{ address: p.address }]);
      add(p.address, 'fail', `the server granted a permission toward ${p.label} ${p.address}: clients could use the relay to reach that address`, x.hint(forbiddenPeerGranted(p)));
    } catch (err) {
      if (isCode(err, ErrorCodes.Forbidden)) add(p.address, 'pass', `${p.label} ${p.address}: refused with 403`);
      else if (err instanceof TurnErrorResponse) add(p.address, 'pass', `${p.label} ${p.address}: refused with ${err.errorCode ? `${err.errorCode} ${err.reason}` : 'an error without ERROR-CODE'}`);
      else add(p.address, 'warn', `${p.label} ${p.address}: no answer (${errText(err)})`, '');
    }
  }
  if (other?.allocation) await other.deallocate().catch(() => {});
}
