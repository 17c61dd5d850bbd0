import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SignalJoinJson, SignalTokenJson } from '../../src/commands/signal.js';
import { BIN, parseJson, runCli, why } from '../helpers/cli.js';
import { describeWith } from '../helpers/system.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';
import { freeTcpPort, parseListeningLine, track, until } from '../helpers/signal.js';

const BUILT = existsSync(fileURLToPath(new URL('../../dist/core/signaling/join.js', import.meta.url)));
const STACK = /\n\s+at .+:\d+:\d+/;
const LONG_SECRET = 'a-join-secret-of-more-than-32-bytes-0123456789';

interface Proc {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Parsed JSON lines of stdout so far. */
  lines: () => Record<string, unknown>[];
  exited: Promise<number | null>;
}

const procs: Proc[] = [];

function start(args: string[], env: Record<string, string> = {}): Proc {
  const child = track(spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } }));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => { out += d.toString(); });
  child.stderr!.on('data', (d) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const p: Proc = {
    child,
    out: () => out,
    err: () => err,
    lines: () => out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
    exited,
  };
  procs.push(p);
  return p;
}

async function serve(args: string[] = [], env: Record<string, string> = {}) {
  const p = start(['signal', 'serve', '--port', '0', '--json', ...args], env);
  await until(() => p.out().includes('\n') || p.child.exitCode !== null, 20_000, 'the ready line');
  if (!p.out().includes('\n')) throw new Error(`signal serve exited: ${p.err()}`);
  return { ...p, ready: parseListeningLine(p.out().split('\n')[0]!) };
}

/** The last line of `signal join --json`: its summary. */
function summaryOf(stdout: string): SignalJoinJson {
  const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
  if (last.event !== 'summary') throw new Error(`the last line is not the summary: ${stdout}`);
  return last as unknown as SignalJoinJson;
}

/** Wait until a JSON line matching `pred` has been printed. */
async function lineOf(p: Proc, pred: (l: Record<string, unknown>) => boolean, what: string) {
  await until(() => p.lines().some(pred) || p.child.exitCode !== null, 20_000, what);
  const found = p.lines().find(pred);
  if (!found) throw new Error(`${what}: not printed (exit ${p.child.exitCode}); stdout:\n${p.out()}\nstderr:\n${p.err()}`);
  return found;
}

afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
});

