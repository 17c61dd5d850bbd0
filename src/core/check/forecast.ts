/**
 * The forecast and the verdict of `rtcprobe check`, from what the steps
 * measured: for a remote peer behind each NAT class, how a call would
 * connect (directly, through TURN over udp, tcp or tls, or not at all), and
 * the first line of the report. Pure: no I/O, no clock.
 */
import { NAT_PAIRS } from '../nat/classify.js';
import type { Behaviour, NatType } from '../nat/types.js';
import type { Transport } from '../uri.js';

/** How a call with a remote peer would connect. `unknown`: nothing measured decides it. */
export type PathKind = 'direct' | 'turn-udp' | 'turn-tcp' | 'turn-tls' | 'none' | 'unknown';

/** The NAT classes a remote peer may sit behind (the rows of the forecast table). */
export const REMOTE_CLASSES = ['open-internet', 'full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric', 'udp-blocked'] as const;
export type RemoteClass = (typeof REMOTE_CLASSES)[number];

/** One relayed path through a configured TURN URL, as the checks found it. */
export interface RelayPath {
  url: string;
  transport: Transport;
  port: number;
  /** works: an allocation and relayed data (or the end-to-end data channel) were shown; failed: the server answered but did not work; blocked: no answer over this transport. */
  status: 'works' | 'failed' | 'blocked' | 'not-verified';
  /** Why, when it does not work. */
  cause?: string;
  /** What proved it: the TURN checks, or the end-to-end data channel (which wins). */
  provenBy?: 'turn' | 'e2e';
  /** A failed check this host's network explains (not counted against the server). */
  note?: string;
}

export interface ForecastInput {
  /** This host's NAT type, from the NAT step ('unknown' when it did not reach a verdict). */
  natType: NatType;
  /** The mapping behaviour, used when the type is unknown. */
  mapping: Behaviour;
  /** Whether UDP leaves the network: true when a server answered over UDP, false when none did, null when nothing was tried. */
  udp: boolean | null;
  relays: readonly RelayPath[];
}

export interface ForecastRow {
  remote: RemoteClass;
  path: PathKind;
  /** Why, in words. */
  why: string;
}

export interface Forecast {
  /** The local NAT class the table assumes (udp-blocked when no UDP left the network). */
  local: NatType;
  rows: ForecastRow[];
  /** How the table was derived, said plainly. */
  basis: string;
}

const RELAY_ORDER: readonly Transport[] = ['udp', 'tcp', 'tls'];
const pathOf = (t: Transport): PathKind => `turn-${t}` as PathKind;

/** The transports over which a relay works from here, best first (udp, tcp, tls). */
export function workingTransports(relays: readonly RelayPath[]): Transport[] {
  return RELAY_ORDER.filter((t) => relays.some((r) => r.transport === t && r.status === 'works'));
}

/**
 * The local class the forecast assumes: udp-blocked when no UDP left; the
 * measured type; with an unknown type but an endpoint-independent (or no)
 * mapping, port-restricted cone, the strictest class such a mapping allows.
 */
export function assumedLocal(i: Pick<ForecastInput, 'natType' | 'mapping' | 'udp'>): NatType {
  if (i.udp === false || i.natType === 'udp-blocked') return 'udp-blocked';
  if (i.natType !== 'unknown') return i.natType;
  if (i.mapping === 'endpoint-independent' || i.mapping === 'none') return 'port-restricted-cone';
  return 'unknown';
}

/**
 * The forecast table. Direct when both sides have UDP and the NAT pair
 * connects without port prediction (the table of `nat`). Otherwise through
 * TURN, over the best transport that works from here; a remote peer without
 * UDP needs the relay over TCP or TLS itself, which the table assumes it
 * reaches as this host does (the same configuration). `none` when no relay
 * works; `unknown` when this host's NAT was not classified and no relay works.
 */
export function forecast(i: ForecastInput): Forecast {
  const local = assumedLocal(i);
  const working = workingTransports(i.relays);
  const localTransports = local === 'udp-blocked' ? working.filter((t) => t !== 'udp') : working;
  const streamRelay = working.some((t) => t !== 'udp');
  const rows = REMOTE_CLASSES.map((remote): ForecastRow => {
    if (local !== 'unknown' && local !== 'udp-blocked' && remote !== 'udp-blocked' && NAT_PAIRS[local].direct.includes(remote)) {
      return { remote, path: 'direct', why: `${local} here and ${remote} there connect without a relay` };
    }
    const best = localTransports[0];
    if (best !== undefined && (remote !== 'udp-blocked' || streamRelay)) {
      const why = remote === 'udp-blocked'
        ? `the remote peer has no UDP: it needs TURN over TCP or TLS, which works from here`
        : local === 'udp-blocked' ? 'no UDP here: only a relay over TCP or TLS' : local === 'unknown' ? 'NAT type unknown here: the relay is the path shown to work' : `${local} here and ${remote} there need a relay`;
      // A remote peer without UDP reaches the relay over TCP or TLS: that is the transport the call depends on.
      const path = remote === 'udp-blocked' && best === 'udp' ? pathOf(working.find((t) => t !== 'udp')!) : pathOf(best);
      return { remote, path, why };
    }
    if (local === 'unknown' && remote !== 'udp-blocked') return { remote, path: 'unknown', why: 'NAT type unknown here and no TURN relay works' };
    if (remote === 'udp-blocked') return { remote, path: 'none', why: working.length ? 'the remote peer has no UDP and no TURN over TCP or TLS works' : 'the remote peer has no UDP and no TURN relay works' };
    return { remote, path: 'none', why: local === 'udp-blocked' ? 'no UDP here and no TURN over TCP or TLS works' : `${local} here and ${remote} there need a relay, and none works` };
  });
  const natWord = i.natType === 'unknown' ? (local === 'unknown' ? 'an unknown NAT' : `a ${local} NAT at worst (mapping ${i.mapping}, filtering unknown)`) : `a ${local} NAT`;
  const basis = `Derived from what was measured here (${i.udp === false ? 'no UDP leaves this network' : natWord}; TURN works over ${working.length ? working.join(', ') : 'no transport'}), assuming the remote peer uses the same ICE servers and reaches them as this host does. The remote side was not measured.`;
  return { local, rows, basis };
}

