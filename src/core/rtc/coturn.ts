/**
 * A coturn (Debian's `turnserver`) started on loopback for one benchmark
 * run: free ports, one long-term user, relay ports on 127.0.0.1, killed by
 * stop(). Its log is kept so the run can show that the traffic went
 * through it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { accessSync, readFileSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';
import { RtcprobeError } from '../errors.js';
import { decodeMessage, encodeMessage } from '../stun/message.js';
import { StunClass, StunMethod } from '../stun/constants.js';

export interface LocalCoturn {
  url: string;
  username: string;
  credential: string;
  port: number;
  /** Relay ports coturn hands out. */
  relayPorts: [number, number];
  pid: number | undefined;
  log(): string;
  stop(): Promise<void>;
}

/** The path of an executable on PATH, or undefined. */
export function findOnPath(name: string, path: string | undefined): string | undefined {
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, fsConstants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function stunAnswers(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const req = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request });
    const done = (ok: boolean) => {
      clearTimeout(t);
      sock.close();
      resolve(ok);
    };
    const t = setTimeout(() => done(false), timeoutMs);
    sock.on('message', (m) => {
      try {
        if (decodeMessage(m).transactionId.equals(req.subarray(8, 20))) done(true);
      } catch {
        // not an answer
      }
    });
    sock.on('error', () => {});
    sock.send(req, port, '127.0.0.1');
  });
}

/** Start coturn on 127.0.0.1 and wait until it answers STUN (within `timeoutMs`). */
export async function startLocalCoturn(o: { binary: string; timeoutMs: number; signal?: AbortSignal }): Promise<LocalCoturn> {
  const port = await freeUdpPort();
  // Relay ports: a random range high up; coturn skips ports it cannot bind.
  const relayMin = 20000 + Math.floor(Math.random() * 400) * 100;
  const relayMax = relayMin + 199;
  const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-bench-coturn-'));
  const conf = join(dir, 'turnserver.conf');
  // A file, not stdout: coturn block-buffers a pipe and would lose the session lines at exit.
  const logFile = join(dir, 'turn.log');
  writeFileSync(conf, '# every setting is on the command line\n');
  const username = 'bench';
  const credential = randomBytes(12).toString('hex');
  const args = [
    '-c', conf, '--no-cli', '--log-file', logFile, '--simple-log', '--verbose', '--pidfile', join(dir, 'pid'),
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(port),
    '--min-port', String(relayMin), '--max-port', String(relayMax),
    '--no-tls', '--no-dtls', '--no-tcp-relay', '--no-multicast-peers', '--allow-loopback-peers',
    '--lt-cred-mech', '--realm', 'rtcprobe.bench', '--user', `${username}:${credential}`,
  ];
  let child: ChildProcess;
  try {
    // Own process group: coturn signals its group when it stops, which must not reach this process.
    child = spawn(o.binary, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new RtcprobeError('SOCKET', `cannot start ${o.binary}: ${(err as Error).message}`, { cause: err });
  }
  let log = '';
  const keep = (d: Buffer) => {
    log += d.toString();
    if (log.length > 4_000_000) log = log.slice(-2_000_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const readLog = () => {
    try {
      const text = readFileSync(logFile, 'utf8');
      fileLog = text.length > 4_000_000 ? text.slice(-4_000_000) : text;
    } catch {
      // not written yet
    }
  };
  let fileLog = '';
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exit;
      clearTimeout(t);
    }
    readLog();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = performance.now() + o.timeoutMs;
  while (!exited && performance.now() < deadline) {
    if (o.signal?.aborted) {
      await stop();
      throw new RtcprobeError('ABORTED', 'aborted while starting coturn');
    }
    if (await stunAnswers(port, 200)) {
      return { url: `turn:127.0.0.1:${port}?transport=udp`, username, credential, port, relayPorts: [relayMin, relayMax], pid: child.pid, log: () => {
        readLog();
        return `${log}${fileLog}`;
      }, stop };
    }
  }
  await stop();
  throw new RtcprobeError('TIMEOUT', `coturn did not start within ${o.timeoutMs} ms${log ? `: ${log.trim().split('\n').slice(-2).join(' / ')}` : ''}`);
}

/**
 * What coturn's log says about the run: allocations and channel bindings it
 * granted, and the bytes its sessions relayed (coturn logs "usage" lines
 * only when a session ends, so a session cut by the shutdown has none).
 */
export function coturnUsage(log: string): { allocations: number; channelBinds: number; relayedBytes?: number } {
  const allocations = (log.match(/ALLOCATE processed, success/g) ?? []).length;
  const channelBinds = (log.match(/CHANNEL_BIND processed, success/g) ?? []).length;
  let relayedBytes: number | undefined;
  for (const m of log.matchAll(/peer usage: realm=<[^>]*>, username=<[^>]*>, rp=\d+, rb=(\d+), sp=\d+, sb=(\d+)/g)) relayedBytes = (relayedBytes ?? 0) + Number(m[1]) + Number(m[2]);
  return { allocations, channelBinds, relayedBytes };
}