describe('rtcprobe signal join (built CLI against a real signal serve)', () => {
  beforeAll(() => {
    if (!BUILT) throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
  });

  it('two join processes see each other, exchange messages, measure pings and end cleanly (duration, SIGINT)', async () => {
    const relay = await serve();
    const url = relay.ready.ws;
    const alice = start(['signal', 'join', url, '--room', 'lab', '--peer-id', 'alice', '--send', 'hi bob', '--to', 'bob', '--ping-interval', '100', '--json']);
    const aJoined = await lineOf(alice, (l) => l.event === 'joined', 'alice joined');
    expect(aJoined).toMatchObject({ room: 'lab', peerId: 'alice', peers: [] });

    const bob = start(['signal', 'join', url, '--room', 'lab', '--peer-id', 'bob', '--send', 'hi all', '--duration', '1.5', '--ping-interval', '100', '--json']);
    expect(await bob.exited).toBe(0);
    const b = bob.lines();
    expect(b[0]).toMatchObject({ event: 'joined', peerId: 'bob', peers: [{ peerId: 'alice' }] });
    expect(b).toContainEqual(expect.objectContaining({ event: 'sent', kind: 'broadcast', recipients: 1 }));
    expect(b).toContainEqual(expect.objectContaining({ event: 'message', kind: 'signal', from: 'alice', data: 'hi bob' }));
    const bSummary = summaryOf(bob.out());
    expect(bSummary).toMatchObject({
      event: 'summary', command: 'signal', action: 'join', ok: true, room: 'lab', peerId: 'bob', stoppedBy: 'duration',
      peers: ['alice'], received: { signal: 1, broadcast: 0 }, send: { kind: 'broadcast', sent: true, recipients: 1 }, problems: [],
    });
    expect(bSummary.durationMs).toBeGreaterThanOrEqual(1500);
    // Every answered ping is a measured figure; none is invented.
    expect(bSummary.ping.answered).toBeGreaterThan(0);
    expect(bSummary.ping.answered).toBe(b.filter((l) => l.event === 'ping').length);
    expect(bSummary.ping.rttMs?.samples).toBe(bSummary.ping.answered);
    expect(bSummary.ping.lost).toBe(0);

    // alice saw bob come, got his broadcast, sent hers when he arrived, and saw him leave.
    await lineOf(alice, (l) => l.event === 'peer-left' && l.peerId === 'bob', 'bob left');
    const a = alice.lines();
    expect(a).toContainEqual(expect.objectContaining({ event: 'peer-joined', peerId: 'bob' }));
    expect(a).toContainEqual(expect.objectContaining({ event: 'message', kind: 'broadcast', from: 'bob', data: 'hi all' }));
    expect(a).toContainEqual(expect.objectContaining({ event: 'sent', kind: 'signal', to: 'bob', recipients: 1 }));
    alice.child.kill('SIGINT');
    expect(await alice.exited).toBe(0);
    const aSummary = alice.lines().at(-1)!;
    expect(aSummary).toMatchObject({ event: 'summary', ok: true, stoppedBy: 'signal', peers: [], peersJoined: 1, peersLeft: 1, received: { signal: 0, broadcast: 1 }, send: { kind: 'signal', to: 'bob', sent: true } });
    expect(alice.err()).toBe('');
  });

  it('human output: the verdict first, the room live, a summary; SIGTERM ends it with exit 0', async () => {
    const relay = await serve();
    const url = relay.ready.ws;
    const watcher = start(['signal', 'join', url, '--room', 'tv', '--peer-id', 'watcher'], { NO_COLOR: '1' });
    await until(() => watcher.out().includes('joined room'), 20_000, 'the joined line');
    expect(watcher.out().split('\n')[0]).toMatch(/^✔ joined room "tv" as watcher on ws:\/\/127\.0\.0\.1:\d+\/ \(no other peer yet\)$/);
    const other = await runCli(['signal', 'join', url, '--room', 'tv', '--peer-id', 'guest', '--send', 'hello\u001b[31m', '--duration', '0.3']);
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/^✔ joined room "tv" as guest .*\(1 other peer\(s\): watcher\)/);
    expect(other.stdout).toMatch(/→ broadcast to 1 peer\(s\)/);
    expect(other.stdout).toMatch(/✔ session in room "tv" as guest ended cleanly after 0\.\d s \(duration reached\)/);
    await until(() => watcher.out().includes('guest left'), 20_000, 'the leave line');
    // Text from the network is shown without its control characters.
    expect(watcher.out()).toMatch(/\+ guest joined[\s\S]*← broadcast from guest: "hello\[31m"[\s\S]*- guest left/);
    expect(watcher.out()).not.toContain('\u001b');
    watcher.child.kill('SIGTERM');
    expect(await watcher.exited).toBe(0);
    expect(watcher.out()).toMatch(/✔ session in room "tv" as watcher ended cleanly after [\d.]+ s \(interrupted\)/);
    expect(watcher.out()).toMatch(/received\s+0 signal, 1 broadcast/);
  });

  it('a refused join exits 2 with the relay\'s wire code; a minted token is accepted', async () => {
    const relay = await serve([], { RTCPROBE_SIGNAL_SECRET: LONG_SECRET });
    const url = relay.ready.ws;
    const bad = await runCli(['signal', 'join', url, '--room', 'vip', '--token', 'not.a.token']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/SIGNAL_REJECTED: AUTH_INVALID/);
    expect(bad.stderr).not.toMatch(STACK);
    const none = await runCli(['signal', 'join', url, '--room', 'vip', '--json']);
    expect(none.code).toBe(2);
    expect(parseJson(none.stdout)).toEqual({ error: { code: 'SIGNAL_REJECTED', message: expect.stringMatching(/^AUTH_REQUIRED: /) } });

    const minted = await runCli(['signal', 'token', '--room', 'vip', '--identity', 'dana', '--json'], { env: { RTCPROBE_SIGNAL_SECRET: LONG_SECRET } });
    expect(minted.stderr).toBe('');
    const { token } = JSON.parse(minted.stdout) as SignalTokenJson;
    const ok = await runCli(['signal', 'join', url, '--room', 'vip', '--duration', '0.2', '--json'], { env: { RTCPROBE_SIGNAL_TOKEN: token } });
    expect(ok.code).toBe(0);
    expect(ok.stdout).not.toContain(token);
    expect(summaryOf(ok.stdout)).toMatchObject({ ok: true, peerId: 'dana', room: 'vip' });
  });

  it('an unreachable relay exits 2 with CONNECTION', async () => {
    const port = await freeTcpPort();
    const r = await runCli(['signal', 'join', `ws://127.0.0.1:${port}/`, '--room', 'r', '--json']);
    expect(r.code, why(r)).toBe(2);
    expect(parseJson(r.stdout)).toEqual({ error: { code: 'CONNECTION', message: expect.stringContaining('ECONNREFUSED') } });
  });

  it('a signal to oneself is refused by the relay with SIGNAL_TO_SELF, and the session reports it (exit 1)', async () => {
    const relay = await serve();
    const r = await runCli(['signal', 'join', relay.ready.ws, '--room', 'r', '--peer-id', 'narcissus', '--to', 'narcissus', '--send', 'me', '--duration', '0.5', '--ping-interval', '0', '--json']);
    expect(r.code, why(r)).toBe(1);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({ event: 'relay-error', code: 'SIGNAL_TO_SELF', ref: 'signal' }));
    expect(lines.at(-1)).toMatchObject({ ok: false, send: { sent: true, refused: 'SIGNAL_TO_SELF' }, relayErrors: { SIGNAL_TO_SELF: 1 }, ping: { sent: 0 } });
  });

  it('a relay that shuts down ends the session with exit 1 and says why', async () => {
    const relay = await serve();
    const j = start(['signal', 'join', relay.ready.ws, '--room', 'r', '--json']);
    await lineOf(j, (l) => l.event === 'joined', 'joined');
    relay.child.kill('SIGTERM');
    expect(await j.exited).toBe(1);
    const lines = j.lines();
    expect(lines).toContainEqual(expect.objectContaining({ event: 'relay-error', code: 'SHUTTING_DOWN' }));
    expect(lines.at(-1)).toMatchObject({ ok: false, stoppedBy: 'disconnected', disconnected: { code: 1001 } });
  });

  it.each([
    [['signal', 'join', '--room', 'r'], /USAGE/],
    [['signal', 'join', 'ws://127.0.0.1:1/'], /USAGE: "signal join" needs --room/],
    [['signal', 'join', 'http://127.0.0.1:1/', '--room', 'r'], /USAGE: .*not a ws:\/\/ or wss:\/\/ URL/],
    [['signal', 'join', 'ws://127.0.0.1:1/', '--room', 'r', '--to', 'x'], /USAGE: --to needs --send/],
    [['signal', 'join', 'ws://127.0.0.1:1/', '--room', 'r', '--duration', '-1'], /USAGE/],
    [['signal', 'join', 'wss://127.0.0.1:1/', '--room', 'r', '--ca', '/nonexistent.pem'], /USAGE: cannot read --ca/],
  ])('%j is a usage error (exit 2)', async (args, pattern) => {
    const r = await runCli(args);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(STACK);
  });
});

