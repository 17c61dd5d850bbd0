import { describe, expect, it } from 'vitest';
import { relayPathsOf, targetsOf } from '../../../src/core/check/run.js';
import { parseRouteV4, parseRouteV6 } from '../../../src/core/check/network.js';
import { metricsText } from '../../../src/core/check/metrics.js';
import type { TurnServerRow } from '../../../src/core/check/report.js';

const row = (url: string, transport: 'udp' | 'tcp' | 'tls', verdict: TurnServerRow['verdict'], answered: boolean, fail?: string): TurnServerRow => ({
  url, transport, port: 3478, verdict, headline: verdict, answered, elapsedMs: 1,
  checks: fail ? [{ id: `${transport}.auth`, status: 'fail', detail: fail, hint: '' }] : [],
});

describe('targets of a configuration', () => {
  it('splits STUN and TURN URLs and lists the ones that do not parse', () => {
    const t = targetsOf([{ urls: ['stun:203.0.113.1', 'turns:203.0.113.1', 'http://x'] }, { urls: ['turn:203.0.113.1?transport=tcp'], username: 'u', credential: 'p' }]);
    expect(t.stun.map((x) => [x.url, x.transport, x.port])).toEqual([['stun:203.0.113.1', 'udp', 3478]]);
    expect(t.turn.map((x) => [x.url, x.transport, x.port])).toEqual([['turns:203.0.113.1', 'tls', 5349], ['turn:203.0.113.1?transport=tcp', 'tcp', 3478]]);
    expect(t.invalid.map((x) => x.url)).toEqual(['http://x']);
  });
});

describe('relayed paths from the TURN rows', () => {
  const host = (u: string) => u.replace(/^turns?:/, '').split(/[:?]/)[0]!;

  it('silence over a transport the host answers elsewhere is "blocked"; silence from a host that never answered is a dead server', () => {
    const turn = [row('turn:203.0.113.1', 'udp', 'failed', false, 'no answer'), row('turn:203.0.113.1?transport=tcp', 'tcp', 'works', true), row('turn:203.0.113.9', 'udp', 'failed', false, 'no answer')];
    const answered = new Set(['203.0.113.1', '203.0.113.1|tcp']);
    const { relays, broken } = relayPathsOf(turn, [], answered, host);
    expect(relays.map((r) => r.status)).toEqual(['blocked', 'works', 'failed']);
    expect(broken.map((b) => b.url)).toEqual(['turn:203.0.113.9']);
  });

  it('a server that answered and failed is broken, with the failing row as the cause', () => {
    const { relays, broken } = relayPathsOf([row('turn:203.0.113.1', 'udp', 'failed', true, 'the server rejected these credentials')], [], new Set(['203.0.113.1', '203.0.113.1|udp']), host);
    expect(relays[0]!.status).toBe('failed');
    expect(broken).toEqual([{ url: 'turn:203.0.113.1', cause: 'the server rejected these credentials' }]);
  });

  it('a failed row this host\'s network explains does not make the server broken', () => {
    const r = { ...row('turn:203.0.113.1', 'udp', 'failed', true, '0/10 Send indications arrived'), relayedAddress: '203.0.113.1:50000' };
    r.checks = [{ id: 'udp.relay-to-peer', status: 'fail', detail: '0/10 Send indications arrived', hint: '' }];
    const excuse = (c: { id: string }) => (c.id.endsWith('.relay-to-peer') ? 'dropped by this host\'s NAT' : undefined);
    const { relays, broken } = relayPathsOf([r], [], new Set(), host, excuse);
    expect(relays[0]).toMatchObject({ status: 'works', note: 'dropped by this host\'s NAT' });
    expect(broken).toEqual([]);
    // Without the excuse it is a failure, and another failed row is never excused.
    expect(relayPathsOf([r], [], new Set(), host).broken).toHaveLength(1);
    const auth = { ...r, checks: [...r.checks, { id: 'udp.auth', status: 'fail' as const, detail: 'rejected', hint: '' }] };
    expect(relayPathsOf([auth], [], new Set(), host, excuse).broken).toEqual([{ url: 'turn:203.0.113.1', cause: 'rejected' }]);
  });

  it('the end-to-end data channel has the last word', () => {
    const e2e = [{ url: 'turn:203.0.113.1', transport: 'udp' as const, verdict: 'failed' as const, error: { code: 'ICE_FAILED', message: 'no pair', phase: 'ice' } }];
    const { relays } = relayPathsOf([row('turn:203.0.113.1', 'udp', 'works', true)], e2e, new Set(), host);
    expect(relays[0]).toMatchObject({ status: 'failed', provenBy: 'e2e', cause: 'end to end: ice: no pair' });
    const ok = relayPathsOf([row('turn:203.0.113.1', 'udp', 'not-verified', true)], [{ ...e2e[0]!, verdict: 'works' as const }], new Set(), host);
    expect(ok.relays[0]).toMatchObject({ status: 'works', provenBy: 'e2e' });
  });
});

describe('/proc route parsers', () => {
  it('IPv4 default route with its gateway', () => {
    const text = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
    expect(parseRouteV4(text)).toEqual([{ family: 4, dev: 'eth0', gateway: '192.0.2.1' }]);
  });
  it('IPv6 default route, compressed gateway; loopback entries ignored', () => {
    const text = [
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
    ].join('\n');
    expect(parseRouteV6(text)).toEqual([{ family: 6, dev: 'eth0', gateway: 'fd00::1' }]);
  });
});

describe('metrics text', () => {
  it('before any round: the counters and gauges, no labelled samples', () => {
    const t = metricsText({ rounds: 0 });
    expect(t).toContain('# TYPE rtcprobe_check_rounds_total counter\nrtcprobe_check_rounds_total 0\n');
    expect(t).toContain('rtcprobe_check_success 0\n');
    expect(t).not.toContain('rtcprobe_check_relay_up{');
  });
});
