/**
 * RFC 5780 NAT behaviour classifier. Pure: it reads the raw observations the
 * runner collected and never touches the network. Every conclusion it draws is
 * backed by an observation; where the tests could not decide, it says
 * `unknown` and explains why in a warning.
 */
import { formatEndpoint, sameEndpoint as same, type Endpoint } from '../address.js';
import type {
  Behaviour,
  BindingObservation,
  Forecast,
  NatObservations,
  NatType,
  NatVerdict,
  Rating,
  Rfc5780Support,
} from './types.js';

const fmt = (a?: Endpoint | null): string => formatEndpoint(a);

function find(list: BindingObservation[], test: string): BindingObservation | undefined {
  return list.find((o) => o.test === test);
}

/** Classic (RFC 3489) name from the RFC 4787 behaviours. */
export function natTypeOf(mapping: Behaviour, filtering: Behaviour): NatType {
  if (mapping === 'address-dependent' || mapping === 'address-and-port-dependent') return 'symmetric';
  if (mapping === 'none') {
    if (filtering === 'none' || filtering === 'endpoint-independent') return 'open-internet';
    if (filtering === 'address-dependent') return 'restricted-cone';
    if (filtering === 'address-and-port-dependent') return 'port-restricted-cone';
    return 'unknown';
  }
  if (mapping === 'endpoint-independent') {
    if (filtering === 'endpoint-independent') return 'full-cone';
    if (filtering === 'address-dependent') return 'restricted-cone';
    if (filtering === 'address-and-port-dependent') return 'port-restricted-cone';
  }
  return 'unknown';
}

export function ratingOf(natType: NatType, mapping: Behaviour): Rating {
  if (natType === 'symmetric' || natType === 'udp-blocked') return 'hard';
  if (mapping === 'none' || mapping === 'endpoint-independent') return 'easy';
  return 'unknown';
}

type KnownNatType = Exclude<NatType, 'unknown'>;

/**
 * Whether two peers can connect directly (ICE over UDP, both sides sending
 * checks), without port prediction, and what the forecast says for each type.
 * Symmetric meets port-restricted: the symmetric side's mapping toward the
 * peer is not the one the peer learned, and the peer filters by port. Any
 * other pair with UDP works. This one table drives `forecastOf` and the pair
 * table of docs/nat.md (a test compares them).
 */
export const NAT_PAIRS: Record<KnownNatType, { direct: KnownNatType[]; forecast: string }> = {
  'open-internet': {
    direct: ['open-internet', 'full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric'],
    forecast: 'direct connection likely with any peer that has UDP',
  },
  'full-cone': {
    direct: ['open-internet', 'full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric'],
    forecast: 'direct connection likely with any peer that has UDP',
  },
  'restricted-cone': {
    direct: ['open-internet', 'full-cone', 'restricted-cone', 'port-restricted-cone', 'symmetric'],
    forecast: 'direct connection likely with any peer that has UDP',
  },
  'port-restricted-cone': {
    direct: ['open-internet', 'full-cone', 'restricted-cone', 'port-restricted-cone'],
    forecast: 'direct connection with open, full-cone, restricted-cone and port-restricted-cone peers; a peer behind a symmetric NAT needs TURN',
  },
  symmetric: {
    direct: ['open-internet', 'full-cone', 'restricted-cone'],
    forecast: 'direct connection only with open, full-cone or restricted-cone peers; with port-restricted or symmetric peers it needs TURN',
  },
  'udp-blocked': {
    direct: [],
    forecast: 'UDP is blocked: only TURN over TCP or TLS (port 443) can connect',
  },
};

/** The direct-connection table alone: for each NAT type, the peer types it reaches directly. */
export const DIRECT_PAIRS = Object.fromEntries(
  Object.entries(NAT_PAIRS).map(([t, row]) => [t, row.direct]),
) as Record<KnownNatType, KnownNatType[]>;

