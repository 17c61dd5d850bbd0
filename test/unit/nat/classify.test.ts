import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { classify, compareMappings, DIRECT_PAIRS, forecastOf, NAT_PAIRS, natTypeOf } from '../../../src/core/nat/classify.js';
import type { Endpoint } from '../../../src/core/address.js';
import type { BindingObservation, NatObservations } from '../../../src/core/nat/types.js';

const SERVER: Endpoint = { address: '203.0.113.1', port: 3478 };
const OTHER: Endpoint = { address: '203.0.113.2', port: 3479 };
const LOCAL = (port: number): Endpoint => ({ address: '192.0.2.2', port });
const PUB = (port: number): Endpoint => ({ address: '198.51.100.2', port });

type Res = 'timeout' | 'wrong-source' | Endpoint | { error: number };

function o(test: string, local: Endpoint, destination: Endpoint, expectedSource: Endpoint, res: Res, extra: Partial<BindingObservation> = {}): BindingObservation {
  const base: BindingObservation = { test, server: '203.0.113.1', destination, expectedSource, local, socket: test, outcome: 'timeout', transmissions: 4, ...extra };
  if (res === 'timeout') return base;
  if (res === 'wrong-source') return { ...base, outcome: 'wrong-source', transmissions: 1, source: SERVER, mapped: PUB(local.port) };
  if ('error' in res) return { ...base, outcome: 'error-response', transmissions: 1, source: SERVER, errorCode: { code: res.error, reason: 'Unknown Attribute' } };
  return { ...base, outcome: 'answered', transmissions: 1, source: expectedSource, mapped: res, xorMapped: res, ...extra };
}

interface Case {
  m1: Res | null;
  other?: Endpoint | null;
  m2?: Res;
  m3?: Res;
  f2?: Res;
  f3?: Res;
  local?: number;
}

/** Observations for one RFC 5780 run; `local` is the mapping socket's port. */
function run(c: Case): NatObservations {
  const lm = LOCAL(c.local ?? 40000);
  const alt1 = { address: OTHER.address, port: SERVER.port };
  const mapping: BindingObservation[] = [];
  const filtering: BindingObservation[] = [];
  if (c.m1 !== null) {
    const other = c.other === undefined ? OTHER : c.other;
    mapping.push(o('mapping-1', lm, SERVER, SERVER, c.m1, other ? { otherAddress: other } : {}));
    if (c.m1 !== 'timeout' && other) {
      if (c.m2) mapping.push(o('mapping-2', lm, alt1, alt1, c.m2));
      if (c.m3) mapping.push(o('mapping-3', lm, OTHER, OTHER, c.m3));
      if (c.f2) filtering.push(o('filtering-2', LOCAL(40002), SERVER, OTHER, c.f2, { changeRequest: { changeIp: true, changePort: true } }));
      if (c.f3) filtering.push(o('filtering-3', LOCAL(40003), SERVER, { address: SERVER.address, port: OTHER.port }, c.f3, { changeRequest: { changeIp: false, changePort: true } }));
    }
  }
  return { family: 4, server: '203.0.113.1', serverAddress: SERVER, localAddress: lm.address, mapping, filtering, compare: [], hairpin: null, lifetime: null, ignored: [] };
}

const L = 40000;
const P = PUB(L);

