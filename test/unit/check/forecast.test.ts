import { describe, expect, it } from 'vitest';
import { connectivity, forecast, REMOTE_CLASSES, relayClauses, verdictOf, type PathKind, type RelayPath } from '../../../src/core/check/forecast.js';
import type { NatType } from '../../../src/core/nat/types.js';
import type { Transport } from '../../../src/core/uri.js';

const relay = (transport: Transport, status: RelayPath['status'], port = transport === 'tls' ? 443 : 3478): RelayPath => ({ url: `turn:203.0.113.1:${port}?${transport}`, transport, port, status });
const works = (...ts: Transport[]) => ts.map((t) => relay(t, 'works'));

/** The forecast as one string per local class: paths for open, full, restricted, port-restricted, symmetric, udp-blocked remotes. */
function paths(natType: NatType, relays: RelayPath[], udp: boolean | null = true, mapping: 'endpoint-independent' | 'unknown' | 'address-and-port-dependent' = 'endpoint-independent'): PathKind[] {
  return forecast({ natType, mapping, udp, relays }).rows.map((r) => r.path);
}

describe('forecast table: NAT class here x paths that work -> path per remote class', () => {
  it('rows are the remote classes in order', () => {
    expect(forecast({ natType: 'full-cone', mapping: 'endpoint-independent', udp: true, relays: [] }).rows.map((r) => r.remote)).toEqual([...REMOTE_CLASSES]);
  });

  const D = 'direct', U = 'turn-udp', T = 'turn-tcp', S = 'turn-tls', N = 'none', Q = 'unknown';
  const cases: [string, NatType, RelayPath[], boolean | null, PathKind[]][] = [
    // local NAT        relays that work               udp    open full restr port-r sym  udp-blocked
    ['open, no TURN', 'open-internet', [], true, [D, D, D, D, D, N]],
    ['full cone, no TURN', 'full-cone', [], true, [D, D, D, D, D, N]],
    ['port-restricted, no TURN', 'port-restricted-cone', [], true, [D, D, D, D, N, N]],
    ['port-restricted, TURN/UDP', 'port-restricted-cone', works('udp'), true, [D, D, D, D, U, N]],
    ['port-restricted, TURN/UDP+TLS', 'port-restricted-cone', works('udp', 'tls'), true, [D, D, D, D, U, S]],
    ['symmetric, no TURN', 'symmetric', [], true, [D, D, D, N, N, N]],
    ['symmetric, TURN/UDP', 'symmetric', works('udp'), true, [D, D, D, U, U, N]],
    ['symmetric, TURN/TCP only', 'symmetric', works('tcp'), true, [D, D, D, T, T, T]],
    ['UDP blocked, TURN/TCP+TLS', 'udp-blocked', works('tcp', 'tls'), false, [T, T, T, T, T, T]],
    ['UDP blocked, TURN/UDP only', 'udp-blocked', works('udp'), false, [N, N, N, N, N, N]],
    ['UDP blocked, TURN/TLS only', 'udp-blocked', works('tls'), false, [S, S, S, S, S, S]],
    ['UDP blocked, no TURN', 'udp-blocked', [], false, [N, N, N, N, N, N]],
    ['unknown NAT, no TURN', 'unknown', [], true, [Q, Q, Q, Q, Q, N]],
    ['unknown NAT, TURN/UDP', 'unknown', works('udp'), true, [U, U, U, U, U, N]],
  ];
  for (const [name, nat, relays, udp, want] of cases) {
    it(name, () => expect(paths(nat, relays, udp, nat === 'unknown' ? 'unknown' : 'endpoint-independent')).toEqual(want));
  }

  it('failed, blocked and unverified relays count as not working', () => {
    expect(paths('symmetric', [relay('udp', 'failed'), relay('tcp', 'blocked'), relay('tls', 'not-verified')])).toEqual([D, D, D, N, N, N]);
  });

  it('no UDP out overrides a NAT type measured earlier', () => {
    expect(paths('full-cone', works('tcp'), false)).toEqual([T, T, T, T, T, T]);
  });

  it('an unknown type with an endpoint-independent mapping is taken as port-restricted at worst', () => {
    const f = forecast({ natType: 'unknown', mapping: 'endpoint-independent', udp: true, relays: [] });
    expect(f.local).toBe('port-restricted-cone');
    expect(f.rows.map((r) => r.path)).toEqual([D, D, D, D, N, N]);
    expect(f.basis).toMatch(/Derived from what was measured/);
  });

  it('says it is derived and that the remote side was not measured', () => {
    const f = forecast({ natType: 'symmetric', mapping: 'address-and-port-dependent', udp: true, relays: works('udp') });
    expect(f.basis).toContain('Derived from what was measured here');
    expect(f.basis).toContain('The remote side was not measured');
  });
});

