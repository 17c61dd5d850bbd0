/**
 * The benchmark's proofs with real impairments: two `rtcprobe peer`
 * processes in separate network namespaces, a router namespace between them
 * with the relay (and coturn), nftables and tc on the forwarded path, and
 * `rtcprobe bench --signal ... --expect 2 --json` coordinating the run.
 */
import { jsonLines } from '../helpers/json-lines.js';
import { type ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { benchLab, type BenchLab } from '../helpers/bench-lab.js';
import { startCoturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 60_000 });

interface Stream { expected: number; lost: number; received: number }
interface Side {
  peerId: string;
  remote: string;
  state: string;
  windowMs: number;
  error?: { code: string; message: string };
  pair?: { local: string; remote: string };
  bytes: { sent: number; received: number };
  dc?: { reliable: { sent: number; echoed: number; lossRatio: number; rttMs?: { p50: number }; received: Stream }; unreliable: { sent: number; echoed: number; received: Stream }; clock?: { uncertaintyMs: number } };
  audio?: { stream: Stream; oneWayMs?: { p50: number } };
  video?: { stream: Stream };
}
interface Bench {
  ok: boolean;
  verdict: string;
  connections: { expected: number; up: number; failures: { peerId: string; remote: string; code: string; message: string }[] };
  aggregate: { pairs: Record<string, number>; dc?: { reliable: { sent: number; echoed: number; lossRatio: number } } };
  coordination?: { members: string[]; reports: number; windowSkewBoundMs?: number };
  perConnection: Side[];
}

const lines = (child: ChildProcess) => jsonLines(child, 20_000);