describe('classify: RFC 5780 verdicts', () => {
  it.each([
    ['no NAT, no filtering', { m1: LOCAL(L), m2: LOCAL(L), m3: LOCAL(L), f2: LOCAL(40002), f3: LOCAL(40003) }, ['none', 'none', 'open-internet', 'easy', 'direct-likely']],
    ['no NAT behind a port-filtering firewall', { m1: LOCAL(L), m2: LOCAL(L), m3: LOCAL(L), f2: 'timeout', f3: 'timeout' }, ['none', 'address-and-port-dependent', 'port-restricted-cone', 'easy', 'some-peers']],
    ['EIM + EIF', { m1: P, m2: P, m3: P, f2: PUB(40002), f3: PUB(40003) }, ['endpoint-independent', 'endpoint-independent', 'full-cone', 'easy', 'direct-likely']],
    ['EIM + ADF', { m1: P, m2: P, m3: P, f2: 'timeout', f3: PUB(40003) }, ['endpoint-independent', 'address-dependent', 'restricted-cone', 'easy', 'direct-likely']],
    ['EIM + APDF', { m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' }, ['endpoint-independent', 'address-and-port-dependent', 'port-restricted-cone', 'easy', 'some-peers']],
    ['ADM', { m1: P, m2: PUB(50001), m3: PUB(50001), f2: 'timeout', f3: 'timeout' }, ['address-dependent', 'address-and-port-dependent', 'symmetric', 'hard', 'some-peers']],
    ['APDM', { m1: P, m2: PUB(50001), m3: PUB(50002), f2: 'timeout', f3: 'timeout' }, ['address-and-port-dependent', 'address-and-port-dependent', 'symmetric', 'hard', 'some-peers']],
    ['APDM with EIF still symmetric', { m1: P, m2: PUB(50001), m3: PUB(50002), f2: PUB(40002), f3: PUB(40003) }, ['address-and-port-dependent', 'endpoint-independent', 'symmetric', 'hard', 'some-peers']],
    ['UDP blocked', { m1: 'timeout' }, ['unknown', 'unknown', 'udp-blocked', 'hard', 'needs-turn']],
    ['server without OTHER-ADDRESS', { m1: P, other: null }, ['unknown', 'unknown', 'unknown', 'unknown', 'unknown']],
    ['CHANGE-REQUEST ignored: never a filtering verdict', { m1: P, m2: P, m3: P, f2: 'wrong-source', f3: 'wrong-source' }, ['endpoint-independent', 'unknown', 'unknown', 'easy', 'unknown']],
    ['CHANGE-REQUEST rejected with 420', { m1: P, m2: P, m3: P, f2: { error: 420 }, f3: { error: 420 } }, ['endpoint-independent', 'unknown', 'unknown', 'easy', 'unknown']],
    ['alternate address silent: mapping unknown', { m1: P, m2: 'timeout', m3: 'timeout', f2: 'timeout', f3: 'timeout' }, ['unknown', 'address-and-port-dependent', 'unknown', 'unknown', 'unknown']],
  ] as [string, Case, string[]][])('%s', (_name, c, [mapping, filtering, natType, rating, forecast]) => {
    const v = classify(run(c));
    expect([v.mapping, v.filtering, v.natType, v.rating, v.forecast.code]).toEqual([mapping, filtering, natType, rating, forecast]);
    expect(v.verdictReached).toBe(natType !== 'unknown' && natType !== 'udp-blocked');
  });

  it('explains why the server cannot support the test', () => {
    expect(classify(run({ m1: P, other: null })).rfc5780.status).toBe('no-other-address');
    expect(classify(run({ m1: P, other: { address: SERVER.address, port: 3479 } })).rfc5780.status).toBe('other-address-unusable');
    const ignored = classify(run({ m1: P, m2: P, m3: P, f2: 'wrong-source', f3: 'timeout' }));
    expect(ignored.rfc5780).toMatchObject({ supported: false, status: 'change-request-ignored' });
    expect(ignored.rfc5780.detail).toMatch(/does not honour CHANGE-REQUEST.*answered from 203\.0\.113\.1:3478, expected 203\.0\.113\.2:3479/);
    expect(classify(run({ m1: P, m2: P, m3: P, f2: { error: 420 }, f3: 'timeout' })).rfc5780.status).toBe('change-request-rejected');
    expect(classify(run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' })).rfc5780).toMatchObject({ supported: true, status: 'supported' });
  });

  it('reports port preservation and the public address', () => {
    const kept = classify(run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' }));
    expect(kept.portPreserved).toBe(true);
    expect(kept.publicAddress).toEqual(P);
    expect(kept.localAddress).toEqual(LOCAL(L));
    const moved = classify(run({ m1: PUB(61000), m2: PUB(61000), m3: PUB(61000), f2: 'timeout', f3: 'timeout' }));
    expect(moved.portPreserved).toBe(false);
  });

  it('a public address equal to the local IP with another port is NAT, not "none"', () => {
    const v = classify(run({ m1: LOCAL(50000), m2: LOCAL(50000), m3: LOCAL(50000), f2: 'timeout', f3: 'timeout' }));
    expect(v.mapping).toBe('endpoint-independent');
    expect(v.warnings.join()).toMatch(/port differs/);
  });

  it('detects an ALG from MAPPED-ADDRESS differing from XOR-MAPPED-ADDRESS', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    obs.mapping[0]!.legacyMapped = { address: '192.0.2.2', port: L };
    const v = classify(obs);
    expect(v.alg).toBe(true);
    expect(v.warnings.join()).toMatch(/ALG/);
    obs.mapping[0]!.legacyMapped = P;
    expect(classify(obs).alg).toBe(false);
  });

  it('a mapping test answered from the wrong source is not used', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    obs.mapping[1] = { ...obs.mapping[1]!, outcome: 'wrong-source', source: SERVER };
    const v = classify(obs);
    expect(v.mapping).toBe('unknown');
    expect(v.warnings.join('\n')).toMatch(/mapping-2 was answered from 203\.0\.113\.1:3478/);
  });

  it('hairpinning: reported behind a NAT, not applicable without one', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: PUB(40002), f3: PUB(40003) });
    obs.hairpin = { target: P, received: true, from: PUB(40010), senderMapped: PUB(40010), transmissions: 1 };
    expect(classify(obs).hairpin).toBe(true);
    obs.hairpin = { target: P, received: false, transmissions: 4 };
    expect(classify(obs).hairpin).toBe(false);
    const open = run({ m1: LOCAL(L), m2: LOCAL(L), m3: LOCAL(L), f2: LOCAL(40002), f3: LOCAL(40003) });
    open.hairpin = { target: LOCAL(L), received: true, transmissions: 1 };
    expect(classify(open).hairpin).toBeNull();
  });

  it('an error before any test is unknown, not UDP blocked', () => {
    const obs = run({ m1: null });
    obs.error = { code: 'DNS', message: 'cannot resolve' };
    const v = classify(obs);
    expect([v.natType, v.udpBlocked]).toEqual(['unknown', false]);
    expect(v.warnings[0]).toMatch(/DNS/);
  });

  it('mapping lifetime: bracketed by the last live and first expired probe', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    obs.lifetime = { boundSeconds: 8, probes: [1, 2].map((s) => ({ afterSeconds: s, alive: true })).concat([4, 8].map((s) => ({ afterSeconds: s, alive: false }))) };
    expect(classify(obs).lifetime).toEqual({ lowerSeconds: 2, upperSeconds: 4, text: 'between 2 and 4 s' });
    obs.lifetime = { boundSeconds: 8, probes: [1, 2, 4, 8].map((s) => ({ afterSeconds: s, alive: true })) };
    expect(classify(obs).lifetime?.text).toMatch(/more than 8 s/);
    obs.lifetime = { boundSeconds: 8, probes: [], unsupported: 'the server rejects RESPONSE-PORT (error 420)' };
    expect(classify(obs).lifetime?.text).toMatch(/not measured/);
  });
});

