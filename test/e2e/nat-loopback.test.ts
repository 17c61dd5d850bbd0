import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatJson } from '../../src/commands/nat.js';
import { encodeAddress } from '../../src/core/stun/attributes.js';
import { Attr } from '../../src/core/stun/constants.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startResponder, successFor, type Responder } from '../helpers/responder.js';
import { describeWith } from '../helpers/system.js';

describe('rtcprobe nat: a server that claims RFC 5780 but ignores CHANGE-REQUEST', () => {
  let liar: Responder;
  beforeAll(async () => {
    // Advertises an OTHER-ADDRESS, yet answers every request from its one socket.
    liar = await startResponder((req, from) => [
      { data: successFor(req, from.port, from.address, [{ type: Attr.OtherAddress, value: encodeAddress({ address: '127.0.0.2', port: liar.otherPort }) }]) },
    ]);
  });
  afterAll(async () => {
    await liar.close();
  });

  it('says so plainly: filtering unknown, never a filtering verdict, exit 1', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${liar.port}`, '--wait', '1500', '--no-hairpin']);
    expect(r.code, why(r)).toBe(1);
    const f = r.json.families[0]!;
    expect(f.rfc5780).toMatchObject({ supported: false, status: 'change-request-ignored' });
    expect(f.rfc5780.detail).toMatch(/does not honour CHANGE-REQUEST/);
    expect(r.json.filtering).toBe('unknown');
    expect(r.json.mapping).toBe('none');
    expect(r.json.natType).toBe('unknown');
    expect(f.tests.filtering.map((o) => o.outcome)).toEqual(['wrong-source', 'wrong-source']);
    expect(f.tests.filtering[0]!.source).toEqual({ address: '127.0.0.1', port: liar.port });
  }, 60000);
});

describe('rtcprobe nat: an answer whose MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS', () => {
  let alg: Responder;
  beforeAll(async () => {
    // What a payload-rewriting ALG leaves behind: the plain address was changed, the XOR one not.
    alg = await startResponder((req, from) => [
      { data: successFor(req, from.port, from.address, [{ type: Attr.MappedAddress, value: encodeAddress({ address: '192.0.2.77', port: from.port }) }]) },
    ]);
  });
  afterAll(async () => {
    await alg.close();
  });

  it('reports an ALG', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${alg.port}`, '--no-hairpin']);
    const f = r.json.families[0]!;
    expect(f.alg).toBe(true);
    expect(r.json.warnings.join('\n')).toMatch(/ALG rewrites addresses/);
    expect(f.tests.mapping[0]!.legacyMapped).toEqual({ address: '192.0.2.77', port: f.localAddress!.port });
    // The XOR-MAPPED-ADDRESS, which an ALG does not recognise, is the one used.
    expect(f.publicAddress).toEqual(f.localAddress);
  }, 60000);
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe nat against coturn on loopback', () => {
  let v4: Coturn;
  let v6: Coturn;
  beforeAll(async () => {
    v4 = await startCoturn({ ips: ['127.0.0.1', '127.0.0.2'], stunOnly: true });
    v6 = await startCoturn({ ips: ['::1'], stunOnly: true });
  });
  afterAll(async () => {
    await v4?.stop();
    await v6?.stop();
  });

  it('IPv4 loopback with a two-address coturn: no NAT, open internet', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${v4.port}`, '--wait', '1500']);
    expect(r.code, why(r)).toBe(0);
    expect([r.json.mapping, r.json.filtering, r.json.natType]).toEqual(['none', 'none', 'open-internet']);
    expect(r.json.families[0]!.localAddress?.address).toBe('127.0.0.1');
  }, 60000);

  it('IPv6 is a separate result; a one-address coturn has no RFC 5780', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `[::1]:${v6.port}`, '--family', '6', '--wait', '1500']);
    expect(r.code, why(r)).toBe(1);
    const f = r.json.families[0]!;
    expect(f.family).toBe(6);
    expect(f.localAddress?.address).toBe('::1');
    expect(f.rfc5780.status).toBe('no-other-address');
    expect([r.json.mapping, r.json.filtering]).toEqual(['none', 'unknown']);
  }, 60000);

  it('--family both gives one result per family', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `localhost:${v4.port}`, '--family', 'both', '--wait', '1500', '--no-hairpin']);
    expect(r.json.families.map((f) => f.family)).toEqual([4, 6]);
  }, 60000);
});

describe('rtcprobe nat: usage errors exit 2', () => {
  it.each([
    [['nat', '-s', 'turn:127.0.0.1'], /BAD_SERVER: .*UDP only/],
    [['nat', '-s', '127.0.0.1', '--transport', 'tcp'], /USAGE: unknown option/],
    [['nat', '--family', '5'], /USAGE: .*Allowed choices/],
    [['nat', '-s', '127.0.0.1', '--local-address', 'nope'], /USAGE: .*not an IP address/],
    [['nat', '-s', '127.0.0.1', '--local-address', '::1'], /USAGE: .*does not match --family/],
    [['nat', '--lifetime', '-1'], /USAGE/],
  ])('%j', async (args, pattern) => {
    const r = await runCli(args);
    expect(r.code, why(r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(pattern);
  });
});