/** Whether calls connect from here: yes (every remote with UDP has a path), partly, no, or unknown. */
export type Connectivity = 'yes' | 'partly' | 'no' | 'unknown';

export function connectivity(f: Forecast): Connectivity {
  const withUdp = f.rows.filter((r) => r.remote !== 'udp-blocked');
  const ok = (p: PathKind) => p !== 'none' && p !== 'unknown';
  if (withUdp.every((r) => ok(r.path))) return 'yes';
  if (withUdp.some((r) => ok(r.path))) return 'partly';
  if (withUdp.some((r) => r.path === 'unknown')) return 'unknown';
  return 'no';
}

/** A configured server that does not work, with the cause in words. */
export interface BrokenServer {
  url: string;
  cause: string;
}

export interface Verdict {
  connect: Connectivity;
  /** The first line of the report. */
  text: string;
  /** Exit status: 0 when calls connect and no configured server is broken, else 1. */
  ok: boolean;
  broken: BrokenServer[];
}

const T_NAME: Record<Transport, string> = { udp: 'TURN/UDP', tcp: 'TURN/TCP', tls: 'TURN/TLS' };

/** "TURN/UDP", "TURN/TLS on 443" (the port of stream transports, where firewalls decide by port). */
function relayName(r: Pick<RelayPath, 'transport' | 'port'>, withPort: boolean): string {
  return withPort ? `${T_NAME[r.transport]} on ${r.port}` : T_NAME[r.transport];
}

const joinAnd = (xs: string[]) => (xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/** The relay clauses: "TURN/UDP and TURN/TLS on 443 work; TURN/TCP on 3478 blocked". */
export function relayClauses(relays: readonly RelayPath[]): string[] {
  const seen = new Set<string>();
  const by = (status: RelayPath['status']) => {
    const out: string[] = [];
    for (const r of relays) {
      if (r.status !== status) continue;
      const name = relayName(r, r.transport !== 'udp');
      const key = `${status}|${name}`;
      if (!seen.has(key)) {
        seen.add(key);
        out.push(name);
      }
    }
    return out;
  };
  const works = by('works');
  const blocked = by('blocked');
  const failed = by('failed');
  const clauses: string[] = [];
  if (works.length) clauses.push(`${joinAnd(works)} work${works.length === 1 ? 's' : ''}`);
  if (blocked.length) clauses.push(`${joinAnd(blocked)} blocked`);
  if (failed.length) clauses.push(`${joinAnd(failed)} failed`);
  const unverified = by('not-verified');
  if (unverified.length) clauses.push(`${joinAnd(unverified)} not verified`);
  return clauses;
}

/** The direct-path clause: "direct P2P with any NAT", "... with most NATs", "direct P2P unlikely", "no UDP: no direct P2P". */
export function directClause(f: Forecast): string {
  if (f.local === 'udp-blocked') return 'UDP blocked here: no direct P2P';
  const direct = f.rows.filter((r) => r.path === 'direct').map((r) => r.remote);
  if (f.local === 'unknown') return 'direct P2P not verified (NAT type unknown)';
  if (direct.includes('symmetric')) return 'direct P2P with any NAT that has UDP';
  // Port-restricted cone is the common home NAT: reaching it directly is "most".
  if (direct.includes('port-restricted-cone')) return 'direct P2P with most NATs';
  return 'direct P2P unlikely';
}

/**
 * The verdict: whether calls connect, the first line of the report
 * ("Calls will connect: direct P2P with most NATs; TURN/UDP and TURN/TLS on
 * 443 work; TURN/TCP on 3478 blocked"), and the exit status.
 */
export function verdictOf(f: Forecast, relays: readonly RelayPath[], broken: readonly BrokenServer[]): Verdict {
  const connect = connectivity(f);
  const head = connect === 'yes' ? 'Calls will connect' : connect === 'partly' ? 'Calls will connect with some peers only' : connect === 'no' ? 'Calls will not connect' : 'Not verified whether calls connect';
  const working = workingTransports(relays);
  const clauses: string[] = [];
  if (f.local === 'udp-blocked' && working.some((t) => t !== 'udp')) {
    clauses.push('only TURN over TCP/TLS works (UDP blocked here)');
    const rest = relayClauses(relays.filter((r) => r.transport !== 'udp'));
    clauses.push(...rest);
  } else {
    clauses.push(directClause(f));
    clauses.push(...relayClauses(relays));
  }
  if (relays.length === 0) clauses.push('no TURN server configured');
  if (broken.length) clauses.push(`${broken.length} configured server${broken.length === 1 ? '' : 's'} broken`);
  return { connect, text: `${head}: ${clauses.join('; ')}`, ok: connect === 'yes' && broken.length === 0, broken: [...broken] };
}