/** The types that have UDP at all: a type reaching all of them directly is "direct-likely". */
const WITH_UDP = (Object.keys(NAT_PAIRS) as KnownNatType[]).filter((t) => NAT_PAIRS[t].direct.length > 0);

export function forecastOf(natType: NatType, mapping: Behaviour): Forecast {
  if (natType !== 'unknown') {
    const { direct, forecast: text } = NAT_PAIRS[natType];
    const code = direct.length === 0 ? 'needs-turn' : WITH_UDP.every((t) => direct.includes(t)) ? 'direct-likely' : 'some-peers';
    return { code, text };
  }
  if (mapping === 'endpoint-independent' || mapping === 'none') {
    return {
      code: 'unknown',
      text: 'filtering unknown: direct connection works at least with non-symmetric peers; with a symmetric peer it depends on the filtering',
    };
  }
  return { code: 'unknown', text: 'NAT behaviour unknown: plan for TURN' };
}

function answered(o?: BindingObservation): o is BindingObservation & { mapped: Endpoint } {
  return !!o && o.outcome === 'answered' && !!o.mapped;
}

function rfc5780Of(obs: NatObservations, t1: BindingObservation | undefined): Rfc5780Support {
  if (!answered(t1)) return { supported: null, status: 'no-answer', detail: 'the server did not answer Test I' };
  // An RFC 3489 server sends CHANGED-ADDRESS instead of OTHER-ADDRESS; RFC 5780 clients use it the same way.
  const classic = !t1.otherAddress && !!t1.changedAddress;
  const other = t1.otherAddress ?? t1.changedAddress;
  const attr = classic ? 'CHANGED-ADDRESS' : 'OTHER-ADDRESS';
  if (!other) {
    return {
      supported: false,
      status: 'no-other-address',
      detail: `${obs.server} sends no OTHER-ADDRESS (nor the RFC 3489 CHANGED-ADDRESS): without its alternate address the mapping and filtering tests cannot run, so it does not support RFC 5780 NAT behaviour discovery`,
    };
  }
  const primary = t1.destination;
  if (other.address === primary.address || other.port === primary.port) {
    return { supported: false, status: 'other-address-unusable', detail: `${attr} ${fmt(other)} does not differ from ${fmt(primary)} in both IP and port` };
  }
  for (const f of obs.filtering) {
    if (f.outcome === 'wrong-source') {
      return {
        supported: false,
        status: 'change-request-ignored',
        detail: `${obs.server} does not honour CHANGE-REQUEST: ${f.test} was answered from ${fmt(f.source)}, expected ${fmt(f.expectedSource)}`,
      };
    }
    if (f.outcome === 'error-response') {
      return {
        supported: false,
        status: 'change-request-rejected',
        detail: `${obs.server} rejects CHANGE-REQUEST: ${f.test} got error ${f.errorCode?.code ?? '?'} ${f.errorCode?.reason ?? ''}`.trim(),
      };
    }
  }
  if (classic) {
    return { supported: true, status: 'classic', detail: `RFC 3489 server: no OTHER-ADDRESS; its CHANGED-ADDRESS ${fmt(other)} was used instead` };
  }
  return { supported: true, status: 'supported', detail: `OTHER-ADDRESS ${fmt(other)}` };
}

interface MappingFromCompare {
  behaviour: Behaviour;
  varies: boolean | null;
  note?: string;
}

