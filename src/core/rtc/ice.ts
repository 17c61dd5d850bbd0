/**
 * ICE server lists and candidate filtering for the headless peers. Pure (no
 * werift): the peer adapter converts these to werift's configuration.
 */
import { RtcprobeError } from '../errors.js';
import { toIceServer, type IceServer, type IceServerInput } from '../ice/servers.js';

const ICE_URL = /^(stun|stuns|turn|turns):/i;

/**
 * The ICE servers a headless peer may use (the project's `IceServer[]` from
 * `parseIceServers`, or RTCIceServer-like objects with `urls` a string).
 * Rejects URLs that are not stun:/stuns:/turn:/turns: and TURN entries
 * without credentials.
 */
export function toRtcIceServers(list: readonly (IceServer | IceServerInput)[]): IceServer[] {
  return list.map((entry, i) => {
    const e = toIceServer(entry, `iceServers[${i}]`);
    const urls = e.urls;
    if (urls.length === 0) throw new RtcprobeError('USAGE', `iceServers[${i}] has no URL`);
    for (const u of urls) if (!ICE_URL.test(u)) throw new RtcprobeError('USAGE', `iceServers[${i}]: "${u}" is not a stun:, stuns:, turn: or turns: URL`);
    if (urls.some((u) => /^turns?:/i.test(u)) && (e.username === undefined || e.credential === undefined)) {
      throw new RtcprobeError('USAGE', `iceServers[${i}]: a TURN server needs a username and a credential`);
    }
    return { urls, ...(e.username !== undefined ? { username: e.username } : {}), ...(e.credential !== undefined ? { credential: e.credential } : {}) };
  });
}

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

/** The `typ` of an ICE candidate line ("candidate:..." or "a=candidate:..."), or undefined. */
export function candidateType(line: string): CandidateType | undefined {
  const m = / typ (host|srflx|prflx|relay)(?:\s|$)/.exec(line);
  return m ? (m[1] as CandidateType) : undefined;
}

export function isRelayCandidate(line: string): boolean {
  return candidateType(line) === 'relay';
}

/**
 * Keep only relay candidates in an SDP: every `a=candidate` line whose type is
 * not relay is removed (end-of-candidates and everything else stays). A peer
 * with iceTransportPolicy "relay" may still advertise host candidates; this
 * makes sure the remote side can only reach it through the TURN server.
 */
export function relayOnlySdp(sdp: string): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp
    .split(/\r?\n/)
    .filter((l) => !l.startsWith('a=candidate:') || isRelayCandidate(l))
    .join(eol);
}

/** Candidate types present in an SDP, in order of appearance (deduplicated). */
export function sdpCandidateTypes(sdp: string): CandidateType[] {
  const out = new Set<CandidateType>();
  for (const l of sdp.split(/\r?\n/)) {
    if (!l.startsWith('a=candidate:')) continue;
    const t = candidateType(l);
    if (t) out.add(t);
  }
  return [...out];
}