describe('classify: classic RFC 3489 servers, fallbacks, interruptions', () => {
  /** The same runs, but Test I carries only CHANGED-ADDRESS, as an RFC 3489 server sends it. */
  const classicRun = (c: Case): NatObservations => {
    const obs = run(c);
    const t1 = obs.mapping[0]!;
    delete t1.otherAddress;
    t1.changedAddress = OTHER;
    return obs;
  };

  it.each([
    ['EIM + APDF (plain masquerade)', { m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' }, ['endpoint-independent', 'address-and-port-dependent', 'port-restricted-cone']],
    ['APDM (fully random)', { m1: P, m2: PUB(50001), m3: PUB(50002), f2: 'timeout', f3: 'timeout' }, ['address-and-port-dependent', 'address-and-port-dependent', 'symmetric']],
    ['EIM + EIF', { m1: P, m2: P, m3: P, f2: PUB(40002), f3: PUB(40003) }, ['endpoint-independent', 'endpoint-independent', 'full-cone']],
  ] as [string, Case, string[]][])('CHANGED-ADDRESS stands in for OTHER-ADDRESS: %s', (_n, c, expected) => {
    const v = classify(classicRun(c));
    expect([v.mapping, v.filtering, v.natType]).toEqual(expected);
    expect(v.verdictReached).toBe(true);
    expect(v.rfc5780).toEqual({ supported: true, status: 'classic', detail: 'RFC 3489 server: no OTHER-ADDRESS; its CHANGED-ADDRESS 203.0.113.2:3479 was used instead' });
    expect(v.warnings.join('\n')).not.toMatch(/does not support RFC 5780/);
  });

  it('a classic server that ignores CHANGE-REQUEST is still named for it', () => {
    const v = classify(classicRun({ m1: P, m2: P, m3: P, f2: 'wrong-source', f3: 'wrong-source' }));
    expect(v.rfc5780.status).toBe('change-request-ignored');
    expect(v.filtering).toBe('unknown');
  });

  it('a server with neither OTHER-ADDRESS nor CHANGED-ADDRESS: says the alternate address is what is missing', () => {
    const v = classify(run({ m1: P, other: null }));
    expect(v.rfc5780.detail).toMatch(/sends no OTHER-ADDRESS \(nor the RFC 3489 CHANGED-ADDRESS\): without its alternate address/);
  });

  it('mapping lifetime: never reported without a NAT, and "unsupported" when RESPONSE-PORT went unanswered', () => {
    const open = run({ m1: LOCAL(L), m2: LOCAL(L), m3: LOCAL(L), f2: LOCAL(40002), f3: LOCAL(40003) });
    // What silence from a server that drops RESPONSE-PORT looks like: every probe "expired".
    open.lifetime = { boundSeconds: 2, probes: [1, 2].map((s) => ({ afterSeconds: s, alive: false })) };
    expect(classify(open).lifetime).toEqual({ lowerSeconds: null, upperSeconds: null, text: 'not applicable: no NAT (the mapped address is the local address)' });
    const natted = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    natted.lifetime = {
      boundSeconds: 2,
      control: { afterSeconds: 0, alive: false },
      probes: [1, 2].map((s) => ({ afterSeconds: s, alive: false })),
      unsupported: 'unsupported by this server: it did not answer a request carrying RESPONSE-PORT even right after the mapping was made',
    };
    const v = classify(natted).lifetime!;
    expect([v.lowerSeconds, v.upperSeconds]).toEqual([null, null]);
    expect(v.text).toMatch(/^not measured: unsupported by this server/);
    // Expired probes and nothing that ever proved RESPONSE-PORT works (e.g. the control probe was cut short): no figure.
    natted.lifetime = { boundSeconds: 2, probes: [1, 2].map((s) => ({ afterSeconds: s, alive: false })) };
    expect(classify(natted).lifetime).toEqual({ lowerSeconds: null, upperSeconds: null, text: 'not measured: no answer to RESPONSE-PORT was seen, so silence proves nothing' });
    natted.lifetime.control = { afterSeconds: 0, alive: true };
    expect(classify(natted).lifetime?.text).toBe('less than 1 s');
  });

  it('servers passed over are named with their reason', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    obs.fallbacks = [{ server: 'nonexistent.invalid', code: 'DNS', message: 'cannot resolve nonexistent.invalid (IPv4)' }];
    const v = classify(obs);
    expect(v.verdictReached).toBe(true);
    expect(v.warnings[0]).toBe('nonexistent.invalid was not used: DNS: cannot resolve nonexistent.invalid (IPv4); the tests ran against 203.0.113.1');
  });

  it('an interrupted run keeps what it found but reaches no verdict', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    obs.interrupted = true;
    const v = classify(obs);
    expect(v.mapping).toBe('endpoint-independent');
    expect(v.verdictReached).toBe(false);
    expect(v.warnings.join('\n')).toMatch(/interrupted/);
  });

  it('an unreachable server is not "UDP blocked"', () => {
    const obs = run({ m1: null });
    obs.mapping.push({ ...o('mapping-1', LOCAL(L), SERVER, SERVER, 'timeout'), outcome: 'unreachable', transmissions: 1, detail: 'ICMP error: recvmsg ECONNREFUSED' });
    obs.error = { code: 'UNREACHABLE', message: '203.0.113.1: ICMP error: recvmsg ECONNREFUSED' };
    const v = classify(obs);
    expect([v.natType, v.udpBlocked]).toEqual(['unknown', false]);
    expect(v.warnings.join('\n')).toMatch(/UNREACHABLE/);
  });
});

