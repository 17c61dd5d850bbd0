import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TurnJson } from '../../src/commands/turn.js';
import { runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';
import { turnLab, type TurnLab } from '../helpers/turn-lab.js';

type Row = TurnJson['checks'][number];

const row = (j: TurnJson, id: string): Row => {
  const r = j.checks.find((c) => c.id === id);
  if (!r) throw new Error(`no check "${id}" in ${j.checks.map((c) => c.id).join(', ')}`);
  return r;
};

describeWith({ commands: ['turnserver', 'ip', 'nft'], root: true }, 'rtcprobe turn: relay ports behind a firewall (network namespace)', () => {
  let lab: TurnLab;
  let coturn: Coturn;

  beforeAll(async () => {
    lab = turnLab('fw');
    // Default coturn peer rules: the relay address 203.0.113.1 is not loopback, so no allow-loopback-peers is needed.
    coturn = await startCoturn({
      ips: [lab.address],
      netns: lab.ns,
      basePort: 40000,
      users: [{ user: 'fw', password: 'firewall-test-pw' }],
    });
  });
  afterAll(async () => {
    await coturn?.stop();
    lab?.down();
  });

  const args = () => ['turn', `turn:${lab.address}:${coturn.port}`, '--user', 'fw', '--password', 'firewall-test-pw', '--count', '20', '--rate', '100', '--timeout', '2000'];

  it('with the relay ports open, the relayed path works and the public-looking relay address passes', async () => {
    lab.unblock();
    const r = await runJson<TurnJson>(args(), { netns: lab.ns, timeout: 60000 });
    expect(r.code, r.stdout).toBe(0);
    expect(row(r.json, 'udp.allocate').status).toBe('pass');
    expect(row(r.json, 'udp.allocate').detail).toContain(`relayed address ${lab.address}:`);
    expect(row(r.json, 'udp.relay-channel').status).toBe('pass');
    expect(r.json.relay!.loss).toBe(0);
  });

  it('with nftables dropping the relay port range, allocation works but the tool blames the firewall', async () => {
    lab.blockUdpPorts(coturn.relayMin, coturn.relayMax);
    try {
      const r = await runJson<TurnJson>(args(), { netns: lab.ns, timeout: 60000 });
      expect(r.code, why(r)).toBe(1);
      expect(row(r.json, 'udp.reach').status).toBe('pass');
      expect(row(r.json, 'udp.auth').status).toBe('pass');
      expect(row(r.json, 'udp.allocate').status).toBe('pass');
      expect(row(r.json, 'udp.permission').status).toBe('pass');
      expect(row(r.json, 'udp.relay-indication').status).toBe('fail');
      expect(row(r.json, 'udp.relay-channel').status).toBe('fail');
      const path = row(r.json, 'udp.relay-path');
      expect(path.status).toBe('fail');
      expect(path.detail).toContain('not one relayed message arrived');
      expect(path.hint).toMatch(/relay port range is most likely blocked by a firewall/);
      // Control traffic still works: refresh and deallocation pass.
      expect(row(r.json, 'udp.refresh').status).toBe('pass');
      expect(row(r.json, 'udp.deallocate').status).toBe('pass');
    } finally {
      lab.unblock();
    }
  });
});

describeWith({ commands: ['turnserver', 'ip', 'nft'], root: true }, 'rtcprobe turn: relay ports closed to outside peers only (network namespaces)', () => {
  let lab: TurnLab;
  let coturn: Coturn;
  let client: { ns: string; address: string };

  beforeAll(async () => {
    lab = turnLab('peer');
    // The client runs in a namespace of its own (203.0.113.2, over a veth pair): an outside host for the relay 203.0.113.1.
    client = lab.addClientNamespace();
    coturn = await startCoturn({
      ips: [lab.address],
      netns: lab.ns,
      basePort: 41000,
      users: [{ user: 'peer', password: 'outside-peer-pw' }],
    });
  });
  afterAll(async () => {
    await coturn?.stop();
    lab?.down();
  });

  const args = () => ['turn', `turn:${lab.address}:${coturn.port}`, '--user', 'peer', '--password', 'outside-peer-pw', '--count', '10', '--rate', '100', '--timeout', '2000'];

  it('open: relay to peer, peer to relay and between allocations all pass', async () => {
    lab.unblock();
    const r = await runJson<TurnJson>(args(), { netns: client.ns, timeout: 60000 });
    expect(r.code, r.stdout).toBe(0);
    expect(row(r.json, 'udp.relay-channel').status).toBe('pass');
    expect(row(r.json, 'udp.peer-to-relay').status).toBe('pass');
    expect(row(r.json, 'udp.peer-to-relay').detail).toContain(`outside address ${client.address}:`);
    expect(row(r.json, 'udp.relay-to-peer').status).toBe('pass');
  });

  it('nftables drops outside traffic to the relay range: relaying between allocations still works, peer to relay fails with a firewall hint', async () => {
    lab.blockRelayFromOutside(lab.address, coturn.relayMin, coturn.relayMax);
    try {
      const r = await runJson<TurnJson>(args(), { netns: client.ns, timeout: 60000 });
      expect(r.code, why(r)).toBe(1);
      // The check earlier versions relied on passes: both ends are relays on the server itself.
      expect(row(r.json, 'udp.relay-indication').status).toBe('pass');
      expect(row(r.json, 'udp.relay-channel').status).toBe('pass');
      expect(r.json.checks.some((c) => c.id === 'udp.relay-path')).toBe(false);
      const p2r = row(r.json, 'udp.peer-to-relay');
      expect(p2r.status).toBe('fail');
      expect(p2r.detail).toMatch(/^0\/10 datagrams sent straight from our socket \(outside address 203\.0\.113\.2:\d+\)/);
      expect(p2r.hint).toMatch(/relaying between two allocations of this server works, but datagrams from outside to the relayed address do not arrive: a firewall/);
      // The other direction is not filtered.
      expect(row(r.json, 'udp.relay-to-peer').status).toBe('pass');
    } finally {
      lab.unblock();
    }
  });
});
