/**
 * `rtcprobe bench` and `rtcprobe peer` end to end: the built CLI, a real
 * relay, real werift peers on loopback, a real coturn for the TURN path.
 */
import { jsonLines } from '../helpers/json-lines.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

vi.setConfig({ testTimeout: 90_000 });
import { BIN, ROOT, runCli, runJson, why } from '../helpers/cli.js';
import { freeTcpPort, track, until } from '../helpers/signal.js';
import { describeWith } from '../helpers/system.js';
import { startCoturn } from '../helpers/coturn.js';
const jsonLinesMs = (c: ChildProcess) => jsonLines(c, 20_000);

interface Summary { count: number; min: number; p50: number; p99: number; max: number }
interface Bench {
  ok: boolean;
  verdict: string;
  partial: boolean;
  connections: { expected: number; up: number; failed: number; failures: { code: string; message: string }[] };
  aggregate: {
    dc?: { reliable: { rttMs?: Summary; forwardMs?: Summary; sent: number; echoed: number }; unreliable: { rttMs?: Summary; sent: number } };
    audio?: { packetsReceived: number; expected: number; lossRatio: number; jitterMs?: { mean: number }; oneWayMs?: Summary };
    video?: { packetsReceived: number };
    connectMs: { total?: Summary; iceConnected?: Summary; dtlsConnected?: Summary };
    pairs: Record<string, number>;
  };
  upload: { peers: { peerId: string; connections: number; bytesSent: number }[]; perPeerBps: number; perConnectionBps: number; ratio: number; expectedRatio: number; nominalPerConnectionBps: number };
  clock: { maxUncertaintyMs?: number };
  turn?: { allocations?: number; channelBinds?: number; sidesThroughIt?: number; pid?: number; startedHere: boolean };
  processes: { role: string; peers?: number; cpuMs: number; maxRssBytes: number }[];
  slo?: { ok: boolean; rules: { metric: string; ok: boolean; value?: number }[] };
  perConnection: unknown[];
}

