// `rtcprobe bench` in one process: no listener-leak warning however many
// connections share the run's AbortSignal; one-way delay with audio alone
// (one clock, offset 0), and a stated reason where it cannot be known.
import { describe, expect, it } from 'vitest';
import { getEventListeners } from 'node:events';
import { runCli, runJson, why } from '../helpers/cli.js';
import { runBench } from '../../src/core/rtc/bench-run.js';

interface Bench {
  ok: boolean;
  aggregate: { audio?: { oneWayMs?: { count: number; p50: number } } };
  clock: { note: string };
}

describe('rtcprobe bench: warnings and clocks', () => {
  it('5 peers (20 connection sides on one signal) print no MaxListenersExceededWarning', async () => {
    const r = await runCli(['bench', '--peers', '5', '--duration', '1', '--warmup', '0'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(0);
    expect(r.stderr).not.toMatch(/MaxListenersExceeded|memory leak/);
  }, 120_000);

  it('runs after runs on one AbortSignal leave no abort listeners behind (mesh and sfu)', async () => {
    const ac = new AbortController();
    const counts: number[] = [];
    for (const topology of ['mesh', 'sfu', 'mesh'] as const) {
      const r = await runBench({ topology, peers: 3, durationMs: 500, warmupMs: 0, signal: ac.signal, traffic: { channels: ['data'] } });
      expect(r.connections.up).toBe(3);
      counts.push(getEventListeners(ac.signal, 'abort').length);
    }
    // At most the one listener shared by every connection on this signal; before, each run left one per peer's relay client.
    expect(Math.max(...counts)).toBeLessThanOrEqual(1);
  }, 120_000);

  it('--channels audio in one process reports the audio one-way delay (shared clock)', async () => {
    const r = await runJson<Bench>(['bench', '--peers', '3', '--duration', '2', '--warmup', '0', '--channels', 'audio'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(0);
    const owd = r.json.aggregate.audio?.oneWayMs;
    expect(owd?.count).toBeGreaterThan(100);
    // Loopback in one process: well under a second, and not negative.
    expect(owd!.p50).toBeGreaterThanOrEqual(0);
    expect(owd!.p50).toBeLessThan(500);
    expect(r.json.clock.note).toMatch(/one clock/);
  }, 120_000);

  it('--channels audio across processes says why there is no one-way delay', async () => {
    const r = await runJson<Bench>(['bench', '--peers', '2', '--procs', '2', '--duration', '1', '--warmup', '0', '--channels', 'audio'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(0);
    expect(r.json.aggregate.audio?.oneWayMs).toBeUndefined();
    expect(r.json.clock.note).toMatch(/without a data channel/);
    // Each connection side says why too (what `rtcprobe peer --json` prints per connection).
    const sides = (r.json as unknown as { perConnection: { audio?: { packetsReceived: number; oneWayMs?: unknown; oneWayUnknown?: string } }[] }).perConnection;
    expect(sides.length).toBe(2);
    for (const c of sides) {
      expect(c.audio!.packetsReceived).toBeGreaterThan(10);
      expect(c.audio!.oneWayMs).toBeUndefined();
      expect(c.audio!.oneWayUnknown).toMatch(/another process/);
    }
  }, 120_000);
});
