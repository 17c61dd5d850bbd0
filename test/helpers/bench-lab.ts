import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Three network namespaces for benchmark proofs: two peer hosts and a router
 * between them, where the relay (and coturn) listen on 203.0.113.1 (on the
 * router's loopback) and where nftables and tc impair the forwarded path.
 *
 *   peer A 192.0.2.2 ──eth0═va── router 192.0.2.1 / 198.51.100.1, 203.0.113.1 ──vb═eth0── peer B 198.51.100.2
 *
 * Names carry the process id: other runs on the machine never clash.
 */
export interface BenchLab {
  id: string;
  router: string;
  a: string;
  b: string;
  service: string;
  /** Replace the forward-chain rules of the router's table. */
  forwardRules(rules: string[]): void;
  /** Shape the router's egress towards B (`tc qdisc ... tbf`). */
  tbfTowardsB(args: string[]): void;
  /** Remove every impairment (nft rules, tc qdisc). */
  clear(): void;
  /** Start a command (node + the CLI) inside a namespace. */
  spawnIn(ns: string, argv: string[]): ChildProcess;
  /** Resolve once the peers' eth0 links carry (operstate UP); a link still without carrier after a while is set down and up again. */
  linksUp(timeoutMs?: number): Promise<void>;
  down(): void;
  leftovers(): string[];
}

const namespaces = new Set<string>();
function delNs(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    /* gone already */
  }
  namespaces.delete(ns);
}
process.once('exit', () => {
  for (const ns of [...namespaces]) delNs(ns);
});

export function benchLab(tag = 'bl'): BenchLab {
  const id = `${tag}${process.pid}`;
  const router = `rpb-${id}-r`;
  const a = `rpb-${id}-a`;
  const b = `rpb-${id}-b`;
  const table = `rpb_${process.pid}`;
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });
  const inNs = (ns: string, ...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'pipe' });
  for (const ns of [router, a, b]) {
    delNs(ns);
    ip('netns', 'add', ns);
    namespaces.add(ns);
  }
  const down = () => {
    for (const ns of [router, a, b]) delNs(ns);
  };
  try {
    inNs(router, 'ip', 'link', 'set', 'lo', 'up');
    inNs(router, 'ip', 'addr', 'add', '203.0.113.1/32', 'dev', 'lo');
    inNs(router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    // Created inside the namespaces: the interface names never meet other runs' in the root namespace.
    ip('-n', router, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', a);
    ip('-n', router, 'link', 'add', 'vb', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b);
    inNs(router, 'ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'va');
    inNs(router, 'ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'vb');
    inNs(router, 'ip', 'link', 'set', 'va', 'up');
    inNs(router, 'ip', 'link', 'set', 'vb', 'up');
    for (const [ns, addr, gw] of [[a, '192.0.2.2/24', '192.0.2.1'], [b, '198.51.100.2/24', '198.51.100.1']] as const) {
      inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
      inNs(ns, 'ip', 'addr', 'add', addr, 'dev', 'eth0');
      inNs(ns, 'ip', 'link', 'set', 'eth0', 'up');
      inNs(ns, 'ip', 'route', 'add', 'default', 'via', gw);
    }
    execFileSync('ip', ['netns', 'exec', router, 'nft', '-f', '-'], {
      input: `table inet ${table} {\n  chain pathf {\n    type filter hook forward priority 0; policy accept;\n  }\n}\n`,
    });
  } catch (err) {
    down();
    throw err;
  }
  return {
    id,
    router,
    a,
    b,
    service: '203.0.113.1',
    forwardRules(rules) {
      const text = [`flush chain inet ${table} pathf`, ...rules.map((r) => `add rule inet ${table} pathf ${r}`)].join('\n');
      execFileSync('ip', ['netns', 'exec', router, 'nft', '-f', '-'], { input: `${text}\n` });
    },
    tbfTowardsB(args) {
      inNs(router, 'tc', 'qdisc', 'replace', 'dev', 'vb', 'root', 'tbf', ...args);
    },
    clear() {
      try {
        execFileSync('ip', ['netns', 'exec', router, 'nft', 'flush', 'chain', 'inet', table, 'pathf'], { stdio: 'ignore' });
      } catch {
        /* namespace gone */
      }
      try {
        inNs(router, 'tc', 'qdisc', 'del', 'dev', 'vb', 'root');
      } catch {
        /* no qdisc of ours */
      }
    },
    async linksUp(timeoutMs = 10_000) {
      // A veth end can sit in NO-CARRIER (operstate DOWN) for a while after both ends were set up, and
      // Node lists only running interfaces: a peer started then has no host candidate at all.
      const deadline = Date.now() + timeoutMs;
      let kicked = false;
      const start = Date.now();
      for (;;) {
        const down = [a, b].filter((ns) => {
          const info = JSON.parse(execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'eth0']).toString()) as { operstate?: string }[];
          return info[0]?.operstate !== 'UP';
        });
        if (!down.length) return;
        if (Date.now() > deadline) throw new Error(`eth0 in ${down.join(', ')} has no carrier after ${timeoutMs} ms`);
        if (!kicked && Date.now() - start > 1000) {
          kicked = true;
          for (const ns of down) {
            inNs(ns, 'ip', 'link', 'set', 'eth0', 'down');
            inNs(ns, 'ip', 'link', 'set', 'eth0', 'up');
            inNs(ns, 'ip', 'route', 'replace', 'default', 'via', ns === a ? '192.0.2.1' : '198.51.100.1');
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    spawnIn(ns, argv) {
      return spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    down,
    leftovers: () => [router, a, b].filter((ns) => existsSync(`/run/netns/${ns}`)),
  };
}