describe('rtcprobe signal token: secret strength', () => {
  it('warns on stderr below 32 bytes, refuses an empty secret, is silent from 32 bytes', async () => {
    const weak = await runCli(['signal', 'token', '--secret', 'x', '--room', 'r', '--identity', 'a', '--json']);
    expect(weak.code).toBe(0);
    expect(weak.stderr).toMatch(/^warning: the --secret is 1 byte; HS256 needs at least 32 \(RFC 7518 section 3\.2\)/);
    expect(weak.stderr).not.toContain(' x ');
    const j = JSON.parse(weak.stdout) as SignalTokenJson;
    expect(j.warnings).toEqual([expect.stringContaining('at least 32')]);
    expect(j.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const human = await runCli(['signal', 'token', '--room', 'r', '--identity', 'a'], { env: { RTCPROBE_SIGNAL_SECRET: 'short' } });
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/RTCPROBE_SIGNAL_SECRET is 5 bytes/);
    expect(human.stdout.trim().split('\n').at(-1)).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

    const empty = await runCli(['signal', 'token', '--secret', '', '--room', 'r', '--identity', 'a']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/USAGE: --secret must not be empty/);
    const emptyEnv = await runCli(['signal', 'token', '--room', 'r', '--identity', 'a'], { env: { RTCPROBE_SIGNAL_SECRET: '' } });
    expect(emptyEnv.code).toBe(2);
    expect(emptyEnv.stderr).toMatch(/USAGE: "signal token" needs --secret/);

    const strong = await runCli(['signal', 'token', '--secret', 'x'.repeat(32), '--room', 'r', '--identity', 'a', '--json']);
    expect(strong.code).toBe(0);
    expect(strong.stderr).toBe('');
    expect((JSON.parse(strong.stdout) as SignalTokenJson).warnings).toEqual([]);
  });

  it('signal serve warns about a short secret too, and refuses an empty one', async () => {
    const relay = await serve(['--secret', 'tiny']);
    expect(relay.ready.auth).toBe(true);
    expect(relay.err()).toMatch(/warning: the --secret is 4 bytes/);
    expect(relay.out()).not.toContain('tiny');
    const r = await runCli(['signal', 'serve', '--port', '0', '--secret', '']);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(/USAGE: --secret must not be empty/);
  });
});

