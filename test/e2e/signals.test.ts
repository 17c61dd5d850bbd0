import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BIN, parseJson, ROOT, why } from '../helpers/cli.js';
import { startResponder } from '../helpers/responder.js';

const STACK = /\n\s+at .+:\d+:\d+/;
const BUSY = fileURLToPath(new URL('../helpers/busy-loop.mjs', import.meta.url));

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const procs: Proc[] = [];

function start(args: string[], nodeArgs: string[] = []): Proc {
  const child = spawn(process.execPath, [...nodeArgs, BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d.toString(); });
  child.stderr!.on('data', (d) => { err += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal, at: Date.now() })));
  const p = { child, stdout: () => out, stderr: () => err, exited };
  procs.push(p);
  return p;
}

afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
});

/**
 * Two signals sent back to back can merge into one (the kernel keeps one
 * pending signal of each kind). Resolves once `sig` is no longer pending for
 * `pid`, i.e. the process has taken it.
 */
async function delivered(pid: number, signo: number): Promise<void> {
  const bit = 1n << BigInt(signo - 1);
  await vi.waitFor(() => {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    for (const key of ['SigPnd', 'ShdPnd']) {
      const mask = BigInt(`0x${new RegExp(`^${key}:\\s*([0-9a-f]+)`, 'm').exec(status)![1]}`);
      expect(mask & bit).toBe(0n);
    }
  }, { timeout: 5000, interval: 5 });
}

/** A WebSocket client that completes the upgrade and then never answers anything: a clean stop has to wait for it. */
async function deafClient(port: number): Promise<{ socket: net.Socket; received: () => Buffer }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let data = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); });
  socket.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await vi.waitFor(() => expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 101/), { timeout: 5000, interval: 10 });
  return { socket, received: () => data };
}

describe('signals', () => {
  it('a command stuck in a busy loop still ends on a second signal: message, exit 130', async () => {
    const silent = await startResponder(() => []);
    try {
      const p = start(['stun', `127.0.0.1:${silent.port}`, '--timeout', '60000'], ['--import', BUSY]);
      await vi.waitFor(() => expect(p.stderr()).toContain('spinning'), { timeout: 10000, interval: 10 });
      p.child.kill('SIGINT');
      await delivered(p.child.pid!, 2);
      expect(p.child.exitCode).toBe(null);
      p.child.kill('SIGINT');
      const sent = Date.now();
      const r = await p.exited;
      expect(r.code, why(r)).toBe(130);
      // The stuck thread cannot print a summary: the grace period (1 s) runs out.
      expect(r.at - sent).toBeLessThan(5000);
      expect(p.stderr()).toMatch(/second signal \(SIGINT\), exiting without a clean stop/);
      expect(p.stderr()).not.toMatch(STACK);
    } finally {
      await silent.close();
    }
  });

  it('"signal serve": a second SIGTERM during the drain says so on stderr, prints a partial summary line, exits 130', async () => {
    const p = start(['signal', 'serve', '--port', '0', '--json', '--drain-timeout', '60000', '--instance-id', 'twice']);
    await vi.waitFor(() => expect(p.stdout()).toContain('\n'), { timeout: 20000, interval: 10 });
    const ready = JSON.parse(p.stdout().split('\n')[0]!) as { port: number };
    const deaf = await deafClient(ready.port);
    try {
      p.child.kill('SIGTERM');
      // The relay is draining once it has sent the deaf client its close frame
      // (first byte 0x88; the HTTP head and the JSON text frame are ASCII).
      await vi.waitFor(() => expect(deaf.received().includes(0x88)).toBe(true), { timeout: 10000, interval: 10 });
      expect(p.child.exitCode).toBe(null);
      p.child.kill('SIGTERM');
      const r = await p.exited;
      expect(r.code, why(r)).toBe(130);
      expect(p.stderr()).toMatch(/second signal \(SIGTERM\), exiting without a clean stop/);
      const lines = p.stdout().trim().split('\n');
      // JSON Lines still: every line parses.
      const docs = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(docs).toHaveLength(2);
      expect(docs[1]).toMatchObject({ event: 'stopped', partial: true, ok: false, instance: 'twice', totals: { connections: 1 } });
    } finally {
      deaf.socket.destroy();
    }
  });

  it('"signal serve" without --json: the partial summary is human text after the message', async () => {
    const p = start(['signal', 'serve', '--port', '0', '--drain-timeout', '60000', '--instance-id', 'twice-human']);
    await vi.waitFor(() => expect(p.stdout()).toMatch(/websocket\s+ws:\/\/127\.0\.0\.1:(\d+)/), { timeout: 20000, interval: 10 });
    const port = Number(/websocket\s+ws:\/\/127\.0\.0\.1:(\d+)/.exec(p.stdout())![1]);
    const deaf = await deafClient(port);
    try {
      p.child.kill('SIGINT');
      await vi.waitFor(() => expect(deaf.received().includes(0x88)).toBe(true), { timeout: 10000, interval: 10 });
      p.child.kill('SIGINT');
      const r = await p.exited;
      expect(r.code, why(r)).toBe(130);
      expect(p.stderr()).toMatch(/second signal \(SIGINT\)/);
      expect(p.stdout()).toMatch(/partial summary \(stopped without a clean stop\)\n\s+event\s+stopped/);
      expect(p.stdout()).toMatch(/totals\.connections\s+1/);
    } finally {
      deaf.socket.destroy();
    }
  });

  it('"signal serve --json" on a port in use: the error is one compact JSON line', async () => {
    const blocker = net.createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const p = start(['signal', 'serve', '--port', String(port), '--json']);
      const r = await p.exited;
      expect(r.code, why(r)).toBe(2);
      const lines = p.stdout().split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(1);
      expect(parseJson(lines[0]!)).toEqual({ error: { code: 'SOCKET', message: expect.stringContaining(String(port)) } });
      expect(p.stderr()).toMatch(/^error SOCKET: /);
    } finally {
      blocker.close();
    }
  });
});
