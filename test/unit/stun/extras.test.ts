import { Resolver } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/commands/stun.js';
import { checkDnsServer, createDnsClient, lookupAddress } from '../../../src/core/dns/client.js';
import { asciiServerArgument } from '../../../src/core/dns/idn.js';
import { lookupSrv, orderSrv, serviceTargets, srvService, type SrvRecord } from '../../../src/core/dns/srv.js';
import { RtcprobeError } from '../../../src/core/errors.js';
import { rtcprobeErrorFrom } from '../../helpers/errors.js';
import { classifyAddress } from '../../../src/core/stun/address-class.js';
import { MappingTracker } from '../../../src/core/stun/mapping-watch.js';
import { parseServer } from '../../../src/core/uri.js';
import { startDnsServer, type DnsServer } from '../../helpers/dns-server.js';

describe('address classes', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.1', 'loopback'],
    ['10.1.2.3', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'], ['fd00::1', 'private'], ['fc12::1', 'private'],
    ['100.64.0.1', 'cgnat'], ['100.127.255.255', 'cgnat'], ['::ffff:100.100.1.1', 'cgnat'],
    ['169.254.1.1', 'link-local'], ['fe80::1', 'link-local'], ['febf::1', 'link-local'],
    ['8.8.8.8', 'public'], ['172.32.0.1', 'public'], ['100.128.0.1', 'public'], ['100.63.255.255', 'public'], ['2001:db8::1', 'public'], ['fec0::1', 'public'],
  ])('%s is %s', (a, cls) => {
    expect(classifyAddress(a)).toBe(cls);
  });
});

describe('SRV ordering (RFC 2782)', () => {
  const rec = (name: string, priority: number, weight: number): SrvRecord => ({ name, port: 3478, priority, weight });
  it('lowest priority first, whatever the weights', () => {
    const out = orderSrv([rec('c', 20, 100), rec('a', 10, 0), rec('b', 10, 0)], () => 0);
    expect(out.map((r) => r.name).slice(2)).toEqual(['c']);
    expect(out.map((r) => r.name).slice(0, 2).sort()).toEqual(['a', 'b']);
  });
  it('draws by weight inside a priority', () => {
    const recs = [rec('light', 1, 1), rec('heavy', 1, 99)];
    // random 0.5 of a total of 100: pick 50; running sums 1, 100: heavy first.
    expect(orderSrv(recs, () => 0.5).map((r) => r.name)).toEqual(['heavy', 'light']);
    // random 0: pick 0; light (running sum 1 >= 0) first.
    expect(orderSrv(recs, () => 0).map((r) => r.name)).toEqual(['light', 'heavy']);
  });
  it('service names of RFC 7064 and RFC 7065', () => {
    expect(srvService('stun', 'udp')).toBe('_stun._udp');
    expect(srvService('stun', 'tcp')).toBe('_stun._tcp');
    expect(srvService('stuns', 'tls')).toBe('_stuns._tcp');
    expect(srvService('stun', 'tls')).toBe('_stuns._tcp');
    expect(srvService('turn', 'udp')).toBe('_turn._udp');
    expect(srvService('turn', 'tcp')).toBe('_turn._tcp');
    expect(srvService('turns', 'tls')).toBe('_turns._tcp');
  });
});

