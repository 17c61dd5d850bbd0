import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The pion/turn test server (test/pion-turn), built by test/pion-turn/build.sh. */
export const PION_BIN = fileURLToPath(new URL('../pion-turn/bin/pion-turn', import.meta.url));
const BUILD = fileURLToPath(new URL('../pion-turn/build.sh', import.meta.url));

/** Build the server when its binary is missing; false when it cannot be built here. */
export function ensurePionTurn(): boolean {
  if (existsSync(PION_BIN)) return true;
  try {
    execFileSync('bash', [BUILD], { stdio: 'ignore', timeout: 300000 });
  } catch {
    return false;
  }
  return existsSync(PION_BIN);
}

export interface PionTurnOptions {
  users?: { user: string; password: string }[];
  realm?: string;
  listen?: string;
  relay?: string;
  minPort?: number;
  maxPort?: number;
  /** CIDRs toward which permissions are refused. */
  denyPeers?: string[];
}

export interface PionTurn {
  /** UDP listening port. */
  port: number;
  /** TCP listening port. */
  tcpPort: number;
  logs(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Start a pion/turn server on free ports; resolves once it prints its READY line. */
export async function startPionTurn(o: PionTurnOptions = {}): Promise<PionTurn> {
  const args = ['-listen', o.listen ?? '127.0.0.1', '-realm', o.realm ?? 'pion.test'];
  if (o.users?.length) args.push('-users', o.users.map((u) => `${u.user}=${u.password}`).join(','));
  if (o.relay) args.push('-relay', o.relay);
  if (o.minPort) args.push('-min-port', String(o.minPort), '-max-port', String(o.maxPort ?? o.minPort + 20));
  if (o.denyPeers?.length) args.push('-deny-peers', o.denyPeers.join(','));
  const child = spawn(PION_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let log = '';
  child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; running.delete(child); resolve(); }));
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exitPromise;
    clearTimeout(t);
  };
  const ready = await new Promise<RegExpMatchArray | undefined>((resolve) => {
    let out = '';
    const t = setTimeout(() => resolve(undefined), 10000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+) (\d+)/.exec(out);
      if (m) { clearTimeout(t); resolve(m); }
    });
    void exitPromise.then(() => { clearTimeout(t); resolve(undefined); });
  });
  if (!ready) {
    await stop();
    throw new Error(`pion-turn did not start (${args.join(' ')}):\n${log.slice(-2000)}`);
  }
  return { port: Number(ready[1]), tcpPort: Number(ready[2]), logs: () => log, stop };
}
