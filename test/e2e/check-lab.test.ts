/**
 * rtcprobe check on real NATs (the NAT lab: namespaces + nftables), with a
 * TURN server (coturn) on the public side and miniupnpd on the NAT:
 * symmetric NAT with TURN/UDP, UDP blocked with TURN over TCP and TLS, and
 * the gateway's port-mapping services on and off.
 */
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CheckReport } from '../../src/core/check/report.js';
import { BIN, ROOT, runJson } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { LAB, labLeftovers, natLab } from '../helpers/netns-lab.js';
import { STUND } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';

const T = 150_000;
const USER = 'labuser';
const PASSWORD = 'lab-turn-password-9';
const TURN_IP = LAB.rfc5780Server;

describeWith({ commands: ['ip', 'nft', 'turnserver', 'miniupnpd', 'openssl', STUND], root: true }, 'rtcprobe check in the NAT lab', () => {
  const lab = natLab('ck');
  let coturn: Coturn | undefined;
  let cert: TestCert;
  beforeAll(() => {
    cert = makeTestCert(`IP:${TURN_IP}`);
  });
  afterAll(async () => {
    await coturn?.stop();
    lab.down();
    cert?.remove();
    expect(labLeftovers(lab.id)).toEqual([]);
  });

  /** Build the topology, then a TURN server (UDP, TCP, TLS) next to the lab's STUN server on the public side. */
  async function up(topology: string, portmap: string): Promise<Coturn> {
    await coturn?.stop();
    await lab.up(topology, {}, ['--portmap', portmap]);
    coturn = await startCoturn({
      ips: [TURN_IP],
      netns: `rpn-${lab.id}-pub`,
      basePort: 41000,
      users: [{ user: USER, password: PASSWORD }],
      realm: 'lab.test',
      tls: { cert: cert.cert, key: cert.key },
    });
    return coturn;
  }

  const check = (args: string[]) => runJson<CheckReport>(['check', ...args, '-u', USER, '-p', PASSWORD, '--ca', cert.cert, '--step-timeout', '25000'], { netns: lab.clientNs, timeout: 120_000 });

  /**
   * The check in the client namespace with the CLI's exit grace raised out of the way (bin/ ends the worker
   * 2 s after the report otherwise, which would hide whatever keeps it alive): the time from the last output
   * to the exit of the process.
   */
  async function checkUntilExit(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; json: CheckReport; afterReportMs: number }> {
    const child = spawn('ip', ['netns', 'exec', lab.clientNs, process.execPath, BIN, 'check', ...args, '-u', USER, '-p', PASSWORD, '--ca', cert.cert, '--step-timeout', '25000', '--json'], {
      cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RTCPROBE_EXIT_GRACE_MS: '600000' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let lastOutput = 0;
    child.stdout.on('data', (d) => ((stdout += d), (lastOutput = performance.now())));
    child.stderr.on('data', (d) => ((stderr += d), (lastOutput = performance.now())));
    let killer: NodeJS.Timeout | undefined;
    try {
      const code = await new Promise<number | null>((resolve) => {
        child.on('exit', (c) => resolve(c));
        killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      });
      const afterReportMs = performance.now() - lastOutput;
      let json: CheckReport;
      try {
        json = JSON.parse(stdout) as CheckReport;
      } catch {
        throw new Error(`stdout is not JSON (exit ${code}):\n${stdout}\nstderr:\n${stderr}`);
      }
      return { code, stdout, stderr, json, afterReportMs };
    } finally {
      clearTimeout(killer);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }

  /** Counts the client's name lookups and datagrams to werift's built-in public STUN port (an nft table of this run). */
  function watchLookups(): () => number {
    const table = `rpn_ck_probe_${process.pid}`;
    const nft = (script: string) => execFileSync('ip', ['netns', 'exec', lab.clientNs, 'nft', '-f', '-'], { input: script, timeout: 10_000 });
    nft(`table inet ${table} {\n chain out {\n type filter hook output priority 0; policy accept;\n udp dport { 53, 19302 } counter\n tcp dport 53 counter\n }\n}\n`);
    return () => {
      const out = execFileSync('ip', ['netns', 'exec', lab.clientNs, 'nft', '-j', 'list', 'table', 'inet', table], { encoding: 'utf8', timeout: 10_000 });
      const rules = (JSON.parse(out) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables.filter((x) => x.rule);
      expect(rules.length).toBe(2);
      return rules.reduce((n, x) => n + x.rule!.expr.reduce((m, e) => m + (e.counter?.packets ?? 0), 0), 0);
    };
  }

  it('symmetric NAT with a working TURN server: direct P2P unlikely, TURN/UDP works, the data channel opens through the relay; miniupnpd\'s three services detected', async () => {
    const c = await up('apdm', 'upnp,natpmp,pcp');
    const lookups = watchLookups();
    const r = await checkUntilExit([`stun:${TURN_IP}:3478`, `turn:${TURN_IP}:${c.port}`]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const j = r.json;
    expect(j.steps.nat).toMatchObject({ status: 'done', natType: 'symmetric', mapping: 'address-and-port-dependent' });
    expect(j.verdict.text).toBe('Calls will connect: direct P2P unlikely; TURN/UDP works');
    expect(j.forecast.rows.map((x) => x.path)).toEqual(['direct', 'direct', 'direct', 'turn-udp', 'turn-udp', 'none']);
    const e2e = j.steps.e2e.relays[0]!;
    expect(e2e, JSON.stringify(e2e)).toMatchObject({ verdict: 'works', transport: 'udp' });
    expect(e2e.connectMs!.total).toBeGreaterThan(0);
    expect(e2e.rttMs!.samples).toBe(10);
    expect(j.relays[0]).toMatchObject({ status: 'works', provenBy: 'e2e' });
    // The browser's view: a host candidate, a server-reflexive one at the NAT's address, a relay over UDP.
    const types = new Set(j.steps.gather.candidates.map((x) => x.type));
    expect([...types].sort()).toEqual(['host', 'relay', 'srflx']);
    expect(j.steps.gather.candidates.find((x) => x.type === 'srflx')!.address).toBe(LAB.natPublicAddress);
    // Gathering as fast as werift's own peer (tens of ms here): nothing waits on werift's built-in public
    // STUN server any more, whose name lookup held the srflx candidate until werift's 5 s gathering timer
    // and, with no resolver answering in the lab, the process for ~5 s after the report. Bounds: 2 s for
    // a loaded machine, well under the 5 s the wait took.
    expect(j.steps.gather.candidates.map((x) => x.type).sort()).toEqual(['host', 'relay', 'srflx']);
    expect(j.steps.gather.lastMs!).toBeLessThan(2_000);
    expect(j.steps.gather.candidates.find((x) => x.type === 'srflx')!.atMs).toBeLessThan(2_000);
    expect(r.afterReportMs).toBeLessThan(2_000);
    // No name lookup and nothing to werift's default STUN port left the client (all URLs are addresses).
    expect(lookups()).toBe(0);
    // Port mapping: miniupnpd on the gateway answers all three.
    expect(j.steps.portmap).toMatchObject({ status: 'done', gateway: '192.0.2.1', upnp: { present: true, externalAddress: LAB.natPublicAddress }, natpmp: { present: true }, pcp: { present: true } });
  }, T);

  it('UDP blocked at the NAT, TURN over TCP and TLS available: only TURN over TCP/TLS works, with the connect times; no port mapping', async () => {
    const c = await up('udp-blocked', 'none');
    const tcp = `turn:${TURN_IP}:${c.port}?transport=tcp`;
    const tls = `turns:${TURN_IP}:${c.tlsPort}`;
    const r = await check([`stun:${TURN_IP}:3478`, `turn:${TURN_IP}:${c.port}`, tcp, tls, '--timeout', '2000']);
    expect(r.code, r.stdout).toBe(0);
    const j = r.json;
    expect(j.steps.network.egress.udp).toBe(false);
    expect(j.verdict.text).toBe(`Calls will connect: only TURN over TCP/TLS works (UDP blocked here); TURN/TCP on ${c.port} and TURN/TLS on ${c.tlsPort} work`);
    expect(j.relays.map((p) => [p.transport, p.status])).toEqual([['udp', 'blocked'], ['tcp', 'works'], ['tls', 'works']]);
    expect(j.broken).toEqual([]);
    expect(j.forecast.rows.every((x) => x.path === 'turn-tcp')).toBe(true);
    const byUrl = new Map(j.steps.e2e.relays.map((e) => [e.url, e]));
    for (const u of [tcp, tls]) {
      expect(byUrl.get(u), JSON.stringify(byUrl.get(u))).toMatchObject({ verdict: 'works' });
      expect(byUrl.get(u)!.connectMs!.total).toBeGreaterThan(0);
    }
    expect(byUrl.get(`turn:${TURN_IP}:${c.port}`)!.verdict).not.toBe('works');
    // Gathering: relay candidates over TCP and TLS only; the UDP TURN URL and the STUN URL report an error.
    const relayProtocols = j.steps.gather.candidates.filter((x) => x.type === 'relay').map((x) => x.relayProtocol).sort();
    expect(relayProtocols).toEqual(['tcp', 'tls']);
    expect(j.steps.gather.errors.map((e) => e.url).sort()).toEqual([`stun:${TURN_IP}:3478`, `turn:${TURN_IP}:${c.port}`].sort());
    // No miniupnpd: every port-mapping service absent, with the reason.
    expect(j.steps.portmap).toMatchObject({ status: 'done', upnp: { present: false }, natpmp: { present: false }, pcp: { present: false } });
    expect(j.steps.portmap.natpmp!.error).toBeTruthy();
  }, T);

  it('UPnP IGD only: detected, while NAT-PMP and PCP are reported absent (port closed)', async () => {
    const c = await up('eim-apdf', 'upnp');
    const r = await check([`stun:${TURN_IP}:3478`, `turn:${TURN_IP}:${c.port}`, '--skip', 'gather,e2e']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.steps.nat).toMatchObject({ natType: 'port-restricted-cone' });
    expect(r.json.verdict.text).toBe('Calls will connect: direct P2P with most NATs; TURN/UDP works');
    expect(r.json.steps.portmap).toMatchObject({
      status: 'done',
      upnp: { present: true, externalAddress: LAB.natPublicAddress },
      natpmp: { present: false, error: 'port closed (ICMP port unreachable)' },
      pcp: { present: false, error: 'port closed (ICMP port unreachable)' },
    });
  }, T);
});
