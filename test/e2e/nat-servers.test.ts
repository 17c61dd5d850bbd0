import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatJson } from '../../src/commands/nat.js';
import { BIN, ROOT, runCli, runJson, why } from '../helpers/cli.js';
import { encodeAddress, startResponder, successFor, type Responder } from '../helpers/responder.js';
import { Attr } from '../../src/core/stun/constants.js';
import { startStund, STUND, type Stund } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';

/** A UDP port on 127.0.0.1 that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

// Name resolution fails inside a namespace of our own whose resolv.conf points
// at its own loopback: no query ever leaves this machine (".invalid" names would
// otherwise go to the configured resolver).
const NS = `rpn-dns-${process.pid}`.slice(0, 15);

describeWith({ commands: ['ip', 'ss', STUND], root: true }, 'rtcprobe nat: a server that fails is passed over for the next one', () => {
  let stund: Stund;
  beforeAll(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    mkdirSync(`/etc/netns/${NS}`, { recursive: true });
    writeFileSync(`/etc/netns/${NS}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    stund = await startStund({ ips: ['127.0.0.1', '127.0.0.2'], port: 3478, netns: NS });
  });
  afterAll(async () => {
    await stund?.stop();
    try { execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' }); } catch { /* already gone */ }
    rmSync(`/etc/netns/${NS}`, { recursive: true, force: true });
  });

  it('an unresolvable first server: the tests run against the second, and the first is named with its reason', async () => {
    const r = await runJson<NatJson>(['nat', '-s', 'nonexistent.invalid', '-s', '127.0.0.1:3478', '--no-hairpin'], { netns: NS });
    expect(r.code, why(r)).toBe(0);
    const f = r.json.families[0]!;
    expect(f.server).toBe('127.0.0.1:3478');
    expect(r.json.natType).toBe('open-internet');
    expect(r.json.warnings.join('\n')).toMatch(/nonexistent\.invalid was not used: DNS: .*; the tests ran against 127\.0\.0\.1:3478/);
    expect(f.tests.fallbacks).toEqual([expect.objectContaining({ server: 'nonexistent.invalid', code: 'DNS' })]);
  });

  it('with no DNS at all, every default server is tried and named', async () => {
    const r = await runJson<NatJson>(['nat', '--no-hairpin'], { netns: NS });
    expect(r.code, why(r)).toBe(1);
    const w = r.json.warnings.join('\n');
    expect(w).toMatch(/the tests could not run: DNS: .*stun\.l\.google\.com.*stun\.cloudflare\.com/);
    expect(r.json.families[0]!.tests.fallbacks).toEqual([expect.objectContaining({ server: 'stun.cloudflare.com:3478', code: 'DNS' })]);
  });
});

describe('rtcprobe nat: ICMP, positional servers, bind failures', () => {
  let plain: Responder;
  beforeAll(async () => {
    plain = await startResponder((req, from) => [{ data: successFor(req, from.port, from.address) }]);
  });
  afterAll(async () => {
    await plain.close();
  });

  it('a closed port is reported UNREACHABLE at once, not after the timeout', async () => {
    const port = await closedPort();
    const t0 = performance.now();
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${port}`, '--timeout', '3000']);
    const took = performance.now() - t0;
    expect(r.code, why(r)).toBe(1);
    const f = r.json.families[0]!;
    expect(f.udpBlocked).toBe(false);
    expect(f.tests.mapping[0]).toMatchObject({ test: 'mapping-1', outcome: 'unreachable' });
    expect(r.json.warnings.join('\n')).toMatch(/the tests could not run: UNREACHABLE: .*ECONNREFUSED/);
    expect(f.elapsedMs).toBeLessThan(1500);
    expect(took).toBeLessThan(2500);
  });

  it('an unreachable first server is passed over for one that answers', async () => {
    const port = await closedPort();
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${port}`, '-s', `127.0.0.1:${plain.port}`, '--no-hairpin']);
    const f = r.json.families[0]!;
    expect(f.server).toBe(`127.0.0.1:${plain.port}`);
    expect(f.tests.fallbacks).toEqual([expect.objectContaining({ server: `127.0.0.1:${port}`, code: 'UNREACHABLE' })]);
    expect(r.json.mapping).toBe('none');
    expect(f.elapsedMs).toBeLessThan(2500);
  });

  it('servers may be given as arguments, like stun and turn', async () => {
    const r = await runJson<NatJson>(['nat', `127.0.0.1:${plain.port}`, '--no-hairpin']);
    expect(r.json.families[0]!.server).toBe(`127.0.0.1:${plain.port}`);
    expect(r.json.mapping).toBe('none');
  });

  it('--local-address that is not an address of this machine: one line, exit 2, no verdict', async () => {
    const r = await runCli(['nat', '-l', '192.0.2.99', '-s', `127.0.0.1:${plain.port}`]);
    expect(r.code, why(r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error SOCKET: cannot bind to --local-address 192\.0\.2\.99: .*EADDRNOTAVAIL/);
    const j = await runJson<{ error: { code: string } }>(['nat', '-l', '192.0.2.99', '-s', `127.0.0.1:${plain.port}`]);
    expect(j.code).toBe(2);
    expect(j.json.error.code).toBe('SOCKET');
  });
});

describe('rtcprobe nat --json: SIGTERM keeps the results so far', () => {
  let server: Responder;
  const sources = new Set<number>();
  let third: () => void;
  const thirdSource = new Promise<void>((r) => { third = r; });
  beforeAll(async () => {
    server = await startResponder((req, from) => {
      sources.add(from.port);
      // Test I, its ICMP watch, then a socket opened only once Test I was answered.
      if (sources.size >= 3) third();
      // Filtering requests go unanswered, so the run waits out --wait: time to interrupt it.
      if (req.attributes.some((a) => a.type === Attr.ChangeRequest)) return [];
      return [{ data: successFor(req, from.port, from.address, [{ type: Attr.OtherAddress, value: encodeAddress({ address: '127.0.0.2', port: server.otherPort }) }]) }];
    });
  });
  afterAll(async () => {
    await server.close();
  });

  it('prints the partial document, marked interrupted, and exits 130', async () => {
    const child = spawn(process.execPath, [BIN, 'nat', '-s', `127.0.0.1:${server.port}`, '--wait', '60000', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await thirdSource;
    child.kill('SIGTERM');
    const code = await exited;
    expect({ code, stderr }).toEqual({ code: 130, stderr: '' });
    const j = JSON.parse(stdout) as NatJson;
    expect(j.interrupted).toBe(true);
    expect(j.ok).toBe(false);
    const f = j.families[0]!;
    expect(f.tests.mapping[0]).toMatchObject({ test: 'mapping-1', outcome: 'answered' });
    expect(f.publicAddress).toEqual(f.localAddress);
    expect(f.warnings.join('\n')).toMatch(/interrupted/);
  });
});