describeWith({ commands: ['ip', 'nft', 'tc', 'turnserver'], root: true }, 'rtcprobe bench across network namespaces (nftables loss, TURN only, tbf)', () => {
  let lab: BenchLab;
  let ws = '';
  let relay: ChildProcess | undefined;
  const children: ChildProcess[] = [];
  const kill = (c: ChildProcess) =>
    new Promise<void>((res) => {
      if (c.exitCode !== null || c.signalCode !== null) return res();
      c.once('exit', () => res());
      c.kill('SIGKILL');
    });

  beforeAll(async () => {
    lab = benchLab();
    relay = lab.spawnIn(lab.router, [process.execPath, BIN, 'signal', 'serve', '--host', lab.service, '--port', '0', '--json']);
    ws = String((await lines(relay).next((j) => j.event === 'listening')).ws);
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map(kill));
    lab?.clear();
  });
  afterAll(async () => {
    if (relay) await kill(relay);
    lab?.down();
    expect(lab ? lab.leftovers() : []).toEqual([]);
  });

  /** Two peers (A, B) and the coordinating bench in the router namespace; the bench's JSON. */
  async function run(room: string, o: { peerArgs?: string[]; benchArgs: string[]; beforeBench?: (peers: ReturnType<typeof lines>[]) => Promise<void> }): Promise<{ code: number | null; json: Bench; peers: ReturnType<typeof lines>[] }> {
    await lab.linksUp();
    const peers = (['a', 'b'] as const).map((n) => {
      const c = lab.spawnIn(n === 'a' ? lab.a : lab.b, [process.execPath, BIN, 'peer', '--signal', ws, '--room', room, '--peer-id', n, '--json', '--stats-interval', '0', ...(o.peerArgs ?? [])]);
      children.push(c);
      return lines(c);
    });
    await o.beforeBench?.(peers);
    const bench = lab.spawnIn(lab.router, [process.execPath, BIN, 'bench', '--signal', ws, '--room', room, '--expect', '2', '--json', ...o.benchArgs]);
    children.push(bench);
    let out = '';
    let err = '';
    bench.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    bench.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((res) => bench.once('exit', (c) => res(c)));
    let json: Bench;
    try {
      json = JSON.parse(out) as Bench;
    } catch {
      throw new Error(`bench printed no JSON (exit ${code}): ${err.slice(-2000)}`);
    }
    return { code, json, peers };
  }

  const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0);
  /** Five binomial standard deviations around p for n trials. */
  const tolerance = (p: number, n: number) => 5 * Math.sqrt((p * (1 - p)) / n);

  let lossRun: { unLoss: number; unN: number; unTol: number } | undefined;

  it('10% random UDP drop between the peers: RTP loss ≈ 10% (binomial tolerance), the reliable channel loses nothing', async () => {
    // The drop is in place before the peers start: the connection setup goes through it too. Without
    // patches/werift+0.24.4+005+connect-under-loss.patch a third of such setups never came up (docs/rtc.md,
    // "Connecting under loss"); with it, 100 of 100 pairs did, the slowest in 13.2 s, well within the peers' 40 s.
    lab.forwardRules(['meta l4proto udp numgen random mod 100 < 10 drop']);
    const r = await run(`loss-${process.pid}`, {
      peerArgs: ['--timeout', '40000'],
      beforeBench: async (peers) => {
        await Promise.all(peers.map((p) => p.next((j) => j.event === 'peer-connected', 40_000)));
      },
      benchArgs: ['--duration', '15', '--warmup', '1', '--timeout', '60000'],
    });
    expect(r.code, `${r.json.verdict} ${JSON.stringify(r.json.connections.failures)}`).toBe(0);
    expect(r.json.connections).toMatchObject({ expected: 1, up: 1 });
    const sides = r.json.perConnection;
    expect(sides).toHaveLength(2);
    // RTP, one way per receiving side: audio and video streams.
    const rtp = sides.flatMap((s) => [s.audio!.stream, s.video!.stream]);
    const rtpN = sum(rtp.map((x) => x.expected));
    const rtpLoss = sum(rtp.map((x) => x.lost)) / rtpN;
    // Unreliable channel, one way: the remote's probes as received here (before echoing).
    const un = sides.map((s) => s.dc!.unreliable.received);
    const unN = sum(un.map((x) => x.expected));
    const unLoss = sum(un.map((x) => x.lost)) / unN;
    const rtpTol = tolerance(0.1, rtpN);
    const unTol = tolerance(0.1, unN);
    lossRun = { unLoss, unN, unTol };
    console.log(`loss proof: RTP ${(rtpLoss * 100).toFixed(2)}% of ${rtpN} (±${(rtpTol * 100).toFixed(2)}%), unreliable DC ${(unLoss * 100).toFixed(2)}% of ${unN} (±${(unTol * 100).toFixed(2)}%)`);
    expect(Math.abs(rtpLoss - 0.1)).toBeLessThan(rtpTol);
    // The reliable channel loses nothing: at each receiver every probe the other side sent in the window
    // arrived, in order, with no gap.
    const rel = r.json.aggregate.dc!.reliable;
    console.log(`loss proof: reliable DC ${rel.echoed} of ${rel.sent} echoed; per side ${JSON.stringify(sides.map((x) => ({ side: `${x.peerId}>${x.remote}`, sent: x.dc!.reliable.sent, echoed: x.dc!.reliable.echoed, receivedHere: x.dc!.reliable.received })))}`);
    expect(rel.sent).toBeGreaterThan(2 * 15 * 40);
    for (const x of sides) {
      const other = sides.find((y) => y.peerId === x.remote)!;
      expect(other.dc!.reliable.received).toMatchObject({ lost: 0, reordered: 0, duplicates: 0 });
      // The two windows start and end when the broadcasts reach each peer: at 50 probes/s a skew of s ms
      // moves up to ceil(s/20) + 1 probes in or out at either end (s: the run's window→ack bound).
      const shift = Math.ceil((r.json.coordination!.windowSkewBoundMs ?? 0) / 20) + 1;
      expect(Math.abs(other.dc!.reliable.received.received - x.dc!.reliable.sent)).toBeLessThanOrEqual(2 * shift);
    }
    // Every echo comes back: unpatched werift 0.24.4 sometimes left the last echo or two of a lossy run queued
    // in the receiver's reassembly for good (patches/werift+0.24.4+004+sctp-receive-stall.patch).
    expect(rel.echoed).toBe(rel.sent);
  });

  // Unpatched werift 0.24.4 never abandons a message on a channel with maxRetransmits 0 (SCTP.maybeAbandon
  // tested `!!chunk.maxRetransmits`, false for 0), so the "unreliable" channel retransmitted like the reliable
  // one and its loss read 0; patches/werift+0.24.4+003+sctp-partial-reliability.patch fixes it.
  it('10% random UDP drop: unreliable-channel one-way loss ≈ 10% (binomial tolerance)', () => {
    expect(lossRun).toBeDefined();
    expect(Math.abs(lossRun!.unLoss - 0.1)).toBeLessThan(lossRun!.unTol);
  });

  it('direct UDP between the peers blocked: mesh fails with ICE_FAILED naming the phase and candidates; relay-only through coturn works, and coturn saw it', async () => {
    lab.forwardRules([
      'ip saddr 192.0.2.0/24 ip daddr 198.51.100.0/24 meta l4proto udp drop',
      'ip saddr 198.51.100.0/24 ip daddr 192.0.2.0/24 meta l4proto udp drop',
    ]);
    const mesh = await run(`block-${process.pid}`, {
      peerArgs: ['--timeout', '10000', '--channels', 'data'],
      benchArgs: ['--duration', '1', '--warmup', '0', '--timeout', '40000'],
    });
    expect(mesh.code).toBe(1);
    expect(mesh.json.connections.up).toBe(0);
    const f = mesh.json.connections.failures.filter((x) => x.remote);
    expect(f.length).toBeGreaterThan(0);
    for (const x of f) {
      expect(x.code).toBe('ICE_FAILED');
      expect(x.message).toMatch(/failed during ICE connectivity checks/);
      expect(x.message).toMatch(/local candidates: host; remote candidates: host/);
    }
    console.log(`TURN proof, mesh: ${f[0]!.message}`);

    const turn = await startCoturn({ netns: lab.router, ips: [lab.service], basePort: 41000, users: [{ user: 'u', password: 'secret-pw' }], realm: 'bench.test', args: ['--verbose'] });
    try {
      const t = await run(`turn-${process.pid}`, {
        peerArgs: ['--timeout', '30000', '--channels', 'data,audio', '--relay-only', '--turn', `turn:${lab.service}:${turn.port}?transport=udp`, '--user', 'u', '--password', 'secret-pw'],
        benchArgs: ['--duration', '2', '--warmup', '0.5', '--timeout', '60000', '--topology', 'turn'],
      });
      expect(t.code, t.json.verdict).toBe(0);
      expect(t.json.aggregate.pairs).toEqual({ 'relay/relay': 2 });
      expect(t.json.aggregate.dc!.reliable.echoed).toBe(t.json.aggregate.dc!.reliable.sent);
      const log = turn.logs();
      const allocations = (log.match(/ALLOCATE processed, success/g) ?? []).length;
      const binds = (log.match(/CHANNEL_BIND processed, success/g) ?? []).length;
      console.log(`TURN proof, relay only: pairs ${JSON.stringify(t.json.aggregate.pairs)}, coturn allocations ${allocations}, channel binds ${binds}`);
      expect(allocations).toBeGreaterThanOrEqual(2);
      expect(binds).toBeGreaterThanOrEqual(2);
    } finally {
      await turn.stop();
    }
    // coturn logs each session's relayed bytes when the session ends.
    const usage = [...turn.logs().matchAll(/rb=(\d+), sp=\d+, sb=(\d+)/g)].reduce((a, m) => a + Number(m[1]) + Number(m[2]), 0);
    console.log(`TURN proof: coturn relayed ${usage} bytes`);
    expect(usage).toBeGreaterThan(10_000);
  });

  it('tbf 300 kbit/s towards B with video above it: throughput capped near the rate, delay far above the unlimited run', async () => {
    const traffic = ['--channels', 'data,audio,video', '--video-kbps', '600', '--rate', '20'];
    const measure = async (room: string) => {
      const r = await run(room, { peerArgs: ['--timeout', '30000', ...traffic], benchArgs: ['--duration', '6', '--warmup', '1', '--timeout', '60000'] });
      expect(r.code === 0 || r.code === 1, r.json.verdict).toBe(true);
      expect(r.json.connections.up).toBe(1);
      const atB = r.json.perConnection.find((s) => s.peerId === 'b')!;
      return {
        kbps: (atB.bytes.received * 8) / atB.windowMs,
        owdP50: atB.audio!.oneWayMs!.p50,
        rttP50: r.json.perConnection.find((s) => s.peerId === 'a')!.dc!.reliable.rttMs!.p50,
        uncertainty: atB.dc!.clock!.uncertaintyMs,
      };
    };
    const free = await measure(`tbf0-${process.pid}`);
    lab.tbfTowardsB(['rate', '300kbit', 'burst', '4kb', 'latency', '400ms']);
    const limited = await measure(`tbf1-${process.pid}`);
    console.log(`tbf proof: unlimited ${free.kbps.toFixed(0)} kbit/s, audio one-way p50 ${free.owdP50.toFixed(1)} ms, DC RTT p50 ${free.rttP50.toFixed(1)} ms; ` +
      `tbf 300 kbit/s: ${limited.kbps.toFixed(0)} kbit/s, audio one-way p50 ${limited.owdP50.toFixed(1)} ms (±${limited.uncertainty.toFixed(1)}), DC RTT p50 ${limited.rttP50.toFixed(1)} ms`);
    expect(free.kbps).toBeGreaterThan(500);
    // Capped: at most the rate plus 10% (the burst and rounding), and most of it used.
    expect(limited.kbps).toBeLessThan(330);
    expect(limited.kbps).toBeGreaterThan(200);
    // Queueing: the round trip (no clock involved) and the one-way delay rise well above the unlimited run.
    expect(limited.rttP50).toBeGreaterThan(free.rttP50 + 50);
    expect(limited.owdP50).toBeGreaterThan(free.owdP50 + 50);
  });
});