/** Compare Test I answers seen by several servers from one socket. */
export function compareMappings(compare: BindingObservation[]): MappingFromCompare {
  const ok = compare.filter(answered);
  const distinct = new Set(ok.map((o) => `${o.destination.address}|${o.destination.port}`));
  if (distinct.size < 2) return { behaviour: 'unknown', varies: null };
  const mappings = new Set(ok.map((o) => fmt(o.mapped)));
  if (mappings.size === 1) {
    return { behaviour: 'endpoint-independent', varies: false, note: `${distinct.size} servers saw the same mapping ${[...mappings][0]}` };
  }
  // The mapping varies. Tell address- from address-and-port-dependent only where
  // the servers allow it: two destinations on one IP, different ports.
  let samePortPair = false;
  let portSensitive = false;
  let ipOnly: boolean | null = null;
  for (const a of ok) {
    for (const b of ok) {
      if (a === b) continue;
      if (a.destination.address === b.destination.address && a.destination.port !== b.destination.port) {
        samePortPair = true;
        if (!same(a.mapped, b.mapped)) portSensitive = true;
      }
      if (a.destination.address !== b.destination.address && !same(a.mapped, b.mapped)) ipOnly = true;
    }
  }
  if (samePortPair && portSensitive) return { behaviour: 'address-and-port-dependent', varies: true };
  if (samePortPair && ipOnly) return { behaviour: 'address-dependent', varies: true };
  return {
    behaviour: 'unknown',
    varies: true,
    note: 'the mapping changes with the destination (not endpoint-independent); telling address- from address-and-port-dependent needs two servers on one IP',
  };
}

