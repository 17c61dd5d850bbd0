import { execFileSync } from 'node:child_process';

/**
 * One network namespace for TURN tests: an address from 203.0.113.0/24 on
 * its own loopback device, where coturn listens and relays, and where the
 * CLI runs too. Neither end sees a loopback address. nftables rules inside it stand in for a firewall in front of
 * the relay ports.
 */
export interface TurnLab {
  ns: string;
  address: string;
  blockUdpPorts(min: number, max: number): void;
  /**
   * A second namespace for the client, joined to this one by a veth pair:
   * the client is 203.0.113.2 there, so the relay sees it as an outside host.
   */
  addClientNamespace(): { ns: string; address: string };
  /**
   * Drop UDP to `relayIp`'s ports min..max unless it comes from `relayIp`
   * itself: traffic between relayed addresses passes, traffic from any
   * other address (an outside peer) does not.
   */
  blockRelayFromOutside(relayIp: string, min: number, max: number): void;
  unblock(): void;
  down(): void;
}

const labs = new Set<string>();
function deleteNs(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
  labs.delete(ns);
}
process.once('exit', () => {
  for (const ns of [...labs]) deleteNs(ns);
});

export function turnLab(tag: string): TurnLab {
  const ns = `rpt-${tag}-${process.pid}`.slice(0, 15);
  const address = '203.0.113.1';
  const inNs = (...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'pipe' });
  deleteNs(ns);
  execFileSync('ip', ['netns', 'add', ns]);
  labs.add(ns);
  try {
    inNs('ip', 'link', 'set', 'lo', 'up');
    inNs('ip', 'addr', 'add', `${address}/32`, 'dev', 'lo');
  } catch (err) {
    deleteNs(ns);
    throw err;
  }
  const extra: string[] = [];
  return {
    ns,
    address,
    blockUdpPorts(min, max) {
      const rules = [
        'table inet rpt_fw {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    udp dport ${min}-${max} drop`,
        '  }',
        '}',
      ].join('\n');
      execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules });
    },
    addClientNamespace() {
      const cli = `rpc-${tag}-${process.pid}`.slice(0, 15);
      const clientAddress = '203.0.113.2';
      deleteNs(cli);
      execFileSync('ip', ['netns', 'add', cli]);
      labs.add(cli);
      const inCli = (...cmd: string[]) => execFileSync('ip', ['netns', 'exec', cli, ...cmd], { stdio: 'pipe' });
      // Created inside the namespaces: the interface names never meet other runs' in the root namespace.
      execFileSync('ip', ['-n', ns, 'link', 'add', 'vsrv', 'type', 'veth', 'peer', 'name', 'vcli', 'netns', cli]);
      inNs('ip', 'link', 'set', 'vsrv', 'up');
      inNs('ip', 'route', 'add', `${clientAddress}/32`, 'dev', 'vsrv', 'src', address);
      inCli('ip', 'link', 'set', 'lo', 'up');
      inCli('ip', 'link', 'set', 'vcli', 'up');
      inCli('ip', 'addr', 'add', `${clientAddress}/32`, 'dev', 'vcli');
      inCli('ip', 'route', 'add', `${address}/32`, 'dev', 'vcli', 'src', clientAddress);
      extra.push(cli);
      return { ns: cli, address: clientAddress };
    },
    blockRelayFromOutside(relayIp, min, max) {
      const rules = [
        'table inet rpt_fw {',
        '  chain input {',
        '    type filter hook input priority 0; policy accept;',
        `    ip daddr ${relayIp} udp dport ${min}-${max} ip saddr != ${relayIp} drop`,
        '  }',
        '}',
      ].join('\n');
      execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules });
    },
    unblock() {
      try {
        inNs('nft', 'delete', 'table', 'inet', 'rpt_fw');
      } catch {
        /* no table */
      }
    },
    down() {
      for (const n of extra) deleteNs(n);
      deleteNs(ns);
    },
  };
}
