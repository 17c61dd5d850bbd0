// `rtcprobe bench --topology sfu` (the built CLI): an SFU process started for
// the run, one connection per peer, upload ≈ one stream and download ≈ N−1.
import { describe, expect, it } from 'vitest';
import { runJson } from '../helpers/cli.js';

interface Bench {
  ok: boolean;
  verdict: string;
  topology: string;
  connections: { expected: number; up: number };
  aggregate: { audio?: { lossRatio: number }; video?: { lossRatio: number } };
  upload: { perPeerBps: number; downloadPerPeerBps: number; expectedRatio: number; peers: { connections: number; sendBps: number; receiveBps: number }[] };
  server: { role: string; pid: number; cpuMs: number; maxRssBytes: number; forwardedPackets: number; drops: Record<string, number> };
  processes: { role: string; cpuMs: number }[];
  perConnection: { remote: string; audio?: { sources?: number } }[];
}

describe('rtcprobe bench --topology sfu', () => {
  it('runs 3 peers through an SFU process: 3 connections, download ≈ 2 × upload, server CPU and RSS reported', async () => {
    const r = await runJson<Bench>(['bench', '--topology', 'sfu', '--peers', '3', '--duration', '2', '--warmup', '1', '--channels', 'audio,video', '--json'], { timeout: 90_000 });
    expect(r.code).toBe(0);
    const j = r.json;
    expect(j.topology).toBe('sfu');
    expect(j.verdict).toMatch(/^sfu, 3 peers: all 3 connections up/);
    expect(j.connections).toMatchObject({ expected: 3, up: 3 });
    expect(j.perConnection.map((c) => c.remote)).toEqual(['zz-sfu', 'zz-sfu', 'zz-sfu']);
    expect(j.perConnection.every((c) => c.audio?.sources === 2)).toBe(true);
    expect(j.upload.expectedRatio).toBe(1);
    // Download is the two other peers' streams: 2× the upload, ±25% (RTCP, timers on a loaded machine).
    for (const p of j.upload.peers) {
      expect(p.connections).toBe(1);
      expect(p.receiveBps / p.sendBps).toBeGreaterThan(1.5);
      expect(p.receiveBps / p.sendBps).toBeLessThan(2.5);
    }
    expect(j.upload.downloadPerPeerBps / j.upload.perPeerBps).toBeGreaterThan(1.5);
    expect(j.aggregate.audio!.lossRatio).toBeLessThan(0.05);
    expect(j.server).toMatchObject({ role: 'sfu', drops: {} });
    expect(j.server.cpuMs).toBeGreaterThan(0);
    expect(j.server.maxRssBytes).toBeGreaterThan(10e6);
    expect(j.server.forwardedPackets).toBeGreaterThan(500);
    expect(j.processes.map((p) => p.role)).toEqual(['bench', 'sfu']);
  }, 120_000);
});