export function classify(obs: NatObservations): NatVerdict {
  const warnings: string[] = [];
  const m1 = find(obs.mapping, 'mapping-1');
  const m2 = find(obs.mapping, 'mapping-2');
  const m3 = find(obs.mapping, 'mapping-3');
  const f2 = find(obs.filtering, 'filtering-2');
  const f3 = find(obs.filtering, 'filtering-3');
  const all = [...obs.mapping, ...obs.filtering, ...obs.compare];

  const verdict: NatVerdict = {
    mapping: 'unknown',
    filtering: 'unknown',
    natType: 'unknown',
    rating: 'unknown',
    forecast: { code: 'unknown', text: '' },
    verdictReached: false,
    udpBlocked: false,
    rfc5780: rfc5780Of(obs, m1),
    publicAddress: null,
    localAddress: m1?.local ?? null,
    portPreserved: null,
    alg: false,
    hairpin: null,
    mappingVariesByDestination: null,
    lifetime: null,
    warnings,
  };
  const finish = (): NatVerdict => {
    verdict.rating = ratingOf(verdict.natType, verdict.mapping);
    verdict.forecast = forecastOf(verdict.natType, verdict.mapping);
    verdict.verdictReached = verdict.natType !== 'unknown' && verdict.natType !== 'udp-blocked' && !obs.interrupted;
    return verdict;
  };

  for (const f of obs.fallbacks ?? []) {
    warnings.push(`${f.server} was not used: ${f.code}: ${f.message}${obs.error ? '' : `; the tests ran against ${obs.server}`}`);
  }
  if (obs.interrupted) warnings.push('interrupted: tests still running were stopped, only finished ones are reported');
  if (obs.error) {
    warnings.push(`the tests could not run: ${obs.error.code}: ${obs.error.message}`);
    verdict.rfc5780 = { supported: null, status: 'no-answer', detail: 'not tested' };
    return finish();
  }

  // ALG: some answer carried a MAPPED-ADDRESS that differs from its XOR-MAPPED-ADDRESS.
  for (const o of all) {
    if (o.xorMapped && o.legacyMapped && !same(o.xorMapped, o.legacyMapped)) {
      verdict.alg = true;
    }
  }
  if (verdict.alg) warnings.push('an ALG rewrites addresses inside STUN payloads (MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS); it may break ICE candidates');
  for (const o of all) {
    if (o.outcome === 'wrong-source' && o.test.startsWith('mapping')) {
      warnings.push(`${o.test} was answered from ${fmt(o.source)} instead of ${fmt(o.expectedSource)}; the answer was not used`);
    }
    if (o.outcome === 'failed') warnings.push(`${o.test} (${o.server}) failed locally: ${o.detail ?? 'unknown error'}`);
    if (o.outcome === 'skipped' && o.test === 'compare' && !(obs.fallbacks ?? []).some((f) => f.server === o.server)) {
      warnings.push(`${o.server} was not compared: ${o.detail ?? 'skipped'}`);
    }
    if (o.outcome === 'unreachable') warnings.push(`${o.test} (${o.server}): ${o.detail ?? 'ICMP unreachable'}`);
  }

  // UDP blocked: not one answer, from any test, from any server.
  const anyAnswer = all.some((o) => o.outcome === 'answered' || o.outcome === 'wrong-source' || o.outcome === 'error-response');
  if (!anyAnswer) {
    const sent = all.filter((o) => o.outcome === 'timeout');
    if (sent.length > 0) {
      verdict.udpBlocked = true;
      verdict.natType = 'udp-blocked';
      verdict.rfc5780 = { supported: null, status: 'no-answer', detail: 'no server answered over UDP' };
      warnings.push(`no UDP answer from ${[...new Set(sent.map((o) => o.server))].join(', ')} after ${Math.max(...sent.map((o) => o.transmissions))} transmission(s): UDP is blocked on this path (or the servers are down)`);
    }
    return finish();
  }

  const usable = verdict.rfc5780.status === 'supported' || verdict.rfc5780.status === 'classic';

  // Mapped address and no-NAT detection, from Test I (or any compare answer).
  const base = answered(m1) ? m1 : obs.compare.find(answered);
  if (!answered(m1)) warnings.push(`${obs.server} did not answer Test I (${m1?.outcome ?? 'not run'})`);
  if (base && base.mapped) {
    verdict.publicAddress = base.mapped;
    verdict.localAddress = base.local;
    verdict.portPreserved = base.mapped.port === base.local.port;
  }
  const noNat = !!base?.mapped && same(base.mapped, base.local);
  if (base?.mapped && !noNat && base.mapped.address === base.local.address) {
    warnings.push('the mapped IP is the local IP but the port differs: a host firewall or proxy translates ports');
  }

  // Mapping behaviour.
  if (noNat) {
    verdict.mapping = 'none';
    for (const o of [m2, m3].filter(answered)) {
      if (!same(o.mapped, o.local)) warnings.push(`${o.test} saw ${fmt(o.mapped)}, not the local address ${fmt(o.local)}: address translation toward some destinations only`);
    }
  } else if (usable || (answered(m1) && (m1.otherAddress ?? m1.changedAddress) && answered(m2))) {
    if (answered(m1) && answered(m2)) {
      if (same(m1.mapped, m2.mapped)) verdict.mapping = 'endpoint-independent';
      else if (answered(m3)) verdict.mapping = same(m2.mapped, m3.mapped) ? 'address-dependent' : 'address-and-port-dependent';
      else warnings.push(`mapping Test III got no usable answer (${m3?.outcome ?? 'not run'}): mapping depends on the destination, but whether on its port too is unknown`);
      if (verdict.mapping === 'unknown') verdict.mappingVariesByDestination = true;
    } else if (answered(m1)) {
      warnings.push(`mapping Test II got no usable answer from the alternate address (${m2?.outcome ?? 'not run'}): mapping unknown`);
    }
  }

  // Fallback and cross-check: mappings seen by several servers.
  const cmp = compareMappings(obs.compare);
  if (cmp.varies !== null) verdict.mappingVariesByDestination = cmp.varies;
  if (verdict.mapping === 'unknown' && !noNat && cmp.varies !== null) {
    verdict.mapping = cmp.behaviour;
    if (cmp.note) warnings.push(cmp.note);
  } else if (!noNat && cmp.varies !== null && verdict.mapping !== 'unknown') {
    const eim = verdict.mapping === 'endpoint-independent';
    if (eim === cmp.varies) {
      warnings.push(`servers disagree: RFC 5780 tests say ${verdict.mapping} mapping, but comparing servers the mapping ${cmp.varies ? 'varies' : 'does not vary'} by destination (a NAT pool or several uplinks?)`);
    }
  }

  // Filtering behaviour: only from a server that honours CHANGE-REQUEST.
  if (usable && answered(m1)) {
    if (f2?.outcome === 'answered') {
      verdict.filtering = noNat ? 'none' : 'endpoint-independent';
      if (f3 && f3.outcome !== 'answered') warnings.push(`filtering Test II passed but Test III did not (${f3.outcome}): inconsistent filtering or loss`);
    } else if (f2?.outcome === 'timeout') {
      if (f3?.outcome === 'answered') verdict.filtering = 'address-dependent';
      else if (f3?.outcome === 'timeout') verdict.filtering = 'address-and-port-dependent';
      else warnings.push(`filtering Test III ${f3?.outcome ?? 'not run'}: filtering unknown`);
    } else {
      warnings.push(`filtering Test II ${f2?.outcome ?? 'not run'}: filtering unknown`);
    }
    if (noNat && verdict.filtering !== 'none' && verdict.filtering !== 'unknown') {
      warnings.push(`no NAT, but a firewall filters inbound UDP (${verdict.filtering})`);
    }
  } else if (verdict.rfc5780.supported === false) {
    warnings.push(`${verdict.rfc5780.detail}; filtering is unknown${obs.compare.length > 1 ? '' : ' (give several --server to at least compare mappings)'}`);
  }

  // Hairpinning.
  if (obs.hairpin) {
    if (noNat) verdict.hairpin = null;
    else {
      verdict.hairpin = obs.hairpin.received;
      if (obs.hairpin.received && obs.hairpin.senderMapped && obs.hairpin.from && !same(obs.hairpin.from, obs.hairpin.senderMapped)) {
        warnings.push(`hairpinned datagrams arrive from ${fmt(obs.hairpin.from)}, not from the sender's public mapping ${fmt(obs.hairpin.senderMapped)}`);
      }
    }
  }

  // Mapping lifetime.
  if (obs.lifetime) {
    const lt = obs.lifetime;
    if (noNat) {
      // No mapping to expire: whatever the probes saw is not a NAT lifetime.
      verdict.lifetime = { lowerSeconds: null, upperSeconds: null, text: 'not applicable: no NAT (the mapped address is the local address)' };
    } else if (lt.unsupported) {
      verdict.lifetime = { lowerSeconds: null, upperSeconds: null, text: `not measured: ${lt.unsupported}` };
    } else if (lt.control?.alive !== true && !lt.probes.some((p) => p.alive === true)) {
      // Silence counts as expiry only once an answer to RESPONSE-PORT has been seen.
      const why = obs.interrupted ? 'interrupted before the server was shown to answer to RESPONSE-PORT' : 'no answer to RESPONSE-PORT was seen, so silence proves nothing';
      verdict.lifetime = { lowerSeconds: null, upperSeconds: null, text: `not measured: ${why}` };
    } else {
      const alive = lt.probes.filter((p) => p.alive === true).map((p) => p.afterSeconds);
      const dead = lt.probes.filter((p) => p.alive === false).map((p) => p.afterSeconds);
      const lower = alive.length ? Math.max(...alive) : null;
      const deadAfter = dead.filter((d) => lower === null || d > lower);
      const upper = deadAfter.length ? Math.min(...deadAfter) : null;
      if (dead.some((d) => lower !== null && d < lower)) warnings.push('mapping lifetime probes disagree (a mapping expired before a longer-idle one): figures are approximate');
      let text: string;
      if (upper === null && lower !== null) text = `more than ${lower} s (still alive at the ${lt.boundSeconds} s bound)`;
      else if (upper !== null && lower !== null) text = `between ${lower} and ${upper} s`;
      else if (upper !== null) text = `less than ${upper} s`;
      else text = obs.interrupted ? 'unknown (interrupted before a probe ended)' : 'unknown (no probe got an answer)';
      verdict.lifetime = { lowerSeconds: lower, upperSeconds: upper, text };
    }
  }

  verdict.natType = verdict.mapping === 'unknown' && verdict.mappingVariesByDestination === true
    ? 'symmetric'
    : natTypeOf(verdict.mapping, verdict.filtering);
  return finish();
}
