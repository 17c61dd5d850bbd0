import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { StunJson, WatchJson } from '../../src/commands/stun.js';
import { BIN, ROOT, runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { startResponder, successFor, type Responder } from '../helpers/responder.js';
import { describeWith } from '../helpers/system.js';

const lines = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('rtcprobe stun: no figures from no data', () => {
  it('nothing answered: agree is null, not true; nothing sent: loss is null, not 1', async () => {
    // A TCP port with nothing listening: the connection is refused before any request goes out.
    const closed = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${closed}`, '--transport', 'tcp', '--count', '2', '--timeout', '2000']);
    expect(r.code, why(r)).toBe(1);
    expect(r.json.verdict.answered).toBe(0);
    expect(r.json.verdict.agree).toBeNull();
    const s = r.json.servers[0]!;
    expect(s.sent).toBe(0);
    expect(s.loss).toBeNull();
    expect(s.mappedAddressClass).toBeNull();
    expect(s.error?.code).toBe('UNREACHABLE');
  });
});

describe('rtcprobe stun: the mapped address is labelled by its class', () => {
  let responder: Responder | undefined;
  afterEach(async () => {
    await responder?.close();
    responder = undefined;
  });

  it.each([
    ['10.20.30.40', 'private', /^⚠ Private address 10\.20\.30\.40/],
    ['100.64.1.2', 'cgnat', /^⚠ Shared \(CGNAT\) address 100\.64\.1\.2/],
    ['169.254.9.9', 'link-local', /^⚠ Link-local address 169\.254\.9\.9/],
    ['198.51.100.7', 'public', /^✔ Public address 198\.51\.100\.7/],
  ])('%s is %s, in JSON and in the verdict line', async (address, cls, head) => {
    responder = await startResponder((req, from) => [{ data: successFor(req, from.port, address) }]);
    const j = await runJson<StunJson>(['stun', `127.0.0.1:${responder.port}`, '--count', '1']);
    expect(j.code).toBe(0);
    expect(j.json.servers[0]!.mappedAddressClass).toBe(cls);
    expect(j.json.verdict.addresses).toEqual([{ address, class: cls }]);
    const h = await runCli(['stun', `127.0.0.1:${responder.port}`, '--count', '1']);
    expect(h.stdout.split('\n')[0]).toMatch(head);
    expect(h.stdout).toMatch(new RegExp(`mapped {5}${address.replace(/\./g, '\\.')}:\\d+ \\(${cls}\\)`));
  });
});

describe('rtcprobe stun --every: watch mode', () => {
  let responder: Responder | undefined;
  afterEach(async () => {
    await responder?.close();
    responder = undefined;
  });

  it('a mapping that changes is reported with its time; JSON Lines end with the summary; exit 1', async () => {
    // Rounds 1-2 see port 40000, from round 3 on the "NAT" maps to 40001.
    const froms = new Set<number>();
    responder = await startResponder((req, from, n) => {
      froms.add(from.port);
      return [{ data: successFor(req, n <= 2 ? 40000 : 40001, '198.51.100.7') }];
    });
    const before = Date.now();
    const r = await runCli(['stun', `127.0.0.1:${responder.port}`, '--count', '1', '--every', '100ms', '--duration', '400ms', '--json']);
    const after = Date.now();
    expect(r.code, why(r)).toBe(1);
    expect(r.stderr).toBe('');
    const ls = lines(r.stdout);
    expect(ls.filter((l) => l.event === 'round')).toHaveLength(4);
    const change = ls.find((l) => l.event === 'change') as unknown as WatchJson['changes'][number];
    const rounds = ls.filter((l) => l.event === 'round') as { at: string; round: number }[];
    // The change is dated by the round that saw it, and bounded by the last round that did not.
    expect(change.at).toBe(rounds[2]!.at);
    expect(change.previousAt).toBe(rounds[1]!.at);
    expect(change).toMatchObject({ round: 3, from: { address: '198.51.100.7', port: 40000 }, to: { address: '198.51.100.7', port: 40001 }, kind: 'port' });
    const at = Date.parse(change.at);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(after);
    const summary = ls[ls.length - 1] as unknown as StunJson;
    expect(summary.event).toBe('summary');
    expect(summary.ok).toBe(false);
    expect(summary.watch).toMatchObject({ rounds: 4, interrupted: false, stable: false, everyMs: 100, durationMs: 400 });
    expect(summary.watch!.changes).toHaveLength(1);
    expect(summary.watch!.servers[0]).toMatchObject({ rounds: 4, answered: 4, stable: false });
    // Every request of the watch left from one local port.
    expect(froms.size).toBe(1);
  });

  it('a stable mapping: exit 0, human output says stable, one local port throughout', async () => {
    const froms = new Set<number>();
    responder = await startResponder((req, from) => {
      froms.add(from.port);
      return [{ data: successFor(req, from.port) }];
    });
    const r = await runCli(['stun', `127.0.0.1:${responder.port}`, '--count', '1', '--every', '100ms', '--duration', '300ms']);
    expect(r.code, why(r)).toBe(0);
    expect(r.stdout).toMatch(/^✔ Mapped address stable \(3 round\(s\)/m);
    expect(r.stdout).toMatch(/#3 {2}127\.0\.0\.1:\d+ IPv4 {2}127\.0\.0\.1:\d+/);
    expect(froms.size).toBe(1);
  });

  it('SIGINT stops it cleanly with the summary, exit 0', async () => {
    responder = await startResponder((req, from) => [{ data: successFor(req, from.port) }]);
    const child = spawn(process.execPath, [BIN, 'stun', `127.0.0.1:${responder.port}`, '--count', '1', '--every', '100ms', '--json'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    await vi.waitFor(() => expect(stdout.split('\n').filter((l) => l.includes('"round"')).length).toBeGreaterThanOrEqual(2), { timeout: 10000, interval: 20 });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(0);
    expect(stderr).toBe('');
    const ls = lines(stdout);
    const summary = ls[ls.length - 1] as unknown as StunJson;
    expect(summary.event).toBe('summary');
    expect(summary.watch!.interrupted).toBe(true);
    expect(summary.watch!.stable).toBe(true);
    expect(summary.watch!.rounds).toBeGreaterThanOrEqual(2);
    expect(summary.watch!.durationMs).toBeNull();
  });

  it('SIGTERM too', async () => {
    responder = await startResponder((req, from) => [{ data: successFor(req, from.port) }]);
    const child = spawn(process.execPath, [BIN, 'stun', `127.0.0.1:${responder.port}`, '--count', '1', '--every', '1s', '--json'], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    await vi.waitFor(() => expect(stdout).toContain('"round"'), { timeout: 10000, interval: 20 });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((res) => child.on('close', res));
    expect(code).toBe(0);
    const ls = lines(stdout);
    const w = (ls[ls.length - 1] as unknown as StunJson).watch!;
    expect(w.interrupted).toBe(true);
    expect(w.rounds).toBe(ls.filter((l) => l.event === 'round').length);
    // One answered round says nothing about stability yet.
    expect(w.stable).toBe(w.rounds >= 2 ? true : null);
  });

  it('bad durations are usage errors (exit 2)', async () => {
    const r = await runCli(['stun', '127.0.0.1:3478', '--every', 'often']);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(/USAGE.*not a duration/);
  });
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe stun with coturn: SRV, IDN and --family both through a local DNS server', () => {
  let coturn: Coturn;
  let dns: DnsServer;
  beforeAll(async () => {
    coturn = await startCoturn({ ips: ['127.0.0.1', '::1'], stunOnly: true });
    dns = await startDnsServer([
      { name: 'dual.test', type: 'A', address: '127.0.0.1' },
      { name: 'dual.test', type: 'AAAA', address: '::1' },
      { name: '_stun._udp.dual.test', type: 'SRV', priority: 1, weight: 0, port: coturn.port, target: 'dual.test' },
      { name: '_stun._tcp.dual.test', type: 'SRV', priority: 1, weight: 0, port: coturn.port, target: 'dual.test' },
      { name: 'xn--bcher-kva.test', type: 'A', address: '127.0.0.1' },
      { name: '_stun._udp.xn--bcher-kva.test', type: 'SRV', priority: 1, weight: 0, port: coturn.port, target: 'xn--bcher-kva.test' },
      { name: 'nosrv.test', type: 'A', address: '127.0.0.1' },
    ]);
  });
  afterAll(async () => {
    await coturn?.stop();
    await dns?.close();
  });

  it('a stun: URI without a port follows _stun._udp SRV to the real port', async () => {
    const r = await runJson<StunJson>(['stun', 'stun:dual.test', '--dns-server', dns.address, '--count', '2']);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.ok).toBe(true);
    expect(s.srv).toMatchObject({ query: '_stun._udp.dual.test', fallback: false, target: { host: 'dual.test', port: coturn.port } });
    expect(s.resolvedAddress).toEqual({ family: 4, address: '127.0.0.1', port: coturn.port });
    expect(dns.queries).toContain('_stun._udp.dual.test SRV');
  });

  it('TCP asks _stun._tcp', async () => {
    const r = await runJson<StunJson>(['stun', 'stun:dual.test', '--transport', 'tcp', '--dns-server', dns.address, '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.servers[0]!.srv?.query).toBe('_stun._tcp.dual.test');
  });

  it('no SRV record: falls back to A and the default port, and says so', async () => {
    const r = await runJson<StunJson>(['stun', 'stun:nosrv.test', '--dns-server', dns.address, '--count', '1', '--timeout', '500', '--rto', '100']);
    const s = r.json.servers[0]!;
    expect(s.srv).toMatchObject({ query: '_stun._udp.nosrv.test', fallback: true });
    expect(s.resolvedAddress).toEqual({ family: 4, address: '127.0.0.1', port: 3478 });
    const h = await runCli(['stun', 'stun:nosrv.test', '--dns-server', dns.address, '--count', '1', '--timeout', '300', '--rto', '100']);
    expect(h.stdout).toMatch(/SRV {8}_stun\._udp\.nosrv\.test: .*default port used/);
  });

  it('--no-srv skips the SRV lookup', async () => {
    const before = dns.queries.length;
    const r = await runJson<StunJson>(['stun', 'stun:dual.test', '--no-srv', '--dns-server', dns.address, '--count', '1', '--timeout', '300', '--rto', '100']);
    expect(r.json.servers[0]!.srv).toBeUndefined();
    expect(dns.queries.slice(before).some((q) => q.endsWith('SRV'))).toBe(false);
  });

  it('an internationalised name is looked up in punycode and shown in both forms', async () => {
    const r = await runJson<StunJson>(['stun', 'stun:bücher.test', '--dns-server', dns.address, '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.server).toBe('stun:bücher.test');
    expect(s.idn).toEqual({ unicode: 'bücher.test', ascii: 'xn--bcher-kva.test' });
    expect(s.ok).toBe(true);
    expect(dns.queries).toContain('_stun._udp.xn--bcher-kva.test SRV');
    expect(dns.queries).toContain('xn--bcher-kva.test A');
    const h = await runCli(['stun', 'stun:bücher.test', '--dns-server', dns.address, '--count', '1']);
    expect(h.stdout).toMatch(/name {7}bücher\.test \(ASCII xn--bcher-kva\.test\)/);
  });

  it('--family both probes IPv4 and IPv6 and gives a verdict per family', async () => {
    const r = await runJson<StunJson>(['stun', 'stun:dual.test', '--family', 'both', '--dns-server', dns.address, '--count', '2']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.servers.map((s) => [s.family, s.ok, s.mappedAddress?.address])).toEqual([[4, true, '127.0.0.1'], [6, true, '::1']]);
    expect(r.json.verdict.byFamily).toEqual([
      { family: 4, answered: 1, total: 1, publicAddresses: ['127.0.0.1'], agree: true },
      { family: 6, answered: 1, total: 1, publicAddresses: ['::1'], agree: true },
    ]);
    expect(r.json.verdict.agree).toBe(true);
    const h = await runCli(['stun', 'stun:dual.test', '--family', 'both', '--dns-server', dns.address, '--count', '1']);
    const head = h.stdout.split('\n');
    expect(head[0]).toMatch(/^⚠ IPv4: Loopback address 127\.0\.0\.1/);
    expect(head[1]).toMatch(/^⚠ IPv6: Loopback address ::1/);
  });

  it('--family both with IP literals probes each in its own family', async () => {
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${coturn.port}`, `[::1]:${coturn.port}`, '--family', 'both', '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.servers.map((s) => [s.family, s.ok])).toEqual([[4, true], [6, true]]);
  });
});
