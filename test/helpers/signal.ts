// Shared by the signaling tests: a raw WebSocket peer, polling on a condition, child tracking, free ports, a throw-away redis-server.
import WebSocket from 'ws';
import type { ErrorMessage, ServerMessage } from '../../src/core/signaling/protocol.js';

/**
 * A message as a raw peer receives it: what the relay sent, parsed but not
 * trusted (the tests check its fields), or a frame that was not JSON.
 */
export type WireMessage = ServerMessage | { type: '<unparsable>'; raw: string };

/** A bare WebSocket with a queue of parsed messages, for sending raw or bad frames. */
export interface RawPeer {
  ws: WebSocket;
  next(timeoutMs?: number): Promise<WireMessage>;
  nextOf(type: string, timeoutMs?: number): Promise<WireMessage>;
  /** The next message, which must be an error message (anything else throws, naming what came). */
  nextError(timeoutMs?: number): Promise<ErrorMessage>;
  send(x: unknown): void;
  closed: Promise<{ code: number; reason: string }>;
  messages: WireMessage[];
}

export async function rawPeer(url: string, opts: WebSocket.ClientOptions = {}): Promise<RawPeer> {
  const ws = new WebSocket(url, { perMessageDeflate: false, ...opts });
  const messages: WireMessage[] = [];
  const waiters: (() => void)[] = [];
  let cursor = 0;
  ws.on('message', (d) => {
    try {
      messages.push(JSON.parse(d.toString()) as ServerMessage);
    } catch {
      messages.push({ type: '<unparsable>', raw: d.toString() });
    }
    for (const w of waiters.splice(0)) w();
  });
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  const next = async (timeoutMs = 10_000): Promise<WireMessage> => {
    const deadline = Date.now() + timeoutMs;
    while (cursor >= messages.length) {
      if (ws.readyState === WebSocket.CLOSED) throw new Error('closed while waiting for a message');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no message in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
    return messages[cursor++]!;
  };
  return {
    ws,
    messages,
    next,
    async nextOf(type, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const m = await next(Math.max(1, deadline - Date.now()));
        if (m.type === type) return m;
      }
    },
    async nextError(timeoutMs = 10_000) {
      const m = await next(timeoutMs);
      if (m.type !== 'error') throw new Error(`expected an error message, got ${JSON.stringify(m)}`);
      return m;
    },
    send: (x) => ws.send(typeof x === 'string' || Buffer.isBuffer(x) ? x : JSON.stringify(x)),
    closed,
  };
}

/** Poll a condition (a real state, not time) until true or the deadline. */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Track a child process so it is killed even when a test fails. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A throw-away redis-server on a free loopback port, no persistence. */
export async function startRedis(): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  for (let attempt = 0; ; attempt++) {
    const port = await freeTcpPort();
    const child = track(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    const ready = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 10_000);
      child.stdout!.on('data', (d) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) { clearTimeout(t); resolve(true); }
      });
      child.once('exit', () => { clearTimeout(t); resolve(false); });
    });
    if (ready) {
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: () => new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
      };
    }
    child.kill('SIGKILL');
    if (attempt >= 3) throw new Error(`redis-server did not start: ${out.slice(-500)}`);
  }
}

/**
 * The first line of `signal serve --json`: where the relay listens. The
 * command exports no type for it; the fields the tests rely on are checked
 * here, the others stay unknown.
 */
export type ListeningLine = Record<string, unknown> & { event: 'listening'; ws: string; http: string };

export function parseListeningLine(line: string): ListeningLine {
  const j = JSON.parse(line) as Record<string, unknown>;
  if (j.event !== 'listening' || typeof j.ws !== 'string' || typeof j.http !== 'string') throw new Error(`not a listening line: ${line}`);
  return j as ListeningLine;
}
