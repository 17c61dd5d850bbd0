import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import type { NatJson } from '../../src/commands/nat.js';
import { runJson } from '../helpers/cli.js';
import { LAB, labLeftovers, labPids, natLab } from '../helpers/netns-lab.js';
import { describeWith } from '../helpers/system.js';

const T = 90000;
/** A process that still runs; a zombie waiting for init to reap it has exited. */
const alive = (pid: number) => {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
};
const WAIT = ['--wait', '2000'];

describeWith({ commands: ['ip', 'nft', 'turnserver'], root: true }, 'rtcprobe nat on real NATs (namespaces + nftables)', () => {
  const lab = natLab('nat');
  afterAll(() => lab.down());

  const nat = async (topology: string, args: string[] = ['-s', LAB.rfc5780Server], env?: Record<string, string>) => {
    await lab.up(topology, env);
    // A generous --wait: a slow answer on a loaded machine must not read as filtering.
    const r = await runJson<NatJson>(['nat', ...args, ...WAIT], { netns: lab.clientNs, timeout: 60000 });
    expect(r.stderr).toBe('');
    return { code: r.code, j: r.json, f: r.json.families[0]! };
  };

  it('none: no NAT is detected by comparing the mapping with the bound address', async () => {
    const { code, j, f } = await nat('none');
    expect(code).toBe(0);
    expect([j.mapping, j.filtering, j.natType, j.rating]).toEqual(['none', 'none', 'open-internet', 'easy']);
    expect(f.localAddress?.address).toBe(LAB.clientAddress);
    expect(f.publicAddress).toEqual(f.localAddress);
    expect(f.hairpin).toBeNull();
    expect(j.forecast.code).toBe('direct-likely');
  }, T);

  it('eim-eif: 1:1 port-preserving NAT is a full cone without hairpinning', async () => {
    const { code, j, f } = await nat('eim-eif');
    expect(code).toBe(0);
    expect([j.mapping, j.filtering, j.natType]).toEqual(['endpoint-independent', 'endpoint-independent', 'full-cone']);
    expect(f.publicAddress?.address).toBe(LAB.natPublicAddress);
    expect(f.portPreserved).toBe(true);
    expect(f.alg).toBe(false);
    expect(f.hairpin).toBe(false);
    expect(f.rfc5780).toMatchObject({ supported: true, status: 'supported' });
  }, T);

  it('eim-adf: address-dependent filtering is a restricted cone', async () => {
    const { code, j } = await nat('eim-adf');
    expect(code).toBe(0);
    expect([j.mapping, j.filtering, j.natType, j.rating]).toEqual(['endpoint-independent', 'address-dependent', 'restricted-cone', 'easy']);
  }, T);

  it('eim-apdf: plain masquerade is a port-restricted cone', async () => {
    const { code, j, f } = await nat('eim-apdf');
    expect(code).toBe(0);
    expect([j.mapping, j.filtering, j.natType, j.rating]).toEqual(['endpoint-independent', 'address-and-port-dependent', 'port-restricted-cone', 'easy']);
    expect(j.forecast.code).toBe('some-peers');
    expect(f.portPreserved).toBe(true);
    const filtering = f.tests.filtering.map((o) => [o.test, o.outcome]);
    expect(filtering).toEqual([['filtering-2', 'timeout'], ['filtering-3', 'timeout']]);
    expect(f.tests.filtering.every((o) => o.transmissions > 1)).toBe(true);
  }, T);

  it('apdm: masquerade with fully random ports is symmetric, by RFC 5780 and by comparing servers', async () => {
    const { code, j, f } = await nat('apdm');
    expect(code).toBe(0);
    expect([j.mapping, j.natType, j.rating]).toEqual(['address-and-port-dependent', 'symmetric', 'hard']);
    const mapped = f.tests.mapping.map((o) => o.mapped?.port);
    expect(new Set(mapped).size).toBe(3);

    // The same NAT, seen only through two servers without RFC 5780.
    const r = await runJson<NatJson>(['nat', '-s', LAB.plainServers[0], '-s', LAB.plainServers[1], ...WAIT], { netns: lab.clientNs, timeout: 60000 });
    expect(r.code).toBe(0);
    const g = r.json.families[0]!;
    expect(g.rfc5780.status).toBe('no-other-address');
    expect(g.mappingVariesByDestination).toBe(true);
    expect([r.json.filtering, r.json.natType]).toEqual(['unknown', 'symmetric']);
  }, T);

  it('udp-blocked: no answer at all is reported as UDP blocked, exit 1', async () => {
    const { code, j, f } = await nat('udp-blocked', ['-s', LAB.rfc5780Server, '--timeout', '1500']);
    expect(code).toBe(1);
    expect([j.mapping, j.filtering, j.natType, j.forecast.code]).toEqual(['unknown', 'unknown', 'udp-blocked', 'needs-turn']);
    expect(f.udpBlocked).toBe(true);
    expect(f.tests.mapping[0]).toMatchObject({ test: 'mapping-1', outcome: 'timeout' });
    expect(f.tests.mapping[0]!.transmissions).toBeGreaterThan(1);
  }, T);

  it('hairpin: a NAT that hairpins is reported, and the datagram arrives from the sender mapping', async () => {
    const { code, j, f } = await nat('hairpin');
    expect(code).toBe(0);
    expect(j.natType).toBe('full-cone');
    expect(f.hairpin).toBe(true);
    expect(f.tests.hairpin).toMatchObject({ received: true });
    expect(f.tests.hairpin!.from?.address).toBe(LAB.natPublicAddress);
  }, T);

  it('no-rfc5780: a server without RFC 5780 is said plainly, filtering stays unknown, exit 1', async () => {
    const { code, j, f } = await nat('no-rfc5780', ['-s', LAB.plainServers[0]]);
    expect(code).toBe(1);
    expect(f.rfc5780).toMatchObject({ supported: false, status: 'no-other-address' });
    expect([j.mapping, j.filtering, j.natType]).toEqual(['unknown', 'unknown', 'unknown']);
    expect(f.publicAddress?.address).toBe(LAB.natPublicAddress);
    expect(j.warnings.join('\n')).toMatch(/does not support RFC 5780/);

    // Two such servers: the mapping is compared across destinations.
    const r = await runJson<NatJson>(['nat', '-s', LAB.plainServers[0], '-s', LAB.plainServers[1], ...WAIT], { netns: lab.clientNs, timeout: 60000 });
    expect(r.code).toBe(1);
    expect([r.json.mapping, r.json.filtering, r.json.natType, r.json.rating]).toEqual(['endpoint-independent', 'unknown', 'unknown', 'easy']);
    expect(r.json.families[0]!.mappingVariesByDestination).toBe(false);
  }, T);

  it('--lifetime finds the mapping lifetime of a NAT with 3 s UDP conntrack timeouts', async () => {
    const { code, f } = await nat('eim-apdf', ['-s', LAB.rfc5780Server, '--lifetime', '8', '--no-hairpin'], { RPN_LAB_UDP_TIMEOUT: '3' });
    expect(code).toBe(0);
    expect(f.tests.hairpin).toBeNull();
    const lt = f.lifetime!;
    expect(lt.lowerSeconds).not.toBeNull();
    expect(lt.upperSeconds).not.toBeNull();
    expect(lt.lowerSeconds!).toBeGreaterThanOrEqual(1);
    expect(lt.upperSeconds!).toBeLessThanOrEqual(8);
    expect(lt.lowerSeconds!).toBeLessThan(lt.upperSeconds!);
  }, T);

  it('down removes every namespace and process of the lab', async () => {
    await lab.up('eim-apdf');
    expect(labLeftovers(lab.id)).toHaveLength(3);
    const pids = labPids(lab.id);
    expect(pids).toHaveLength(3);
    lab.down();
    expect(labLeftovers(lab.id)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
  }, T);
});
