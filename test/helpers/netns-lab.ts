import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const LAB_SCRIPT = fileURLToPath(new URL('../../lab/nat-lab.sh', import.meta.url));

/** Addresses the lab uses inside its namespaces (documentation ranges only). */
export const LAB = {
  rfc5780Server: '203.0.113.1',
  otherAddress: { address: '203.0.113.2', port: 3479 },
  plainServers: ['203.0.113.3', '203.0.113.4'],
  /** stund, a classic RFC 3489 server: CHANGED-ADDRESS instead of OTHER-ADDRESS. */
  classicServer: '203.0.113.5',
  changedAddress: { address: '203.0.113.6', port: 3479 },
  clientAddress: '192.0.2.2',
  natPublicAddress: '198.51.100.2',
} as const;

export interface NatLab {
  id: string;
  clientNs: string;
  /** `args`: extra arguments of `up`, e.g. ['--portmap', 'upnp,natpmp,pcp']. */
  up(topology: string, env?: Record<string, string>, args?: string[]): Promise<void>;
  down(): void;
}

const labs = new Set<string>();
function downSync(id: string): void {
  try {
    execFileSync('bash', [LAB_SCRIPT, 'down', '--id', id], { stdio: 'ignore', timeout: 30000 });
  } catch {
    /* best effort: reported by the leak check below */
  }
  labs.delete(id);
}
// Namespaces and coturn processes go away even when the test run is interrupted.
process.once('exit', () => {
  for (const id of [...labs]) downSync(id);
});

/** One lab per test file, with an id of its own so that concurrent runs never clash. */
export function natLab(prefix = 'e'): NatLab {
  const id = `${prefix}${process.pid}`.slice(0, 12);
  return {
    id,
    clientNs: `rpn-${id}-cli`,
    up(topology, env = {}, args = []) {
      labs.add(id);
      return new Promise((resolve, reject) => {
        execFile('bash', [LAB_SCRIPT, 'up', topology, '--id', id, ...args], { env: { ...process.env, ...env }, timeout: 60000 }, (err, _stdout, stderr) => {
          if (err) reject(new Error(`lab up ${topology} failed: ${stderr}`));
          else resolve();
        });
      });
    },
    down() {
      downSync(id);
    },
  };
}

/** True when any namespace of this lab still exists. */
export function labLeftovers(id: string): string[] {
  return ['cli', 'nat', 'pub'].map((n) => `rpn-${id}-${n}`).filter((ns) => existsSync(`/run/netns/${ns}`));
}

/** Process ids of the servers (coturn, stund) a lab started (from its pid files). */
export function labPids(id: string): number[] {
  const dir = `/run/rtcprobe-nat-lab/${id}`;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^[a-z0-9]+\.pid$/.test(f))
    .map((f) => Number(readFileSync(`${dir}/${f}`, 'utf8').trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}
