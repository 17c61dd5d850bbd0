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
    unblock() {
      try {
        inNs('nft', 'delete', 'table', 'inet', 'rpt_fw');
      } catch {
        /* no table */
      }
    },
    down() {
      deleteNs(ns);
    },
  };
}