const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('rtcprobe bench (mesh on loopback)', () => {
  it('with no arguments but a short window: every figure comes from real traffic, exit 0', async () => {
    const r = await runJson<Bench>(['bench', '--duration', '1', '--warmup', '0.3'], { timeout: 60_000 });
    expect(r.code, why(r)).toBe(0);
    const j = r.json;
    expect(j.ok).toBe(true);
    expect(j.verdict).toMatch(/^mesh, 2 peers: the connection is up; DC RTT p99 [\d.]+ ms; audio loss 0%/);
    expect(j.connections).toMatchObject({ expected: 1, up: 1, failed: 0 });
    const dc = j.aggregate.dc!;
    // 50 probes/s per channel and side for about 1 s: two sides.
    expect(dc.reliable.sent).toBeGreaterThan(60);
    expect(dc.reliable.echoed).toBe(dc.reliable.sent);
    expect(dc.reliable.rttMs!.count).toBe(dc.reliable.echoed);
    expect(dc.reliable.rttMs!.min).toBeGreaterThan(0);
    expect(dc.reliable.rttMs!.p99).toBeLessThan(200);
    expect(dc.unreliable.rttMs!.count).toBeGreaterThan(60);
    expect(dc.reliable.forwardMs!.count).toBeGreaterThan(0);
    expect(j.aggregate.audio!.packetsReceived).toBeGreaterThan(60);
    expect(j.aggregate.audio!.jitterMs!.mean).toBeGreaterThan(0);
    expect(j.aggregate.audio!.oneWayMs!.count).toBeGreaterThan(0);
    expect(j.aggregate.video!.packetsReceived).toBeGreaterThan(60);
    expect(j.aggregate.connectMs.total!.count).toBe(2);
    expect(j.aggregate.connectMs.iceConnected!.min).toBeGreaterThanOrEqual(0);
    expect(j.aggregate.pairs).toEqual({ 'host/host': 2 });
    expect(j.clock.maxUncertaintyMs).toBeLessThan(5);
    expect(j.upload.peers.every((p) => p.bytesSent > 10_000)).toBe(true);
    expect(j.processes[0]).toMatchObject({ role: 'bench' });
    expect(j.processes[0]!.cpuMs).toBeGreaterThan(0);
    expect(j.processes[0]!.maxRssBytes).toBeGreaterThan(10_000_000);
    expect(j.perConnection).toHaveLength(2);
  });

  it('3 peers, data and audio: each peer uploads (N-1) times one connection, and a connection carries its configured traffic', async () => {
    const r = await runJson<Bench>(['bench', '--peers', '3', '--channels', 'data,audio', '--duration', '1.5', '--warmup', '0.3'], { timeout: 60_000 });
    expect(r.code, why(r)).toBe(0);
    const u = r.json.upload;
    expect(r.json.connections).toMatchObject({ expected: 3, up: 3 });
    expect(u.expectedRatio).toBe(2);
    expect(u.peers.map((p) => p.connections)).toEqual([2, 2, 2]);
    // Tolerance 10% on the ratio; a connection's wire bytes are its payload plus headers (≤ 80% more).
    expect(u.ratio).toBeGreaterThan(1.8);
    expect(u.ratio).toBeLessThan(2.2);
    expect(u.perConnectionBps).toBeGreaterThan(u.nominalPerConnectionBps);
    expect(u.perConnectionBps).toBeLessThan(u.nominalPerConnectionBps * 1.8);
    expect(r.json.aggregate.video).toBeUndefined();
  });

  it('--slo breached exits 1 and names the rule; --csv and --html write their files', async () => {
    const csv = join(dir, 'r.csv');
    const html = join(dir, 'r.html');
    const r = await runJson<Bench>(['bench', '--duration', '0.5', '--warmup', '0', '--slo', 'dc.rtt.p99<1us,rtp.loss<5%', '--csv', csv, '--html', html], { timeout: 60_000 });
    expect(r.code, why(r)).toBe(1);
    expect(r.json.slo!.ok).toBe(false);
    expect(r.json.slo!.rules.map((x) => x.ok)).toEqual([false, true]);
    expect(r.json.slo!.rules[0]!.value).toBeGreaterThan(0.001);
    expect(r.json.verdict).toMatch(/SLO breached: dc\.rtt\.p99<1us/);
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toMatch(/^peer,remote,role,state,/);
    expect(rows).toHaveLength(3);
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!doctype html>/);
    expect(page).toContain("el('svg'");
    expect(page).not.toMatch(/https?:\/\//);
    expect(page).toContain('DC RTT reliable');
  });

  it('--procs 1: all three peers run in one child "rtcprobe peer --count 3" process; its figures and its CPU are merged', async () => {
    const r = await runJson<Bench>(['bench', '--peers', '3', '--procs', '1', '--channels', 'data', '--duration', '1', '--warmup', '0.3'], { timeout: 60_000 });
    expect(r.code, why(r)).toBe(0);
    expect(r.json.connections).toMatchObject({ expected: 3, up: 3 });
    expect(r.json.processes.map((p) => p.role)).toEqual(['bench', 'peer']);
    expect(r.json.processes.map((p) => p.peers)).toEqual([0, 3]);
    expect(r.json.processes[1]!.cpuMs).toBeGreaterThan(0);
    expect(r.json.perConnection).toHaveLength(6);
    expect(r.json.upload.peers.map((p) => p.connections)).toEqual([2, 2, 2]);
  });

  it('usage errors: an unknown topology, a bad SLO, bad channels', async () => {
    for (const [args, re] of [
      [['--topology', 'ring'], /--topology must be mesh, turn, sfu, mcu or all, not "ring"/],
      [['--slo', 'dc.rtt<5'], /--slo: unknown metric/],
      [['--channels', 'data,smell'], /"smell" is not one of/],
    ] as const) {
      const r = await runCli(['bench', ...args]);
      expect(r.code, why(r)).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe bench --topology turn (coturn started by the bench)', () => {
  it('every pair is relay/relay through that coturn, which logged the allocations; it is gone afterwards', async () => {
    const r = await runJson<Bench>(['bench', '--topology', 'turn', '--duration', '1', '--warmup', '0.2'], { timeout: 60_000 });
    expect(r.code, why(r)).toBe(0);
    expect(r.json.aggregate.pairs).toEqual({ 'relay/relay': 2 });
    expect(r.json.turn).toMatchObject({ startedHere: true, sidesThroughIt: 2 });
    expect(r.json.turn!.allocations).toBeGreaterThanOrEqual(2);
    expect(r.json.turn!.channelBinds).toBeGreaterThanOrEqual(2);
    expect(r.json.aggregate.dc!.reliable.rttMs!.count).toBeGreaterThan(30);
    expect(alive(r.json.turn!.pid!)).toBe(false);
  });

  it('SIGINT mid-run prints the partial figures and leaves no coturn behind', async () => {
    const child = track(spawn(process.execPath, [BIN, 'bench', '--topology', 'turn', '--duration', '30', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    // Running: its coturn is up (a child process of the CLI).
    const coturnPid = async () => {
      const { execFileSync } = await import('node:child_process');
      try {
        return Number(execFileSync('pgrep', ['-P', String(child.pid), 'turnserver']).toString().trim().split('\n')[0]);
      } catch {
        return 0;
      }
    };
    let pid = 0;
    await until(async () => (pid = await coturnPid()) > 0, 20_000, 'coturn started by the bench');
    // And connected: coturn's log (its --log-file, read from its command line) shows a channel bound.
    const { readFileSync: read } = await import('node:fs');
    const argv = read(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const logFile = argv[argv.indexOf('--log-file') + 1]!;
    await until(async () => {
      try {
        return /CHANNEL_BIND processed, success/.test(read(logFile, 'utf8'));
      } catch {
        return false;
      }
    }, 20_000, 'a channel bound through the bench\'s coturn');
    child.kill('SIGINT');
    const code = await exited;
    expect(code).not.toBe(0);
    const j = JSON.parse(out) as Bench;
    expect(j.partial).toBe(true);
    expect(j.verdict).toMatch(/interrupted: partial figures/);
    expect(j.turn!.pid).toBe(pid);
    expect(alive(pid)).toBe(false);
  });

  it('TURN credentials rejected: the connection fails with NO_RELAY_CANDIDATE, exit 1', async () => {
    const turn = await startCoturn({ users: [{ user: 'u', password: 'right' }], realm: 'rtc.test', args: ['--allow-loopback-peers'] });
    try {
      const r = await runJson<Bench>(['bench', '--topology', 'turn', '--turn', `turn:127.0.0.1:${turn.port}?transport=udp`, '--user', 'u', '--password', 'wrong', '--duration', '0.5'], { timeout: 60_000 });
      expect(r.code, why(r)).toBe(1);
      expect(r.json.connections.up).toBe(0);
      expect(r.json.connections.failures[0]!.code).toBe('NO_RELAY_CANDIDATE');
      expect(r.json.connections.failures[0]!.message).toMatch(/TURN server gave no allocation/);
    } finally {
      await turn.stop();
    }
  });
});


describe('rtcprobe peer on rtcprobe signal serve', () => {
  it('two peer processes connect, exchange and echo probes, and summarise on SIGTERM', async () => {
    const relay = track(spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    const relayOut = jsonLinesMs(relay);
    try {
      const listening = await relayOut.next((j) => j.event === 'listening');
      const ws = String(listening.ws);
      const start = (id: string) => track(spawn(process.execPath, [BIN, 'peer', '--signal', ws, '--room', 'r1', '--peer-id', id, '--loopback', '--channels', 'data,audio', '--stats-interval', '300', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
      const a = start('alice');
      const b = start('bob');
      const la = jsonLinesMs(a);
      const lb = jsonLinesMs(b);
      const ca = await la.next((j) => j.event === 'peer-connected');
      expect(ca).toMatchObject({ peerId: 'alice', remote: 'bob', role: 'offerer', pair: { local: 'host', remote: 'host' } });
      expect((ca.connectMs as { sinceStart: { dataChannelOpen: number } }).sinceStart.dataChannelOpen).toBeGreaterThan(0);
      await lb.next((j) => j.event === 'peer-connected' && j.role === 'answerer');
      // Stats where probes came back on both sides.
      const echoed = (j: Record<string, unknown>) => j.event === 'stats' && ((j.connections as { dc?: { reliable: { echoed: number } } }[])[0]?.dc?.reliable.echoed ?? 0) > 5;
      await la.next(echoed);
      await lb.next(echoed);
      const exits = [a, b].map((c) => new Promise<number | null>((res) => c.once('exit', (code) => res(code))));
      a.kill('SIGTERM');
      b.kill('SIGTERM');
      await Promise.all(exits);
      const sa = la.lines.find((j) => j.event === 'summary') as { ok: boolean; connections: { remote: string; dc: { reliable: { echoed: number; received: { received: number } } } }[] };
      expect(sa.ok).toBe(true);
      expect(sa.connections[0]!.remote).toBe('bob');
      expect(sa.connections[0]!.dc.reliable.echoed).toBeGreaterThan(5);
      expect(sa.connections[0]!.dc.reliable.received.received).toBeGreaterThan(5);
    } finally {
      relay.kill('SIGTERM');
    }
  });

  it('bad input gives a clear typed error, exit 2', async () => {
    const port = await freeTcpPort();
    const unreachable = await runCli(['peer', '--signal', `ws://127.0.0.1:${port}`, '--room', 'r', '--loopback', '--json']);
    expect(unreachable.code).toBe(2);
    expect(JSON.parse(unreachable.stdout).error.code).toBe('CONNECTION');

    const bad = join(dir, 'bad-ice.json');
    writeFileSync(bad, '{"iceServers": [{"urls": 5}]}');
    const ice = await runCli(['peer', '--signal', `ws://127.0.0.1:${port}`, '--room', 'r', '--ice-servers', bad]);
    expect(ice.code).toBe(2);
    expect(ice.stderr).toMatch(/USAGE: iceServers\[0\]\.urls must be a string or an array of strings/);
    expect(existsSync(bad)).toBe(true);

    const relay = track(spawn(process.execPath, [BIN, 'signal', 'serve', '--port', '0', '--json', '--secret', 'a-long-enough-secret-for-hs256-0123456789'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
    const out = jsonLinesMs(relay);
    try {
      const ws = String((await out.next((j) => j.event === 'listening')).ws);
      const refused = await runCli(['peer', '--signal', ws, '--room', 'r', '--token', 'not-a-token', '--loopback', '--json']);
      expect(refused.code).toBe(2);
      const err = JSON.parse(refused.stdout).error as { code: string; message: string };
      expect(err.code).toBe('SIGNAL_REJECTED');
      expect(err.message).toMatch(/^AUTH_INVALID/);
    } finally {
      relay.kill('SIGTERM');
    }
  });
});
