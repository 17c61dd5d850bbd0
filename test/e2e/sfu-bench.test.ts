// `rtcprobe bench --topology sfu` (the built CLI): an SFU process started for
// the run, one connection per peer, upload ≈ one stream and download ≈ N−1.
import { describe, expect, it } from 'vitest';
import { runCli, runJson, why } from '../helpers/cli.js';
import { jsonLines } from '../helpers/json-lines.js';

interface Bench {
  ok: boolean;
  verdict: string;
  topology: string;
  connections: { expected: number; up: number };
  aggregate: { audio?: { lossRatio: number }; video?: { lossRatio: number } };
  upload: { perPeerBps: number; downloadPerPeerBps: number; expectedRatio: number; peers: { connections: number; sendBps: number; receiveBps: number }[] };
  server?: { role: string; pid: number; cpuMs: number; maxRssBytes: number; forwardedPackets: number; drops: Record<string, number> };
  processes: { role: string; cpuMs: number }[];
  perConnection: { remote: string; audio?: { sources?: number } }[];
}

describe('rtcprobe bench --topology sfu', () => {
  it('runs 3 peers through an SFU process: 3 connections, download ≈ 2 × upload, server CPU and RSS reported', async () => {
    const r = await runJson<Bench>(['bench', '--topology', 'sfu', '--peers', '3', '--duration', '2', '--warmup', '1', '--channels', 'audio,video', '--json'], { timeout: 90_000 });
    expect(r.code, why(r)).toBe(0);
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
    expect(j.server!.cpuMs).toBeGreaterThan(0);
    expect(j.server!.maxRssBytes).toBeGreaterThan(10e6);
    expect(j.server!.forwardedPackets).toBeGreaterThan(500);
    expect(j.processes.map((p) => p.role)).toEqual(['bench', 'sfu']);
  }, 120_000);
});

describe('rtcprobe bench --topology sfu --server', () => {
  it('uses an SFU that has already joined the room: one connection per peer, to it; no SFU started', async () => {
    const { spawn } = await import('node:child_process');
    const { SignalRelay } = await import('../../src/core/signaling/server.js');
    const { BIN } = await import('../helpers/cli.js');
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    const room = `ext-sfu-${process.pid}`;
    const sfu = spawn(process.execPath, [BIN, 'sfu', 'serve', '--signal', addr.ws, '--room', room, '--peer-id', 'ext-sfu', '--loopback', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise((res) => sfu.once('exit', res));
    try {
      await jsonLines(sfu).next((j) => j.event === 'listening', 20_000);
      const r = await runJson<Bench>(['bench', '--topology', 'sfu', '--peers', '3', '--duration', '2', '--warmup', '1', '--channels', 'audio', '--server', `${addr.ws}#${room}`], { timeout: 90_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.verdict).toMatch(/^sfu, 3 peers: all 3 connections up/);
      expect(r.json.perConnection.map((c) => c.remote)).toEqual(['ext-sfu', 'ext-sfu', 'ext-sfu']);
      expect(r.json.perConnection.every((c) => c.audio?.sources === 2)).toBe(true);
      expect(r.json.server).toBeUndefined();
      expect(r.json.processes.map((p) => p.role)).toEqual(['bench']);
      // Download: the two other peers' streams (±25 %).
      expect(r.json.upload.downloadPerPeerBps / r.json.upload.perPeerBps).toBeGreaterThan(1.5);
      expect(r.json.upload.downloadPerPeerBps / r.json.upload.perPeerBps).toBeLessThan(2.5);
    } finally {
      sfu.kill('SIGTERM');
      await exited;
      await relay.close('test over');
    }
  }, 120_000);

  it('refuses a room without an SFU rather than measuring a mesh', async () => {
    const { SignalRelay } = await import('../../src/core/signaling/server.js');
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    try {
      const r = await runCli(['bench', '--topology', 'sfu', '--peers', '2', '--duration', '1', '--server', `${addr.ws}#empty-${process.pid}`]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/no SFU in room "empty-\d+"/);
    } finally {
      await relay.close('test over');
    }
  }, 60_000);
});