describe('verdict', () => {
  it('connectivity: yes, partly, no, unknown', () => {
    expect(connectivity(forecast({ natType: 'symmetric', mapping: 'address-and-port-dependent', udp: true, relays: works('udp') }))).toBe('yes');
    expect(connectivity(forecast({ natType: 'symmetric', mapping: 'address-and-port-dependent', udp: true, relays: [] }))).toBe('partly');
    expect(connectivity(forecast({ natType: 'udp-blocked', mapping: 'unknown', udp: false, relays: [] }))).toBe('no');
    expect(connectivity(forecast({ natType: 'unknown', mapping: 'unknown', udp: true, relays: [] }))).toBe('unknown');
  });

  it('symmetric NAT with TURN/UDP: direct P2P unlikely, TURN/UDP works', () => {
    const relays = works('udp');
    const v = verdictOf(forecast({ natType: 'symmetric', mapping: 'address-and-port-dependent', udp: true, relays }), relays, []);
    expect(v.text).toBe('Calls will connect: direct P2P unlikely; TURN/UDP works');
    expect(v.ok).toBe(true);
  });

  it('the example of the design: most NATs, TURN/UDP and TLS on 443 work, TCP 3478 blocked', () => {
    const relays = [relay('udp', 'works'), relay('tcp', 'blocked'), relay('tls', 'works')];
    const v = verdictOf(forecast({ natType: 'port-restricted-cone', mapping: 'endpoint-independent', udp: true, relays }), relays, []);
    expect(v.text).toBe('Calls will connect: direct P2P with most NATs; TURN/UDP and TURN/TLS on 443 work; TURN/TCP on 3478 blocked');
  });

  it('UDP blocked with TCP and TLS: only TURN over TCP/TLS works', () => {
    const relays = [relay('udp', 'blocked'), relay('tcp', 'works'), relay('tls', 'works')];
    const v = verdictOf(forecast({ natType: 'unknown', mapping: 'unknown', udp: false, relays }), relays, []);
    expect(v.text).toBe('Calls will connect: only TURN over TCP/TLS works (UDP blocked here); TURN/TCP on 3478 and TURN/TLS on 443 work');
    expect(v.ok).toBe(true);
  });

  it('a broken server fails the run even when calls connect', () => {
    const relays = [relay('udp', 'works'), relay('udp', 'failed')];
    const v = verdictOf(forecast({ natType: 'full-cone', mapping: 'endpoint-independent', udp: true, relays }), relays, [{ url: 'turn:203.0.113.9', cause: '401' }]);
    expect(v.connect).toBe('yes');
    expect(v.ok).toBe(false);
    expect(v.text).toMatch(/1 configured server broken$/);
  });

  it('no UDP and no relay: calls will not connect', () => {
    const v = verdictOf(forecast({ natType: 'udp-blocked', mapping: 'unknown', udp: false, relays: [] }), [], []);
    expect(v.text).toBe('Calls will not connect: UDP blocked here: no direct P2P; no TURN server configured');
    expect(v.ok).toBe(false);
  });

  it('relay clauses name each transport once per status', () => {
    expect(relayClauses([relay('udp', 'works'), relay('udp', 'works'), relay('tcp', 'failed')])).toEqual(['TURN/UDP works', 'TURN/TCP on 3478 failed']);
    expect(relayClauses([relay('tls', 'not-verified'), relay('udp', 'blocked')])).toEqual(['TURN/UDP blocked', 'TURN/TLS on 443 not verified']);
  });
});
