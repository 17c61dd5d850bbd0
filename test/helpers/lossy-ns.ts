/**
 * A network namespace whose loopback drops a random share of outgoing UDP
 * (nftables `numgen random`: the impairment that works on these machines).
 * The werift patch tests run their peers inside it with `ip netns exec`.
 */
import { execFileSync } from 'node:child_process';

export interface LossyNs {
  name: string;
  /** Start dropping `percent`% of UDP leaving any socket in the namespace. */
  drop(percent: number): void;
  /** Delete the namespace (also when it was never created). */
  remove(): void;
}

/** Create the namespace with its loopback up; `name` must be unique to this process (put the pid in it). */
export function lossyNs(name: string): LossyNs {
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    drop(percent) {
      execFileSync('ip', ['netns', 'exec', name, 'nft', '-f', '-'], {
        input: `table inet lossy {\n chain out {\n  type filter hook output priority 0; policy accept;\n  meta l4proto udp numgen random mod 100 < ${percent} drop\n }\n}\n`,
      });
    },
    remove: () => removeNs(name),
  };
}

export function removeNs(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    // not created
  }
}
