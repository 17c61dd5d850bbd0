import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseJson } from '../helpers/cli.js';
import { describeWith } from '../helpers/system.js';
import { SignalClient } from '../../src/core/signaling/client.js';
import type { SignalServeJson, SignalTokenJson } from '../../src/commands/signal.js';
import { parseListeningLine, rawPeer, startRedis, track, until, type ListeningLine } from '../helpers/signal.js';

const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
const BUILT = existsSync(fileURLToPath(new URL('../../dist/commands/signal.js', import.meta.url)));
const run = promisify(execFile);

interface Served {
  child: ChildProcess;
  ready: ListeningLine;
  stdout: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const served: Served[] = [];
const clients: SignalClient[] = [];

/** Start `rtcprobe signal serve --json` (the built CLI) and wait for its ready line. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<Served> {
  const child = track(spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d.toString(); });
  child.stderr!.on('data', (d) => { err += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  await until(() => out.includes('\n') || child.exitCode !== null, 20_000, 'the ready line');
  if (!out.includes('\n')) throw new Error(`signal serve exited: ${err}`);
  const ready = parseListeningLine(out.slice(0, out.indexOf('\n')));
  const s = { child, ready, stdout: () => out, exited };
  served.push(s);
  return s;
}

function client(url: string, room: string, peerId: string, extra = {}) {
  const c = new SignalClient({ url, room, peerId, reconnect: false, ...extra });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of served.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await s.exited;
  }
});

describe('rtcprobe signal (built CLI)', () => {
  beforeAll(() => {
    if (!BUILT) throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
  });

  it('prints a JSON ready line with the bound port and shuts down gracefully on SIGTERM', async () => {
    const s = await serve(['--instance-id', 'cli-1']);
    expect(s.ready).toMatchObject({ event: 'listening', instance: 'cli-1', bus: 'memory', auth: false });
    expect(s.ready.port).toBeGreaterThan(0);
    expect(s.ready.ws).toBe(`ws://127.0.0.1:${s.ready.port}/`);
    const a = await rawPeer(s.ready.ws);
    a.send({ type: 'join', room: 'r', peerId: 'a' });
    await a.nextOf('joined');
    const b = client(s.ready.ws, 'r', 'b');
    await b.connect();
    const health: unknown = await (await fetch(new URL('/healthz', s.ready.http))).json();
    expect(health).toMatchObject({ ok: true, connections: 2 });

    s.child.kill('SIGTERM');
    expect(await a.nextOf('error')).toMatchObject({ code: 'SHUTTING_DOWN' });
    expect((await a.closed).code).toBe(1001);
    const exit = await s.exited;
    // A clean shutdown on SIGTERM exits 0; the process ends by itself, not by the signal.
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0);
    // JSON Lines: the "listening" event, then the "stopped" summary, one document per line.
    const lines = s.stdout().trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(parseJson(lines[0]!)).toMatchObject({ event: 'listening' });
    const final = JSON.parse(lines[1]!) as SignalServeJson;
    expect(final).toMatchObject({
      event: 'stopped',
      command: 'signal',
      action: 'serve',
      ok: true,
      instance: 'cli-1',
      shutdown: { reason: 'received SIGTERM', peersNotified: 2, forced: 0 },
      totals: { connections: 2 },
    });
  });

  it('signal token mints a token that signal serve --secret accepts (secret from the environment)', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'signal', 'token', '--room', 'vip', '--identity', 'dana', '--ttl', '120', '--json'], { env: { ...process.env, RTCPROBE_SIGNAL_SECRET: 'env-secret-42' } });
    const minted = JSON.parse(stdout) as SignalTokenJson;
    expect(minted).toMatchObject({ command: 'signal', action: 'token', ok: true, room: 'vip', identity: 'dana' });
    const s = await serve([], { RTCPROBE_SIGNAL_SECRET: 'env-secret-42' });
    expect(s.ready.auth).toBe(true);
    expect(s.stdout()).not.toContain('env-secret-42');
    const c = client(s.ready.ws, 'vip', 'dana', { token: minted.token });
    expect((await c.connect()).peerId).toBe('dana');
    await expect(client(s.ready.ws, 'vip', 'eve').connect()).rejects.toMatchObject({ wireCode: 'AUTH_REQUIRED' });
  });

  it('refuses bad usage with exit code 2 and a coded error', async () => {
    const bad = [
      ['signal', 'dance'],
      ['signal', 'token', '--secret', 's', '--room', 'r'],
      ['signal', 'serve', '--turn-uri', 'turn:127.0.0.1:3478'],
      ['signal', 'serve', '--origin', 'not an origin'],
      ['signal', 'serve', '--redis', 'http://x'],
      ['signal', 'serve', '--port', '70000'],
    ];
    for (const args of bad) {
      const r = run(process.execPath, [BIN, ...args, '--json']);
      await expect(r, args.join(' ')).rejects.toMatchObject({ code: 2 });
    }
    // An unknown action: exit 2, and the one JSON line says USAGE.
    const res = await run(process.execPath, [BIN, 'signal', 'dance', '--json']).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(res.code).toBe(2);
    expect(parseJson(res.stdout)).toMatchObject({ error: { code: 'USAGE' } });
  });
});

describeWith({ commands: ['redis-server'] }, 'rtcprobe signal serve --redis: two processes, one killed', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    if (!BUILT) throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('relays between instances, and the peers of a SIGKILLed instance leave after the presence TTL', async () => {
    const ttl = 1500;
    const a = await serve(['--redis', redis.url, '--instance-id', 'kill-a', '--presence-ttl', String(ttl)]);
    const b = await serve(['--redis', redis.url, '--instance-id', 'kill-b', '--presence-ttl', String(ttl)]);
    expect(a.ready.bus).toBe('redis');
    const alice = client(a.ready.ws, 'cross', 'alice');
    const bob = client(b.ready.ws, 'cross', 'bob');
    await alice.connect();
    expect((await bob.connect()).peers).toEqual([{ peerId: 'alice' }]);
    const got = alice.next('signal');
    bob.signal('alice', { sdp: 'offer via redis' });
    expect(await got).toMatchObject({ from: 'bob', data: { sdp: 'offer via redis' } });

    a.child.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    const killedAt = Date.now();
    // Nobody told the room: only the expiry of kill-a's presence does.
    const left = await bob.next('peer-left', undefined, 20_000);
    expect(left).toEqual({ type: 'peer-left', room: 'cross', peerId: 'alice' });
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(ttl / 2);
    const room = (await (await fetch(new URL('/rooms/cross', b.ready.http))).json()) as { peers: { peerId: string }[] };
    expect(room.peers.map((p) => p.peerId)).toEqual(['bob']);
    const err = bob.next('error');
    bob.signal('alice', 'still there?');
    expect(await err).toMatchObject({ code: 'UNKNOWN_PEER' });
    // alice may now come back through instance B under the same id.
    const again = client(b.ready.ws, 'cross', 'alice');
    expect((await again.connect()).peers).toEqual([{ peerId: 'bob' }]);
  });
});