describe('classify: comparing servers without RFC 5780', () => {
  const cmp = (dest: Endpoint, mapped: Endpoint | 'timeout'): BindingObservation => o('compare', LOCAL(L), dest, dest, mapped);
  const A1 = { address: '203.0.113.3', port: 3478 };
  const A2 = { address: '203.0.113.3', port: 3479 };
  const B = { address: '203.0.113.4', port: 3478 };

  it.each([
    ['same mapping everywhere', [[A1, P], [B, P]], 'endpoint-independent', false],
    ['varies with the IP only (two IPs)', [[A1, P], [B, PUB(50001)]], 'unknown', true],
    ['varies with the port on one IP', [[A1, P], [A2, PUB(50001)], [B, PUB(50002)]], 'address-and-port-dependent', true],
    ['same on one IP, varies across IPs', [[A1, P], [A2, P], [B, PUB(50001)]], 'address-dependent', true],
    ['only one server answered', [[A1, P], [B, 'timeout']], 'unknown', null],
  ] as [string, [Endpoint, Endpoint | 'timeout'][], string, boolean | null][])('%s', (_n, rows, behaviour, varies) => {
    const r = compareMappings(rows.map(([d, m]) => cmp(d, m)));
    expect([r.behaviour, r.varies]).toEqual([behaviour, varies]);
  });

  it('a varying mapping makes the NAT symmetric even when AD vs APD cannot be told; filtering stays unknown', () => {
    const obs = run({ m1: P, other: null });
    obs.compare = [cmp(A1, P), cmp(B, PUB(50001))];
    const v = classify(obs);
    expect([v.mapping, v.filtering, v.natType, v.mappingVariesByDestination, v.verdictReached]).toEqual(['unknown', 'unknown', 'symmetric', true, true]);
  });

  it('a stable mapping gives endpoint-independent mapping, but no NAT type without filtering', () => {
    const obs = run({ m1: P, other: null });
    obs.compare = [cmp(A1, P), cmp(B, P)];
    const v = classify(obs);
    expect([v.mapping, v.filtering, v.natType, v.rating, v.verdictReached]).toEqual(['endpoint-independent', 'unknown', 'unknown', 'easy', false]);
  });

  it('warns when the comparison contradicts the RFC 5780 tests', () => {
    const obs = run({ m1: P, m2: P, m3: P, f2: 'timeout', f3: 'timeout' });
    obs.compare = [cmp(A1, P), cmp(B, PUB(50001))];
    const v = classify(obs);
    expect(v.mapping).toBe('endpoint-independent');
    expect(v.warnings.join()).toMatch(/servers disagree/);
  });
});

