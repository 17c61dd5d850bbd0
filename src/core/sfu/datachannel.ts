/**
 * How the SFU routes a data-channel message, pure. Every participant has a
 * small source number in its room (1, 2, ...). A message that is not a probe
 * goes to everyone else unchanged. A probe that is not an echo goes to
 * everyone else with its stream id set to the sender's source number, so a
 * receiver can tell the sources apart; an echo goes back only to the
 * participant whose source number it carries, with the stream id set to the
 * echoer's number (the originator sees who echoed).
 */
import { FLAG_ECHO, PROBE_HEADER_BYTES, PROBE_MAGIC } from '../bench/probe.js';

export type DcRoute = { to: 'all' } | { to: 'one'; source: number };

/** Decide the route of `data` from the participant numbered `fromSource`, rewriting its stream id in place when it is a probe. */
export function routeDataMessage(data: Buffer, fromSource: number): DcRoute {
  if (data.length < PROBE_HEADER_BYTES || data.readUInt32BE(0) !== PROBE_MAGIC) return { to: 'all' };
  const echo = (data.readUInt8(6) & FLAG_ECHO) !== 0;
  if (!echo) {
    data.writeUInt32BE(fromSource >>> 0, 8);
    return { to: 'all' };
  }
  const source = data.readUInt32BE(8);
  data.writeUInt32BE(fromSource >>> 0, 8);
  return { to: 'one', source };
}