describe('SRV and address lookups through a local DNS server', () => {
  let dns: DnsServer;
  let resolver: Resolver;
  beforeAll(async () => {
    dns = await startDnsServer([
      { name: '_stun._udp.example.test', type: 'SRV', priority: 10, weight: 0, port: 4000, target: 'b.example.test' },
      { name: '_stun._udp.example.test', type: 'SRV', priority: 5, weight: 0, port: 3000, target: 'a.example.test' },
      { name: '_turns._tcp.example.test', type: 'SRV', priority: 1, weight: 1, port: 5350, target: 'relay.example.test' },
      { name: '_stun._udp.gone.test', type: 'SRV', priority: 0, weight: 0, port: 0, target: '.' },
      { name: 'example.test', type: 'A', address: '127.0.0.9' },
      { name: 'a.example.test', type: 'A', address: '127.0.0.3' },
      { name: 'a.example.test', type: 'AAAA', address: '::1' },
    ]);
    resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([dns.address]);
  });
  afterAll(async () => {
    await dns?.close();
  });

  it('finds and orders the records of _stun._udp', async () => {
    const r = await lookupSrv('example.test', '_stun._udp', (n) => resolver.resolveSrv(n), { timeout: 2000 });
    expect(r.fallback).toBe(false);
    expect(r.query).toBe('_stun._udp.example.test');
    expect(r.records.map((x) => [x.name, x.port])).toEqual([['a.example.test', 3000], ['b.example.test', 4000]]);
  });

  it('falls back with the reason when there is no record, no name, or the "." target', async () => {
    const none = await lookupSrv('example.test', '_stun._tcp', (n) => resolver.resolveSrv(n), { timeout: 2000 });
    expect(none).toMatchObject({ fallback: true, records: [] });
    expect(none.error).toMatch(/NXDOMAIN|no SRV/);
    const gone = await lookupSrv('gone.test', '_stun._udp', (n) => resolver.resolveSrv(n), { timeout: 2000 });
    expect(gone.fallback).toBe(true);
    expect(gone.error).toMatch(/not offered/);
  });

  it('a resolver that never answers: fallback after the timeout, not an exception', async () => {
    const r = await lookupSrv('example.test', '_stun._udp', () => new Promise<never>(() => {}), { timeout: 50 });
    expect(r.fallback).toBe(true);
    expect(r.error).toMatch(/timed out/);
  });

  it('an abort rejects with ABORTED', async () => {
    const ac = new AbortController();
    const p = lookupSrv('example.test', '_stun._udp', () => new Promise<never>(() => {}), { timeout: 5000, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('serviceTargets: SRV for a name without port (TURN too), none for an explicit port or an IP literal', async () => {
    const rs = (n: string) => resolver.resolveSrv(n);
    const turns = await serviceTargets(parseServer('turns:example.test'), 'tls', 5349, rs, { timeout: 2000 });
    expect(turns.targets).toEqual([{ host: 'relay.example.test', port: 5350 }]);
    const explicit = await serviceTargets(parseServer('stun:example.test:3478'), 'udp', 3478, rs, { timeout: 2000 });
    expect(explicit).toEqual({ targets: [{ host: 'example.test', port: 3478 }] });
    const literal = await serviceTargets(parseServer('stun:127.0.0.1'), 'udp', 3478, rs, { timeout: 2000 });
    expect(literal.srv).toBeUndefined();
    const fallback = await serviceTargets(parseServer('stun:example.test'), 'tcp', 3478, rs, { timeout: 2000 });
    expect(fallback.targets).toEqual([{ host: 'example.test', port: 3478 }]);
    expect(fallback.srv?.fallback).toBe(true);
  });

  it('lookupAddress asks the given server for A and AAAA, and reports a missing name as DNS', async () => {
    const client = createDnsClient({ servers: [dns.address], timeout: 2000 });
    expect(await lookupAddress('a.example.test', 4, { timeout: 2000, dns: client })).toEqual({ address: '127.0.0.3', family: 4 });
    expect(await lookupAddress('a.example.test', 6, { timeout: 2000, dns: client })).toEqual({ address: '::1', family: 6 });
    await expect(lookupAddress('missing.test', 4, { timeout: 2000, dns: client })).rejects.toMatchObject({ code: 'DNS' });
    await expect(lookupAddress('example.test', 6, { timeout: 2000, dns: client })).rejects.toMatchObject({ code: 'DNS' });
  });

  it('--dns-server values are checked', () => {
    expect(checkDnsServer('127.0.0.1:53')).toBe('127.0.0.1:53');
    expect(checkDnsServer('[::1]:5353')).toBe('[::1]:5353');
    expect(checkDnsServer('::1')).toBe('::1');
    expect(rtcprobeErrorFrom(() => checkDnsServer('dns.example'), 'USAGE').message).toContain('--dns-server "dns.example"');
    expect(rtcprobeErrorFrom(() => checkDnsServer('127.0.0.1:70000'), 'USAGE').message).toContain('--dns-server "127.0.0.1:70000"');
  });
});

describe('internationalised host names', () => {
  it('turns the Unicode host of an argument into punycode and keeps both forms', () => {
    expect(asciiServerArgument('stun:bücher.example')).toEqual({
      argument: 'stun:xn--bcher-kva.example', idn: { unicode: 'bücher.example', ascii: 'xn--bcher-kva.example' },
    });
    expect(asciiServerArgument('BÜCHER.example:3479').argument).toBe('xn--bcher-kva.example:3479');
    expect(asciiServerArgument('stuns:münchen.test').argument).toBe('stuns:xn--mnchen-3ya.test');
  });
  it('shows the Unicode form of an xn-- name, and leaves plain names and IPv6 alone', () => {
    expect(asciiServerArgument('xn--bcher-kva.example').idn).toEqual({ unicode: 'bücher.example', ascii: 'xn--bcher-kva.example' });
    expect(asciiServerArgument('stun:example.org:3478')).toEqual({ argument: 'stun:example.org:3478' });
    expect(asciiServerArgument('[::1]:3478')).toEqual({ argument: '[::1]:3478' });
  });
  it('an invalid IDN is a BAD_SERVER error', () => {
    const err = rtcprobeErrorFrom(() => asciiServerArgument('stun:b\u00fccher..ex ample'), 'BAD_SERVER');
    expect(err.message).toContain('ex ample');
  });
});

describe('mapping tracker', () => {
  const m = (port: number, address = '192.0.2.1') => ({ family: 4 as const, address, port });
  const obs = (mapped: ReturnType<typeof m> | null, localPort = 5000) => [{ key: 'k', server: 's', family: 4 as const, mapped, localPort }];
  it('stable over rounds; unknown before two answers', () => {
    const t = new MappingTracker();
    expect(t.observeRound(1000, obs(m(1)))).toEqual([]);
    expect(t.summaries()[0]!.stable).toBeNull();
    t.observeRound(2000, obs(null));
    expect(t.observeRound(3000, obs(m(1)))).toEqual([]);
    expect(t.summaries()[0]).toMatchObject({ rounds: 3, answered: 2, stable: true, firstAnswerAt: 1000, lastAnswerAt: 3000 });
  });
  it('reports a change with the time of the round that saw it, and its kind', () => {
    const t = new MappingTracker();
    t.observeRound(1000, obs(m(1)));
    expect(t.observeRound(2000, obs(m(2)))).toEqual([{ server: 's', family: 4, at: 2000, previousAt: 1000, round: 2, from: m(1), to: m(2), kind: 'port' }]);
    expect(t.observeRound(3000, obs(m(2, '192.0.2.7')))[0]!.kind).toBe('address');
    expect(t.observeRound(4000, obs(m(9, '192.0.2.7'), 6000))[0]!.kind).toBe('local-port');
    expect(t.summaries()[0]!.stable).toBe(false);
    expect(t.summaries()[0]!.mappings).toHaveLength(4);
  });
  it('a new local port alone does not make the mapping unstable', () => {
    const t = new MappingTracker();
    t.observeRound(1000, obs(m(1), 5000));
    t.observeRound(2000, obs(m(2), 5001));
    expect(t.summaries()[0]!.stable).toBe(true);
  });
});

describe('durations', () => {
  it.each([['500ms', 500], ['10s', 10000], ['2m', 120000], ['1h', 3600000], ['3', 3000], ['1.5s', 1500]])('%s is %d ms', (v, ms) => {
    expect(parseDuration(v)).toBe(ms);
  });
  it('refuses garbage and out of range', () => {
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
    expect(() => parseDuration('10ms', 100)).toThrow(/between/);
  });
});
