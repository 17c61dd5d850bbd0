/**
 * `rtcprobe check --signal URL --room R`: the iceServers a signaling relay
 * hands its peers in `joined`, which is what an app's clients really get.
 * Joins once, takes the list, leaves.
 */
import { RtcprobeError } from '../errors.js';
import { toIceServer, type IceServer } from '../ice/servers.js';
import { SignalClient } from '../signaling/client.js';

export async function relayIceServers(o: { url: string; room: string; token?: string; ca?: Buffer; timeoutMs: number; signal: AbortSignal }): Promise<IceServer[]> {
  const client = new SignalClient({ url: o.url, room: o.room, reconnect: false, timeoutMs: o.timeoutMs, signal: o.signal, ...(o.token ? { token: o.token } : {}), ...(o.ca ? { ca: o.ca } : {}) });
  try {
    const joined = await client.connect();
    const list = joined.iceServers ?? [];
    if (list.length === 0) throw new RtcprobeError('USAGE', `the relay at ${o.url} hands out no iceServers in "joined" (is it started with --turn-secret or --ice-servers?)`);
    return list.map((e: unknown, i: number) => toIceServer(e, `joined.iceServers[${i}]`));
  } finally {
    await client.close();
  }
}