describe('rtcprobe signal serve: admin endpoints', () => {
  it('--admin-token (or its env variable) guards /rooms and /metrics; /healthz stays open', async () => {
    const admin = 'admin-0123456789abcdef0123456789';
    const relay = await serve(['--secret', LONG_SECRET], { RTCPROBE_SIGNAL_ADMIN_TOKEN: admin });
    expect(relay.ready).toMatchObject({ auth: true, admin: true, tls: false });
    expect(relay.out()).not.toContain(admin);
    const base = relay.ready.http;
    expect((await fetch(new URL('/rooms', base))).status).toBe(401);
    expect((await fetch(new URL('/metrics', base))).status).toBe(401);
    expect((await fetch(new URL('/rooms', base), { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
    expect((await fetch(new URL('/healthz', base))).status).toBe(200);
    const usage = await runCli(['signal', 'serve', '--port', '0', '--http-host', '127.0.0.1']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/USAGE: --http-host needs --http-port/);
  });
});

describeWith({ commands: ['openssl'] }, 'rtcprobe signal serve/join over TLS', () => {
  let cert: TestCert;
  beforeAll(() => {
    cert = makeTestCert('IP:127.0.0.1,DNS:localhost');
  });
  afterAll(() => cert?.remove());

  it('serve --tls-cert/--tls-key listens on wss:// and https://; join --ca trusts it, join without --ca fails with TLS', async () => {
    const relay = await serve(['--tls-cert', cert.cert, '--tls-key', cert.key]);
    expect(relay.ready).toMatchObject({ tls: true });
    expect(relay.ready.ws).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/$/);
    expect(relay.ready.http).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/$/);
    const ok = await runCli(['signal', 'join', relay.ready.ws, '--room', 'tls', '--ca', cert.cert, '--duration', '0.3', '--json']);
    expect(ok.code).toBe(0);
    const summary = summaryOf(ok.stdout);
    expect(summary).toMatchObject({ ok: true, url: relay.ready.ws, room: 'tls' });
    expect(summary.ping.answered).toBeGreaterThan(0);
    const untrusted = await runCli(['signal', 'join', relay.ready.ws, '--room', 'tls', '--json']);
    expect(untrusted.code).toBe(2);
    expect(parseJson(untrusted.stdout)).toMatchObject({ error: { code: 'TLS' } });
  });

  it('refuses a TLS setup that cannot work before listening', async () => {
    const lone = await runCli(['signal', 'serve', '--port', '0', '--tls-cert', cert.cert]);
    expect(lone.code).toBe(2);
    expect(lone.stderr).toMatch(/USAGE: --tls-cert and --tls-key go together/);
    const swapped = await runCli(['signal', 'serve', '--port', '0', '--tls-cert', cert.key, '--tls-key', cert.cert]);
    expect(swapped.code).toBe(2);
    expect(swapped.stderr).toMatch(/TLS: --tls-cert\/--tls-key cannot be used/);
    expect(swapped.stderr).not.toMatch(STACK);
  });
});
