import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { findFreePortRange } from './ports.js';

/**
 * Debian's stund (Vovida, RFC 3489) on two addresses: it binds primary and
 * alternate IP, each on port and altPort, and advertises CHANGED-ADDRESS
 * (alternate IP, altPort). It ignores a request carrying an attribute it does
 * not know (RESPONSE-PORT), which is what the lifetime tests must cope with.
 */
export interface Stund {
  ips: [string, string];
  port: number;
  altPort: number;
  logs(): string;
  stop(): Promise<void>;
}

export const STUND = '/usr/sbin/stund';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function listening(ip: string, port: number, netns?: string): boolean {
  const argv = ['-Hnlu', `src ${ip}:${port}`];
  try {
    const out = netns ? execFileSync('ip', ['netns', 'exec', netns, 'ss', ...argv]) : execFileSync('ss', argv);
    return out.toString().trim() !== '';
  } catch {
    return false;
  }
}

/** Start stund on two addresses (default 127.0.0.1 and 127.0.0.2, free ports), optionally inside a namespace. */
export async function startStund(o: { ips?: [string, string]; port?: number; netns?: string } = {}): Promise<Stund> {
  const ips = o.ips ?? ['127.0.0.1', '127.0.0.2'];
  const port = o.port ?? (await findFreePortRange(2, ips));
  const altPort = port + 1;
  const args = ['-h', ips[0], '-a', ips[1], '-p', String(port), '-o', String(altPort)];
  const child = o.netns
    ? spawn('ip', ['netns', 'exec', o.netns, STUND, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(STUND, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let log = '';
  child.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; running.delete(child); resolve(); }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(t);
    }
  };
  // Readiness: all four sockets bound (polled, bounded to ~5 s; stund prints nothing when ready).
  for (let i = 0; i < 100 && !exited; i++) {
    if (ips.every((ip) => listening(ip, port, o.netns) && listening(ip, altPort, o.netns))) {
      return { ips, port, altPort, logs: () => log, stop };
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error(`stund did not start (${args.join(' ')}):\n${log.slice(-2000)}`);
}
