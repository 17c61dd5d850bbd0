import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeMessage, encodeMessage } from '../../src/core/stun/message.js';
import { StunClass, StunMethod } from '../../src/core/stun/constants.js';
import { findFreePortRange } from './ports.js';

export interface CoturnOptions {
  /** Listening IPs; two give RFC 5780 support (OTHER-ADDRESS). Default 127.0.0.1. */
  ips?: string[];
  relayIp?: string;
  stunOnly?: boolean;
  realm?: string;
  users?: { user: string; password: string }[];
  /** coturn REST API shared secret (use-auth-secret). */
  secret?: string;
  tls?: { cert: string; key: string };
  /** Extra command-line flags. */
  args?: string[];
  /** Run inside this network namespace (ip netns exec). */
  netns?: string;
  /** Port range base to use instead of finding a free one (inside a namespace). */
  basePort?: number;
}

export interface Coturn {
  port: number;
  altPort: number;
  tlsPort: number;
  relayMin: number;
  relayMax: number;
  ips: string[];
  logs(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function stunPing(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const req = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request });
    const t = setTimeout(() => { sock.close(); resolve(false); }, timeoutMs);
    sock.on('message', (m) => {
      try {
        const msg = decodeMessage(m);
        if (msg.transactionId.equals(req.subarray(8, 20))) { clearTimeout(t); sock.close(); resolve(true); }
      } catch { /* keep waiting */ }
    });
    sock.on('error', () => { /* ICMP while starting: keep waiting */ });
    sock.send(req, port, host);
  });
}

/** Start coturn (Debian's turnserver) on free loopback ports and wait until it answers STUN. */
export async function startCoturn(o: CoturnOptions = {}): Promise<Coturn> {
  const ips = o.ips ?? ['127.0.0.1'];
  const base = o.basePort ?? (await findFreePortRange(40, ips));
  const port = base;
  const altPort = base + 1;
  const tlsPort = base + 2;
  const relayMin = base + 10;
  const relayMax = base + 39;
  const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-coturn-'));
  const conf = join(dir, 'turnserver.conf');
  writeFileSync(conf, '# empty: every setting is on the command line\n');
  const args = [
    '-c', conf, '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
    '--listening-port', String(port), '--alt-listening-port', String(altPort),
    '--tls-listening-port', String(tlsPort), '--alt-tls-listening-port', String(tlsPort + 1),
    '--min-port', String(relayMin), '--max-port', String(relayMax),
    '--relay-ip', o.relayIp ?? ips[0]!,
    '--no-dtls', '--no-multicast-peers',
  ];
  for (const ip of ips) args.push('--listening-ip', ip);
  if (o.stunOnly) args.push('--stun-only');
  if (o.tls) args.push('--cert', o.tls.cert, '--pkey', o.tls.key);
  else args.push('--no-tls');
  if (o.realm) args.push('--realm', o.realm);
  if (o.users?.length) {
    args.push('--lt-cred-mech');
    for (const u of o.users) args.push('--user', `${u.user}:${u.password}`);
  }
  if (o.secret) args.push('--use-auth-secret', '--static-auth-secret', o.secret);
  if (!o.users?.length && !o.secret && !o.stunOnly) args.push('--no-auth');
  args.push(...(o.args ?? []));

  const cmd = o.netns ? 'ip' : 'turnserver';
  const argv = o.netns ? ['netns', 'exec', o.netns, 'turnserver', ...args] : args;
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let log = '';
  child.stdout.on('data', (d: Buffer) => { log += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  let exited = false;
  const exitPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; running.delete(child); resolve(); }));

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Readiness: coturn answers a Binding request (polled, bounded to ~10 s).
  const probeHost = ips[0]!;
  for (let i = 0; i < 50 && !exited; i++) {
    if (!o.netns && (await stunPing(probeHost, port, 200))) {
      return { port, altPort, tlsPort, relayMin, relayMax, ips, logs: () => log, stop };
    }
    if (o.netns) {
      // The harness cannot reach into the namespace; wait for coturn's own ready line.
      if (/Total (General|UDP) servers/i.test(log) || /IO method/.test(log)) {
        return { port, altPort, tlsPort, relayMin, relayMax, ips, logs: () => log, stop };
      }
      // One pair of listeners per wait, both removed when either fires (no build-up over the loop).
      await new Promise<void>((resolve) => {
        const done = () => {
          child.stdout.off('data', done);
          child.stdout.off('close', done);
          resolve();
        };
        child.stdout.once('data', done).once('close', done);
      });
    }
  }
  await stop();
  throw new Error(`coturn did not start (args: ${args.join(' ')}):\n${log.slice(-3000)}`);
}
