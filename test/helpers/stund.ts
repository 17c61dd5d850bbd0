import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { decodeMessage, encodeMessage } from '../../src/core/stun/message.js';
import { StunClass, StunMethod } from '../../src/core/stun/constants.js';
import { findFreePortRange } from './ports.js';

/** A classic RFC 3489 STUN server (Debian's stund, Vovida 0.97) on two loopback addresses. */
export interface Stund {
  ip: string;
  altIp: string;
  port: number;
  altPort: number;
  logs(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function ping(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const req = encodeMessage({ method: StunMethod.Binding, cls: StunClass.Request });
    const t = setTimeout(() => { sock.close(); resolve(false); }, timeoutMs);
    sock.on('message', (m) => {
      try {
        if (decodeMessage(m).transactionId.equals(req.subarray(8, 20))) { clearTimeout(t); sock.close(); resolve(true); }
      } catch { /* keep waiting */ }
    });
    sock.on('error', () => { /* ICMP while it starts: keep waiting */ });
    sock.send(req, port, host);
  });
}

/**
 * Start stund on free ports of 127.0.0.1 (primary) and 127.0.0.2 (alternate)
 * and wait until it answers. stund exits when a port is taken (others run
 * tests on this machine too): then another range is tried.
 */
export async function startStund(o: { ip?: string; altIp?: string } = {}): Promise<Stund> {
  const ip = o.ip ?? '127.0.0.1';
  const altIp = o.altIp ?? '127.0.0.2';
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await findFreePortRange(2, [ip, altIp]);
    const altPort = port + 1;
    const child = spawn('stund', ['-h', ip, '-a', altIp, '-p', String(port), '-o', String(altPort)], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let log = '';
    child.stdout.on('data', (d: Buffer) => { log += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
    let exited = false;
    const exitPromise = new Promise<void>((resolve) => child.once('exit', () => { exited = true; running.delete(child); resolve(); }));
    child.once('error', () => { exited = true; running.delete(child); });
    const stop = async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(t);
    };
    for (let i = 0; i < 25 && !exited; i++) {
      if (await ping(ip, port, 200)) return { ip, altIp, port, altPort, logs: () => log, stop };
    }
    await stop();
    lastLog = log;
  }
  throw new Error(`stund did not start:\n${lastLog.slice(-2000)}`);
}
