/**
 * rtcprobe turn from behind real NATs (the NAT lab: namespaces + nftables),
 * with coturn on the public side. The outside-peer rows send from the relayed
 * address to this host's own outside address: the NAT's filtering decides
 * whether that arrives, not the server.
 */
import { afterAll, expect, it } from 'vitest';
import type { TurnJson } from '../../src/commands/turn.js';
import { runCli, runJson } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { LAB, labLeftovers, natLab } from '../helpers/netns-lab.js';
import { STUND } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';

const T = 120_000;
const USER = 'natuser';
const PASSWORD = 'nat-lab-turn-pw-3';
const TURN_IP = LAB.rfc5780Server;

type Row = TurnJson['checks'][number];
const row = (j: TurnJson, id: string): Row => {
  const r = j.checks.find((c) => c.id === id);
  if (!r) throw new Error(`no check "${id}" in ${j.checks.map((c) => c.id).join(', ')}`);
  return r;
};

describeWith({ commands: ['ip', 'nft', 'turnserver', STUND], root: true }, 'rtcprobe turn behind the NAT lab\'s NATs', () => {
  const lab = natLab('tn');
  let coturn: Coturn | undefined;
  afterAll(async () => {
    await coturn?.stop();
    lab.down();
    expect(labLeftovers(lab.id)).toEqual([]);
  });

  async function up(topology: string): Promise<Coturn> {
    await coturn?.stop();
    coturn = undefined;
    await lab.up(topology);
    coturn = await startCoturn({ ips: [TURN_IP], netns: `rpn-${lab.id}-pub`, basePort: 42000, users: [{ user: USER, password: PASSWORD }], realm: 'nat.test' });
    return coturn;
  }
  const args = (c: Coturn) => ['turn', `turn:${TURN_IP}:${c.port}`, '-u', USER, '-p', PASSWORD, '--count', '10', '--rate', '100', '--timeout', '2000'];
  const turn = (c: Coturn) => runJson<TurnJson>(args(c), { netns: lab.clientNs, timeout: 90_000 });

  it('no NAT: relay to peer passes as before', async () => {
    const r = await turn(await up('none'));
    expect(r.code, r.stdout).toBe(0);
    const r2p = row(r.json, 'udp.relay-to-peer');
    expect(r2p.status).toBe('pass');
    expect(r2p.detail).toMatch(/^10\/10 Send indications toward our outside address 192\.0\.2\.2:\d+ arrived on our socket from the relayed address 203\.0\.113\.1:\d+$/);
    expect(row(r.json, 'udp.peer-to-relay').status).toBe('pass');
    expect(r.json.servers[0]!.outsidePeer).toMatchObject({ relayToPeer: 'arrived', behindNat: false, mappingPerDestination: false });
  }, T);

  it('port-restricted cone (plain masquerade): the hole-punch opens the NAT, relay to peer passes and says so', async () => {
    const r = await turn(await up('eim-apdf'));
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.verdict).toBe('works');
    const r2p = row(r.json, 'udp.relay-to-peer');
    expect(r2p.status).toBe('pass');
    expect(r2p.detail).toMatch(/^10\/10 Send indications toward our outside address 198\.51\.100\.2:\d+ arrived on our socket from the relayed address 203\.0\.113\.1:\d+, through this host's NAT \(local address 192\.0\.2\.2:\d+\), opened by the peer-to-relay datagrams/);
    expect(row(r.json, 'udp.peer-to-relay').status).toBe('pass');
    expect(r.json.servers[0]!.outsidePeer).toMatchObject({ relayToPeer: 'arrived', behindNat: true, mappingPerDestination: false });
  }, T);

  it('symmetric NAT: relay to peer is not verified because of this host\'s NAT, a warning with the reason, not a server failure', async () => {
    const c = await up('apdm');
    const r = await turn(c);
    expect(r.code, r.stdout).toBe(0);
    expect(r.json.verdict).toBe('works');
    const r2p = row(r.json, 'udp.relay-to-peer');
    expect(r2p.status).toBe('warn');
    expect(r2p.detail).toMatch(/^not verified: this host's NAT filters datagrams from the relayed address 203\.0\.113\.1:\d+ toward our outside address 198\.51\.100\.2:\d+ \(0\/10 arrived, after a hole-punch\): this host's NAT maps each destination to its own outside port/);
    expect(r2p.hint).toMatch(/^not a fault of the server/);
    expect(r2p.label).toBe("relay to peer not verified (this host's NAT)");
    expect(row(r.json, 'udp.peer-to-relay').status).toBe('pass');
    expect(row(r.json, 'udp.relay-channel').status).toBe('pass');
    expect(r.json.headline).toMatchObject({ status: 'warn', text: "TURN server works, with 1 warning: relay to peer not verified (this host's NAT)" });
    expect(r.json.warnings).toEqual(["relay to peer not verified (this host's NAT)"]);
    const op = r.json.servers[0]!.outsidePeer!;
    expect(op).toMatchObject({ relayToPeer: 'not-verified-nat', behindNat: true, mappingPerDestination: true });
    expect(op.seenFrom).toMatch(/^198\.51\.100\.2:\d+$/);
    expect(op.seenFrom).not.toBe(r.json.servers[0]!.mapped);
    expect(op.reason).toMatch(/maps each destination to its own outside port/);
    // Human output: the verdict line names the warning, not a failure.
    const h = await runCli(args(c), { netns: lab.clientNs, timeout: 90_000, env: { NO_COLOR: '1' } });
    expect(h.code, h.stdout).toBe(0);
    expect(h.stdout.split('\n')[0]).toBe("⚠ TURN server works, with 1 warning: relay to peer not verified (this host's NAT)");
    expect(h.stdout).toMatch(/not verified: this host's NAT filters datagrams from the relayed address/);
  }, T);
});
