/**
 * rtcprobe check on real NATs (the NAT lab: namespaces + nftables), with a
 * TURN server (coturn) on the public side and miniupnpd on the NAT:
 * symmetric NAT with TURN/UDP, UDP blocked with TURN over TCP and TLS, and
 * the gateway's port-mapping services on and off.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CheckReport } from '../../src/core/check/report.js';
import { runJson } from '../helpers/cli.js';
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

  it('symmetric NAT with a working TURN server: direct P2P unlikely, TURN/UDP works, the data channel opens through the relay; miniupnpd\'s three services detected', async () => {
    const c = await up('apdm', 'upnp,natpmp,pcp');
    const r = await check([`stun:${TURN_IP}:3478`, `turn:${TURN_IP}:${c.port}`]);
    expect(r.code, r.stdout).toBe(0);
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
