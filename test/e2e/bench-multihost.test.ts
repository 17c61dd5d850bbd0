/**
 * `rtcprobe bench` spread over processes: `--procs K` (peers in K child
 * processes on the in-process relay) and `--signal URL --room R --expect N`
 * (the bench coordinates `rtcprobe peer` processes started elsewhere, here on
 * loopback, through a `rtcprobe signal serve` relay; also two relays sharing
 * one redis-server).
 */
import { jsonLines } from '../helpers/json-lines.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { BIN, ROOT, runCli, runJson, why } from '../helpers/cli.js';
import { freeTcpPort, startRedis, track } from '../helpers/signal.js';
import { describeWith } from '../helpers/system.js';

vi.setConfig({ testTimeout: 120_000 });

interface Summary { count: number; min: number; p50: number; p99: number; max: number }
interface Bench {
  ok: boolean;
  verdict: string;
  partial: boolean;
  peers: number;
  connections: { expected: number; up: number; failed: number; failures: { peerId: string; code: string; message: string }[] };
  aggregate: {
    dc?: { reliable: { rttMs?: Summary; forwardMs?: Summary; backwardMs?: Summary; sent: number; echoed: number }; unreliable: { sent: number } };
    audio?: { packetsReceived: number; oneWayMs?: Summary };
    clock?: { maxUncertaintyMs: number };
  };
  clock: { note: string; maxUncertaintyMs?: number; offsets?: { peerId: string; remote: string; offsetMs: number; uncertaintyMs: number }[] };
  processes: { role: string; pid?: number; host?: string; peers: number; cpuMs: number; maxRssBytes: number }[];
  coordination?: { mode: string; members: string[]; reports: number; left: string[]; missing: string[]; windowSkewBoundMs?: number; error?: { code: string; message: string } };
  perConnection: { peerId: string; remote: string; state: string; dc?: { clock?: { offsetMs: number; uncertaintyMs: number } } }[];
}


const started: ChildProcess[] = [];
afterEach(async () => {
  // Every child of a test is gone afterwards, also when it failed.
  await Promise.all(started.splice(0).map((c) => new Promise<void>((res) => {
    if (c.exitCode !== null || c.signalCode !== null) return res();
    c.once('exit', () => res());
    c.kill('SIGKILL');
  })));
});

