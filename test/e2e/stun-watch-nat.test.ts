import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StunJson } from '../../src/commands/stun.js';
import { runCli, why } from '../helpers/cli.js';
import { LAB, labLeftovers, natLab } from '../helpers/netns-lab.js';
import { describeWith } from '../helpers/system.js';

const T = 60000;
/** The last line of a watch run: its summary, with the watch figures. */
function summaryOf(stdout: string): StunJson & { watch: NonNullable<StunJson['watch']> } {
  const j = JSON.parse(stdout.trim().split('\n').pop()!) as StunJson;
  if (j.event !== 'summary' || !j.watch) throw new Error(`the last line is not a watch summary: ${stdout}`);
  return { ...j, watch: j.watch };
}

// A real NAT (nftables masquerade with fully random ports, in the lab's
// namespaces) whose UDP mappings expire after 1 s: an idle gap longer than that
// makes the NAT pick a new port, which the watch must report; a shorter one must not.
describeWith({ commands: ['ip', 'nft', 'turnserver', 'sysctl'], root: true }, 'rtcprobe stun --every behind a real NAT', () => {
  const lab = natLab('sw');
  beforeAll(async () => {
    await lab.up('apdm');
    execFileSync('ip', ['netns', 'exec', `rpn-${lab.id}-nat`, 'sysctl', '-q', '-w',
      'net.netfilter.nf_conntrack_udp_timeout=1', 'net.netfilter.nf_conntrack_udp_timeout_stream=1']);
  }, T);
  afterAll(() => {
    lab.down();
    expect(labLeftovers(lab.id)).toEqual([]);
  });

  it('requests closer together than the NAT timeout: one mapping, stable, exit 0', async () => {
    const r = await runCli(['stun', LAB.plainServers[0], '--count', '1', '--every', '200ms', '--duration', '1s', '--json'], { netns: lab.clientNs, timeout: T });
    expect(r.stderr).toBe('');
    expect(r.code, why(r)).toBe(0);
    const s = summaryOf(r.stdout);
    expect(s.watch.rounds).toBe(5);
    expect(s.watch.stable).toBe(true);
    expect(s.watch.servers[0]!.answered).toBe(5);
    expect(s.watch.servers[0]!.mappings).toHaveLength(1);
    expect(s.watch.servers[0]!.mappings[0]!.address).toBe(LAB.natPublicAddress);
  }, T);

  it('an idle gap longer than the NAT timeout: the NAT re-maps, the change is reported, exit 1', async () => {
    const r = await runCli(['stun', LAB.plainServers[0], '--count', '1', '--every', '2500ms', '--duration', '5s', '--json'], { netns: lab.clientNs, timeout: T });
    expect(r.stderr).toBe('');
    expect(r.code, why(r)).toBe(1);
    const s = summaryOf(r.stdout);
    expect(s.ok).toBe(false);
    expect(s.watch.rounds).toBe(2);
    expect(s.watch.stable).toBe(false);
    expect(s.watch.changes).toHaveLength(1);
    const c = s.watch.changes[0]!;
    // Same public IP, same local port, another mapped port: the NAT's doing.
    expect(c.kind).toBe('port');
    expect(c.from.address).toBe(LAB.natPublicAddress);
    expect(c.to.address).toBe(LAB.natPublicAddress);
    expect(c.to.port).not.toBe(c.from.port);
    expect(Date.parse(c.at) - Date.parse(c.previousAt)).toBeGreaterThanOrEqual(2000);
  }, T);
});