describe('NAT type table', () => {
  it.each([
    ['none', 'none', 'open-internet'],
    ['none', 'address-dependent', 'restricted-cone'],
    ['endpoint-independent', 'endpoint-independent', 'full-cone'],
    ['endpoint-independent', 'address-dependent', 'restricted-cone'],
    ['endpoint-independent', 'address-and-port-dependent', 'port-restricted-cone'],
    ['endpoint-independent', 'unknown', 'unknown'],
    ['address-dependent', 'unknown', 'symmetric'],
    ['address-and-port-dependent', 'endpoint-independent', 'symmetric'],
    ['unknown', 'endpoint-independent', 'unknown'],
  ] as const)('%s mapping + %s filtering = %s', (m, f, t) => {
    expect(natTypeOf(m, f)).toBe(t);
  });

  it('the direct-connection table is symmetric, and the forecasts follow it', () => {
    for (const [a, peers] of Object.entries(DIRECT_PAIRS)) {
      for (const b of peers) expect(DIRECT_PAIRS[b]).toContain(a);
    }
    expect(DIRECT_PAIRS.symmetric).not.toContain('port-restricted-cone');
    expect(DIRECT_PAIRS.symmetric).not.toContain('symmetric');
    for (const t of ['open-internet', 'full-cone', 'restricted-cone'] as const) {
      expect(forecastOf(t, 'endpoint-independent').code).toBe('direct-likely');
      expect(DIRECT_PAIRS[t]).toHaveLength(5);
    }
    expect(forecastOf('udp-blocked', 'unknown').code).toBe('needs-turn');
  });

  it('each forecast text names exactly the peers its row connects to directly', () => {
    // How the texts spell each type; "restricted-cone" must not match inside "port-restricted-cone".
    const spelled: Record<string, RegExp> = {
      'open-internet': /\bopen\b/, 'full-cone': /full-cone/, 'restricted-cone': /(?<!port-)restricted-cone/,
      'port-restricted-cone': /port-restricted/, symmetric: /symmetric/,
    };
    for (const [t, row] of Object.entries(NAT_PAIRS)) {
      const f = forecastOf(t as keyof typeof NAT_PAIRS, 'endpoint-independent');
      expect(f.text).toBe(row.forecast);
      if (f.code !== 'some-peers') continue;
      const [direct, turn] = f.text.split(';') as [string, string];
      for (const [peer, re] of Object.entries(spelled)) {
        const reaches = (row.direct as string[]).includes(peer);
        expect(re.test(direct), `${t} -> ${peer} in "${direct}"`).toBe(reaches);
        expect(re.test(turn), `${t} -> ${peer} in "${turn}"`).toBe(!reaches);
      }
    }
  });

  it('the pair table in docs/nat.md is the table in the code', () => {
    const doc = readFileSync(new URL('../../../docs/nat.md', import.meta.url), 'utf8');
    const section = doc.slice(doc.indexOf('## Which NAT pairs connect directly'));
    const rows = section.split('\n').filter((l) => l.startsWith('|') && !l.startsWith('|---'));
    const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
    const typeOf = (label: string) => label.replace(/\*/g, '').toLowerCase().replace(/ /g, '-');
    const header = cells(rows[0]!).slice(1).map(typeOf);
    expect(header).toEqual(Object.keys(NAT_PAIRS));
    const table: Record<string, string[]> = {};
    for (const l of rows.slice(1)) {
      const [a, ...marks] = cells(l);
      table[typeOf(a!)] = header.filter((_, i) => marks[i]!.startsWith('✔'));
      expect(marks.every((m) => m.startsWith('✔') || m.startsWith('✖'))).toBe(true);
    }
    expect(table).toEqual(DIRECT_PAIRS);
  });
});
