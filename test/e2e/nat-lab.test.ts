import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import type { NatJson } from '../../src/commands/nat.js';
import { BIN, ROOT, runJson, why } from '../helpers/cli.js';
import { LAB, labLeftovers, labPids, natLab } from '../helpers/netns-lab.js';
import { STUND } from '../helpers/stund-server.js';
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

describeWith({ commands: ['ip', 'nft', 'turnserver', STUND], root: true }, 'rtcprobe nat on real NATs (namespaces + nftables)', () => {
  const lab = natLab('nat');
  afterAll(() => lab.down());

  const nat = async (topology: string, args: string[] = ['-s', LAB.rfc5780Server], env?: Record<string, string>) => {
    await lab.up(topology, env);
    // A generous --wait: a slow answer on a loaded machine must not read as filtering.
    const r = await runJson<NatJson>(['nat', ...args, ...WAIT], { netns: lab.clientNs, timeout: 60000 });
    expect(r.stderr).toBe('');
    return { code: r.code, j: r.json, f: r.json.families[0]! };
  };
  /** The same NAT through the classic RFC 3489 server (stund) of the running lab: the same verdict. */
  const classic = async (expected: { code: number; verdict: string[] }, extra: string[] = []) => {
    const r = await runJson<NatJson>(['nat', '-s', LAB.classicServer, ...extra, ...WAIT], { netns: lab.clientNs, timeout: 60000 });
    expect(r.stderr).toBe('');
    expect([r.json.mapping, r.json.filtering, r.json.natType]).toEqual(expected.verdict);
    expect(r.code, why(r)).toBe(expected.code);
    const f = r.json.families[0]!;
    return { j: r.json, f };
  };
  const isClassic = (f: NatJson['families'][number]) => {
    expect(f.rfc5780).toMatchObject({ supported: true, status: 'classic' });
    expect(f.tests.mapping[0]!.changedAddress).toEqual(LAB.changedAddress);
  };

  it('none: no NAT is detected by comparing the mapping with the bound address', async () => {
    const { code, j, f } = await nat('none');
    expect(code).toBe(0);
    expect([j.mapping, j.filtering, j.natType, j.rating]).toEqual(['none', 'none', 'open-internet', 'easy']);
    expect(f.localAddress?.address).toBe(LAB.clientAddress);
    expect(f.publicAddress).toEqual(f.localAddress);
    expect(f.hairpin).toBeNull();
    expect(j.forecast.code).toBe('direct-likely');
    isClassic((await classic({ code: 0, verdict: ['none', 'none', 'open-internet'] })).f);
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
    isClassic((await classic({ code: 0, verdict: ['endpoint-independent', 'endpoint-independent', 'full-cone'] })).f);
  }, T);

  it('eim-adf: address-dependent filtering is a restricted cone', async () => {
    const { code, j } = await nat('eim-adf');
    expect(code).toBe(0);
    expect([j.mapping, j.filtering, j.natType, j.rating]).toEqual(['endpoint-independent', 'address-dependent', 'restricted-cone', 'easy']);
    isClassic((await classic({ code: 0, verdict: ['endpoint-independent', 'address-dependent', 'restricted-cone'] })).f);
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
    // A plain masquerade through stund: this used to end "unknown ... plan for TURN".
    const c = await classic({ code: 0, verdict: ['endpoint-independent', 'address-and-port-dependent', 'port-restricted-cone'] });
    isClassic(c.f);
    expect(c.j.forecast.code).toBe('some-peers');
    expect(c.j.warnings.join('\n')).not.toMatch(/does not support RFC 5780/);
  }, T);

  it('apdm: masquerade with fully random ports is symmetric, by RFC 5780 and by comparing servers', async () => {
    const { code, j, f } = await nat('apdm');
    expect(code).toBe(0);
    expect([j.mapping, j.natType, j.rating]).toEqual(['address-and-port-dependent', 'symmetric', 'hard']);
    const mapped = f.tests.mapping.map((o) => o.mapped?.port);
    expect(new Set(mapped).size).toBe(3);

    // The same NAT, seen only through two servers without RFC 5780.
    const r = await runJson<NatJson>(['nat', '-s', LAB.plainServers[0], '-s', LAB.plainServers[1], ...WAIT], { netns: lab.clientNs, timeout: 60000 });
    expect(r.code, why(r)).toBe(0);
    const g = r.json.families[0]!;
    expect(g.rfc5780.status).toBe('no-other-address');
    expect(g.mappingVariesByDestination).toBe(true);
    expect([r.json.filtering, r.json.natType]).toEqual(['unknown', 'symmetric']);

    // A fully random masquerade through stund: symmetric too.
    const c = await classic({ code: 0, verdict: ['address-and-port-dependent', 'address-and-port-dependent', 'symmetric'] });
    isClassic(c.f);
    expect(c.j.rating).toBe('hard');
  }, T);

  it('udp-blocked: no answer at all is reported as UDP blocked, exit 1', async () => {
    const { code, j, f } = await nat('udp-blocked', ['-s', LAB.rfc5780Server, '--timeout', '1500']);
    expect(code).toBe(1);
    expect([j.mapping, j.filtering, j.natType, j.forecast.code]).toEqual(['unknown', 'unknown', 'udp-blocked', 'needs-turn']);
    expect(f.udpBlocked).toBe(true);
    expect(f.tests.mapping[0]).toMatchObject({ test: 'mapping-1', outcome: 'timeout' });
    expect(f.tests.mapping[0]!.transmissions).toBeGreaterThan(1);
    const c = await classic({ code: 1, verdict: ['unknown', 'unknown', 'udp-blocked'] }, ['--timeout', '1500']);
    expect(c.f.udpBlocked).toBe(true);
  }, T);

  it('hairpin: a NAT that hairpins is reported, and the datagram arrives from the sender mapping', async () => {
    const { code, j, f } = await nat('hairpin');
    expect(code).toBe(0);
    expect(j.natType).toBe('full-cone');
    expect(f.hairpin).toBe(true);
    expect(f.tests.hairpin).toMatchObject({ received: true });
    expect(f.tests.hairpin!.from?.address).toBe(LAB.natPublicAddress);
    const c = await classic({ code: 0, verdict: ['endpoint-independent', 'endpoint-independent', 'full-cone'] });
    expect(c.f.hairpin).toBe(true);
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
    expect(r.code, why(r)).toBe(1);
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
    expect(f.tests.lifetime!.control).toMatchObject({ afterSeconds: 0, alive: true });

    // stund drops requests carrying RESPONSE-PORT: its silence is no expiry.
    const c = await classic({ code: 0, verdict: ['endpoint-independent', 'address-and-port-dependent', 'port-restricted-cone'] }, ['--lifetime', '2', '--no-hairpin']);
    expect(c.f.tests.lifetime!.control).toMatchObject({ afterSeconds: 0, alive: false });
    expect(c.f.lifetime).toMatchObject({ lowerSeconds: null, upperSeconds: null });
    expect(c.f.lifetime!.text).toMatch(/^not measured: unsupported by this server/);
  }, T);

  it('SIGTERM during a long --lifetime: partial JSON, exit 130, and nothing on stderr', async () => {
    await lab.up('eim-apdf');
    const child = spawn('ip', ['netns', 'exec', lab.clientNs, process.execPath, BIN, 'nat', '-s', LAB.rfc5780Server, '--lifetime', '3600', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Wait (bounded) until the 20 lifetime probes hold their sockets: every probe then sleeps on the signal.
    const sockets = () => execFileSync('ip', ['netns', 'exec', lab.clientNs, 'ss', '-Hunap']).toString().split('\n').filter((l) => l.includes(`pid=${child.pid},`)).length;
    for (let i = 0; i < 200 && sockets() < 24; i++) await new Promise((r) => setTimeout(r, 50));
    expect(sockets()).toBeGreaterThanOrEqual(24);
    child.kill('SIGTERM');
    expect(await exited).toBe(130);
    expect(stderr).toBe('');
    const j = JSON.parse(stdout) as NatJson;
    expect(j).toMatchObject({ interrupted: true, ok: false });
    const f = j.families[0]!;
    expect(f.tests.mapping[0]).toMatchObject({ test: 'mapping-1', outcome: 'answered' });
    expect(f.lifetime).toMatchObject({ lowerSeconds: null, upperSeconds: null });
    expect(f.warnings.join('\n')).toMatch(/interrupted/);
  }, T);

  it('down removes every namespace and process of the lab', async () => {
    await lab.up('eim-apdf');
    expect(labLeftovers(lab.id)).toHaveLength(3);
    const pids = labPids(lab.id);
    expect(pids).toHaveLength(4);
    lab.down();
    expect(labLeftovers(lab.id)).toEqual([]);
    expect(pids.filter(alive)).toEqual([]);
  }, T);
});