function cli(args: string[]): ChildProcess {
  const c = track(spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  started.push(c);
  return c;
}

async function relay(extra: string[] = []): Promise<string> {
  const r = cli(['signal', 'serve', '--port', '0', '--json', ...extra]);
  const out = jsonLines(r);
  return String((await out.next((j) => j.event === 'listening')).ws);
}

const exitOf = (c: ChildProcess) => new Promise<number | null>((res) => (c.exitCode !== null ? res(c.exitCode) : c.once('exit', (code) => res(code))));

function peer(ws: string, room: string, id: string, extra: string[] = []) {
  const c = cli(['peer', '--signal', ws, '--room', room, '--peer-id', id, '--loopback', '--channels', 'data,audio', '--stats-interval', '0', '--json', ...extra]);
  return { child: c, out: jsonLines(c), exit: exitOf(c) };
}

describe('rtcprobe bench --procs', () => {
  it('--procs 2 with 4 peers: two child processes of two peers each, none in the bench; CPU and RSS per process; offsets per connection', async () => {
    const r = await runJson<Bench>(['bench', '--peers', '4', '--procs', '2', '--channels', 'data,audio', '--duration', '1.5', '--warmup', '0.5'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(0);
    const j = r.json;
    expect(j.connections).toMatchObject({ expected: 6, up: 6, failed: 0 });
    expect(j.processes.map((p) => [p.role, p.peers])).toEqual([['bench', 0], ['peer', 2], ['peer', 2]]);
    const kids = j.processes.slice(1);
    expect(new Set(kids.map((p) => p.pid)).size).toBe(2);
    for (const p of kids) {
      expect(p.cpuMs).toBeGreaterThan(0);
      expect(p.maxRssBytes).toBeGreaterThan(10_000_000);
    }
    expect(j.coordination).toMatchObject({ mode: 'procs', members: ['p000', 'p001', 'p002', 'p003'], reports: 2, left: [], missing: [] });
    expect(j.coordination!.windowSkewBoundMs).toBeGreaterThanOrEqual(0);
    // Every side of every connection, with its clock offset and that offset's uncertainty.
    expect(j.perConnection).toHaveLength(12);
    expect(j.clock.offsets).toHaveLength(12);
    for (const o of j.clock.offsets!) expect(o.uncertaintyMs).toBeGreaterThanOrEqual(0);
    expect(j.clock.maxUncertaintyMs).toBe(Math.max(...j.clock.offsets!.map((o) => o.uncertaintyMs)));
    expect(j.clock.note).toMatch(/own clock: one-way delays are offset-corrected.*NTP-style/);
    // Every probe of the window came back, and one-way delays exist (offset-corrected).
    expect(j.aggregate.dc!.reliable.echoed).toBe(j.aggregate.dc!.reliable.sent);
    // Every side sent probes in the window (how many depends on the CPU the machine leaves the children).
    for (const c of j.perConnection as unknown as { dc: { reliable: { sent: number } } }[]) expect(c.dc.reliable.sent).toBeGreaterThan(0);
    expect(j.aggregate.dc!.reliable.forwardMs!.count).toBeGreaterThan(0);
    expect(j.aggregate.audio!.oneWayMs!.count).toBeGreaterThan(0);
  });
});

describe('rtcprobe bench --signal: peers started elsewhere, coordinated through the relay', () => {
  it('two peer processes and a coordinating bench: one merged report, the peers end once it is in', async () => {
    const ws = await relay();
    const room = `mh-${process.pid}`;
    const a = peer(ws, room, 'alice');
    const b = peer(ws, room, 'bob');
    const r = await runJson<Bench>(['bench', '--signal', ws, '--room', room, '--expect', '2', '--duration', '1.5', '--warmup', '0.5', '--channels', 'data,audio'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(0);
    const j = r.json;
    expect(j.ok).toBe(true);
    expect(j.verdict).toMatch(/^mesh, 2 peers: the connection is up/);
    expect(j.coordination).toMatchObject({ mode: 'hosts', members: ['alice', 'bob'], reports: 2, missing: [], left: [] });
    expect(j.processes.map((p) => p.role)).toEqual(['bench', 'peer', 'peer']);
    expect(j.perConnection.map((c) => `${c.peerId}>${c.remote}`)).toEqual(['alice>bob', 'bob>alice']);
    expect(j.aggregate.dc!.reliable.sent).toBeGreaterThan(0);
    expect(j.aggregate.dc!.reliable.echoed).toBe(j.aggregate.dc!.reliable.sent);
    expect(j.clock.offsets).toHaveLength(2);
    // The coordinator steered them: each saw the window and sent its report, then ended by itself.
    for (const p of [a, b]) {
      await p.out.next((l) => l.event === 'bench-window');
      await p.out.next((l) => l.event === 'bench-stop');
      expect(await p.exit).toBe(0);
      expect(p.out.lines.find((l) => l.event === 'summary')).toMatchObject({ coordinatedRun: expect.any(String) });
    }
    // The coordinator was never a WebRTC peer.
    expect(a.out.lines.filter((l) => l.event === 'peer-connected').map((l) => l.remote)).toEqual(['bob']);
  });

  it('fewer peers than --expect: PEERS_MISSING, exit 1, the figures of those present kept', async () => {
    const ws = await relay();
    const room = `mh-missing-${process.pid}`;
    peer(ws, room, 'alice');
    peer(ws, room, 'bob');
    const r = await runJson<Bench>(['bench', '--signal', ws, '--room', room, '--expect', '3', '--timeout', '6000', '--duration', '1', '--warmup', '0.2', '--channels', 'data'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.coordination!.error!.code).toBe('PEERS_MISSING');
    expect(r.json.coordination!.error!.message).toMatch(/2 of 3 expected peer\(s\) joined/);
    expect(r.json.verdict).toMatch(/PEERS_MISSING/);
    expect(r.json.connections.expected).toBe(3);
    expect(r.json.connections.up).toBe(1);
    expect(r.json.aggregate.dc!.reliable.sent).toBeGreaterThan(0);
  });

  it('a peer leaving mid-run: PEER_LEFT, exit 1, the others\' figures kept', async () => {
    const ws = await relay();
    const room = `mh-left-${process.pid}`;
    peer(ws, room, 'p1');
    peer(ws, room, 'p2');
    const leaver = peer(ws, room, 'p3');
    const bench = cli(['bench', '--signal', ws, '--room', room, '--expect', '3', '--duration', '4', '--warmup', '0.3', '--channels', 'data', '--json']);
    let out = '';
    bench.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await leaver.out.next((l) => l.event === 'bench-window');
    leaver.child.kill('SIGKILL');
    expect(await exitOf(bench)).toBe(1);
    const j = JSON.parse(out) as Bench;
    expect(j.coordination!.left).toEqual(['p3']);
    expect(j.coordination!.error!.code).toBe('PEER_LEFT');
    expect(j.connections.failures.some((f) => f.code === 'PEER_LEFT' && f.peerId === 'p3')).toBe(true);
    // p1-p2 stayed up and was measured; p1-p3 and p2-p3 count until p3 left.
    expect(j.perConnection.filter((c) => c.state === 'up').map((c) => `${c.peerId}>${c.remote}`)).toEqual(['p1>p2', 'p2>p1']);
    expect(j.aggregate.dc!.reliable.sent).toBeGreaterThan(0);
    expect(j.aggregate.dc!.reliable.rttMs!.count).toBeGreaterThan(0);
  });

  it('SIGINT in the window: the peers still report, the figures so far are printed as partial', async () => {
    const ws = await relay();
    const room = `mh-int-${process.pid}`;
    const a = peer(ws, room, 'alice', ['--stats-interval', '200']);
    const b = peer(ws, room, 'bob', ['--stats-interval', '200']);
    const bench = cli(['bench', '--signal', ws, '--room', room, '--expect', '2', '--duration', '60', '--warmup', '0.2', '--channels', 'data', '--json']);
    let out = '';
    bench.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    // Both windows started, and probes have come back since.
    await a.out.next((l) => l.event === 'bench-window');
    await b.out.next((l) => l.event === 'bench-window');
    const echoedInWindow = (p: ReturnType<typeof peer>) => {
      const at = p.out.lines.findIndex((l) => l.event === 'bench-window');
      return p.out.next((l) => p.out.lines.indexOf(l) > at && l.event === 'stats' && ((l.connections as { dc?: { reliable: { echoed: number } } }[])[0]?.dc?.reliable.echoed ?? 0) > 5);
    };
    await echoedInWindow(a);
    await echoedInWindow(b);
    bench.kill('SIGINT');
    expect(await exitOf(bench)).toBe(130);
    const j = JSON.parse(out) as Bench;
    expect(j.partial).toBe(true);
    expect(j.verdict).toMatch(/interrupted: partial figures/);
    expect(j.coordination).toMatchObject({ reports: 2, missing: [] });
    expect(j.aggregate.dc!.reliable.sent).toBeGreaterThan(0);
    expect(await a.exit).toBe(0);
    expect(await b.exit).toBe(0);
  });

  it('bad input: an unreachable relay (CONNECTION), a refused join (SIGNAL_REJECTED), a missing --expect (USAGE)', async () => {
    const port = await freeTcpPort();
    const unreachable = await runCli(['bench', '--signal', `ws://127.0.0.1:${port}/`, '--room', 'r', '--expect', '2', '--json']);
    expect(unreachable.code).toBe(2);
    expect(JSON.parse(unreachable.stdout).error.code).toBe('CONNECTION');
    const ws = await relay(['--secret', 'a-long-enough-secret-for-hs256-0123456789']);
    const refused = await runCli(['bench', '--signal', ws, '--room', 'r', '--expect', '2', '--token', 'not-a-token', '--json']);
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout).error).toMatchObject({ code: 'SIGNAL_REJECTED', message: expect.stringMatching(/^AUTH_INVALID/) });
    const usage = await runCli(['bench', '--signal', ws, '--room', 'r']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--signal needs --room and --expect/);
  });
});

/** A child's stdout as text, with a wait for the text to match. */
function textOf(c: ChildProcess) {
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  c.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of [...waiters]) {
      const m = text.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  return {
    text: () => text,
    next: (re: RegExp, ms = 30_000) => new Promise<RegExpMatchArray>((resolve, reject) => {
      const m = text.match(re);
      if (m) return resolve(m);
      const t = setTimeout(() => reject(new Error(`no ${re} within ${ms} ms in:\n${text.slice(-2000)}`)), ms);
      waiters.push({ re, resolve: (x) => { clearTimeout(t); resolve(x); } });
    }),
  };
}

const fig = String.raw`(-?\d+\.\d+)/(-?\d+\.\d+)`;
/** p50 ≤ p99, and on loopback well under a second. */
function plausible(m: RegExpMatchArray, from: number, n: number): void {
  for (let i = from; i < from + 2 * n; i += 2) {
    const p50 = Number(m[i]);
    const p99 = Number(m[i + 1]);
    expect(p50, m[0]).toBeLessThanOrEqual(p99);
    expect(Math.abs(p99), m[0]).toBeLessThan(1000);
  }
}

describe('rtcprobe peer human output: one-way delays', () => {
  it('two peer processes: stats and summary lines show DC forward/backward, audio and video one-way p50/p99 with the clock offset uncertainty', async () => {
    const ws = await relay();
    const room = `owd-${process.pid}`;
    const start = (id: string) => cli(['peer', '--signal', ws, '--room', room, '--peer-id', id, '--loopback', '--stats-interval', '500']);
    const a = start('alice');
    const b = start('bob');
    const ta = textOf(a);
    const tb = textOf(b);
    const ea = exitOf(a);
    const eb = exitOf(b);
    // Each process has its own clock: the figures rest on the offset estimated from the DC round trips.
    const line = new RegExp(
      String.raw`^ {4}one-way p50/p99 ms: DC forward ${fig}, DC backward ${fig}, audio ${fig}, video ${fig} \(remote clock offset [+−]\d+\.\d+ ± (\d+\.\d+) ms, from (\d+) DC round trips\)$`,
      'm',
    );
    for (const t of [ta, tb]) {
      const m = await t.next(line);
      plausible(m, 1, 4);
      expect(Number(m[9])).toBeGreaterThanOrEqual(0);
      expect(Number(m[10])).toBeGreaterThan(0);
    }
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    expect(await ea).toBe(0);
    expect(await eb).toBe(0);
    for (const [t, remote] of [[ta, 'bob'], [tb, 'alice']] as const) {
      // The summary: the connection's line, then its one-way line. Both got SIGTERM at once: the one that stops
      // second may already have seen the other leave, and lists that connection as closed.
      const m = t.text().match(new RegExp(String.raw`^ {4}${remote} {2}(?:up|closed) {2}pair host/host .*\n {6}one-way p50/p99 ms: DC forward ${fig}, DC backward ${fig}, audio ${fig}, video ${fig} \(remote clock offset [+−]\d+\.\d+ ± \d+\.\d+ ms, from \d+ DC round trips\)$`, 'm'));
      expect(m, t.text().slice(-1500)).not.toBeNull();
      plausible(m!, 1, 4);
    }
  });

  it('two peers in one process: one clock, no offset to estimate; audio only across processes says why one-way delay is unknown', async () => {
    const ws = await relay();
    const one = cli(['peer', '--signal', ws, '--room', `owd1-${process.pid}`, '--peer-id', 'p,q', '--loopback', '--channels', 'data,audio', '--stats-interval', '500']);
    const t1 = textOf(one);
    const m = await t1.next(new RegExp(String.raw`^ {4}one-way p50/p99 ms: DC forward ${fig}, DC backward ${fig}, audio ${fig} \(one clock: the sender runs in this process\)$`, 'm'));
    plausible(m, 1, 3);
    // Without a data channel two processes have no round trips to estimate their clock offset from.
    const room = `owd2-${process.pid}`;
    const a = cli(['peer', '--signal', ws, '--room', room, '--peer-id', 'alice', '--loopback', '--channels', 'audio', '--stats-interval', '500']);
    cli(['peer', '--signal', ws, '--room', room, '--peer-id', 'bob', '--loopback', '--channels', 'audio', '--stats-interval', '500']);
    await textOf(a).next(/^ {4}one-way delay unknown: the senders run in another process \(own clock\) and without a data channel \(--channels data\) there are no round trips to estimate the clock offset from$/m);
    one.kill('SIGTERM');
    expect(await exitOf(one)).toBe(0);
    expect(t1.text()).toMatch(new RegExp(String.raw`^ {4}p → q {2}up .*\n {6}one-way p50/p99 ms: DC forward ${fig}, DC backward ${fig}, audio ${fig} \(one clock: the sender runs in this process\)$`, 'm'));
  });
});

/**
 * A WebSocket proxy in front of the relay that changes the certificate fingerprint in every SDP it
 * hands to its client: that client's DTLS handshake then meets a certificate that does not match.
 */
async function fingerprintTamperingProxy(target: string): Promise<{ url: string; tampered: () => number; close: () => Promise<void> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((res) => server.once('listening', () => res()));
  let tampered = 0;
  server.on('connection', (client) => {
    const up = new WebSocket(target);
    const early: string[] = [];
    client.on('message', (d) => (up.readyState === WebSocket.OPEN ? up.send(d.toString()) : early.push(d.toString())));
    up.on('open', () => { for (const m of early.splice(0)) up.send(m); });
    up.on('message', (d) => {
      let text = d.toString();
      const m = JSON.parse(text) as { type?: string; data?: { rtcprobe?: string; sdp?: string } };
      if (m.type === 'signal' && m.data?.rtcprobe === 'sdp' && m.data.sdp) {
        // Flip the first byte of every fingerprint: same format, another certificate.
        m.data.sdp = m.data.sdp.replace(/(a=fingerprint:\S+ )([0-9A-Fa-f]{2})/g, (_x, pre: string, hex: string) => `${pre}${((parseInt(hex, 16) ^ 0xff) & 0xff).toString(16).padStart(2, '0').toUpperCase()}`);
        tampered++;
        text = JSON.stringify(m);
      }
      client.send(text);
    });
    const end = () => { client.close(); up.close(); };
    up.on('close', end);
    client.on('close', end);
    up.on('error', end);
    client.on('error', end);
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    tampered: () => tampered,
    close: () => new Promise<void>((res) => { for (const c of server.clients) c.terminate(); server.close(() => res()); }),
  };
}

describe('rtcprobe peer: a DTLS failure', () => {
  it('a certificate that does not match the SDP fingerprint: DTLS_FAILED, naming the handshake, after ICE connected', async () => {
    const ws = await relay();
    const proxy = await fingerprintTamperingProxy(ws);
    try {
      const room = `dtls-${process.pid}`;
      const a = peer(ws, room, 'alice', ['--timeout', '8000']);
      const b = peer(proxy.url, room, 'bob', ['--timeout', '8000']);
      const failed = await b.out.next((l) => l.event === 'peer-failed', 30_000);
      expect(proxy.tampered()).toBeGreaterThan(0);
      expect(failed.code).toBe('DTLS_FAILED');
      expect(String(failed.message)).toMatch(/failed during the DTLS handshake \(ICE was connected\)/);
      expect(String(failed.message)).toMatch(/local candidates: host; remote candidates: host/);
      // The other side never gets a working connection either.
      const other = await a.out.next((l) => l.event === 'peer-failed' || l.event === 'peer-connected', 30_000);
      expect(other.event).toBe('peer-failed');
    } finally {
      await proxy.close();
    }
  });
});

describeWith({ commands: ['redis-server'] }, 'rtcprobe bench --signal across two relays sharing one redis-server', () => {
  it('peers on two relay instances, the coordinator on a third connection: the same merged report', async () => {
    const redis = await startRedis();
    try {
      const ws1 = await relay(['--redis', redis.url, '--instance-id', `a${process.pid}`]);
      const ws2 = await relay(['--redis', redis.url, '--instance-id', `b${process.pid}`]);
      const room = `mh-redis-${process.pid}`;
      const a = peer(ws1, room, 'alice');
      const b = peer(ws2, room, 'bob');
      const r = await runJson<Bench>(['bench', '--signal', ws2, '--room', room, '--expect', '2', '--duration', '1', '--warmup', '0.3', '--channels', 'data,audio'], { timeout: 90_000 });
      expect(r.code, why(r)).toBe(0);
      expect(r.json.coordination).toMatchObject({ members: ['alice', 'bob'], reports: 2, missing: [] });
      expect(r.json.connections).toMatchObject({ expected: 1, up: 1 });
      expect(r.json.aggregate.dc!.reliable.echoed).toBe(r.json.aggregate.dc!.reliable.sent);
      expect(await a.exit).toBe(0);
      expect(await b.exit).toBe(0);
    } finally {
      await redis.stop();
    }
  });
});
