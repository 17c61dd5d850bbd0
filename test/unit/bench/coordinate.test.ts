import { describe, expect, it } from 'vitest';
import { ReportAssembler, isCoordMessage, splitReport, windowSkewBoundMs, type PeerProcessReport } from '../../../src/core/bench/coordinate.js';

const report = (samples: number): PeerProcessReport => ({
  peerIds: ['p000', 'p001'],
  host: 'h1',
  process: { role: 'peer', pid: 42, peers: 2, cpuMs: 10, maxRssBytes: 1e8 },
  failures: [],
  connections: [{
    peerId: 'p000', remote: 'p001', role: 'offerer', state: 'up', windowMs: 1000, bytes: { sent: 1, received: 2 },
    raw: {
      rtt: { reliable: Array.from({ length: samples }, (_, i) => 1 + i / 7), unreliable: [] },
      forward: { reliable: [], unreliable: [] }, backward: { reliable: [], unreliable: [] }, audioOwd: [0.1234567], videoOwd: [],
    },
  }],
});

describe('coordination messages', () => {
  it('a large report is cut into parts that fit a relay frame and comes back whole, in any order, duplicates ignored', () => {
    const r = report(20_000);
    const parts = splitReport('run1', r, 24_000);
    expect(parts.length).toBeGreaterThan(3);
    for (const p of parts) {
      expect(isCoordMessage(p)).toBe(true);
      // Inside a relay `signal` frame, escaped, it stays under the 64 KiB limit.
      expect(JSON.stringify({ type: 'signal', to: 'coordinator-x', data: p }).length).toBeLessThan(60_000);
    }
    const a = new ReportAssembler();
    const shuffled = [...parts].reverse();
    for (const [i, p] of shuffled.entries()) {
      expect(a.add(p as Extract<typeof p, { type: 'report' }>)).toBe(i === shuffled.length - 1);
      if (i === 0) a.add(p as Extract<typeof p, { type: 'report' }>);
    }
    const back = a.done()!;
    expect(back.peerIds).toEqual(['p000', 'p001']);
    // Samples rounded to microseconds.
    expect(back.connections[0]!.raw!.rtt.reliable).toHaveLength(20_000);
    expect(back.connections[0]!.raw!.rtt.reliable[1]).toBe(1.143);
    expect(back.connections[0]!.raw!.audioOwd).toEqual([0.123]);
  });

  it('an incomplete report is not given out', () => {
    const parts = splitReport('r', report(10_000), 10_000);
    const a = new ReportAssembler();
    a.add(parts[0] as Extract<(typeof parts)[0], { type: 'report' }>);
    expect(a.done()).toBeUndefined();
    expect(a.received).toEqual({ parts: 1, of: parts.length });
  });

  it('validation refuses foreign or malformed messages', () => {
    expect(isCoordMessage({ rtcprobe: 'sdp', type: 'offer', sdp: '' })).toBe(false);
    expect(isCoordMessage({ rtcprobe: 'bench', type: 'window', run: 'r' })).toBe(false);
    expect(isCoordMessage({ rtcprobe: 'bench', type: 'report', run: 'r', part: 2, parts: 2, text: '' })).toBe(false);
    expect(isCoordMessage({ rtcprobe: 'bench', type: 'status', up: 1, connecting: 0, failed: 0, peers: ['a'] })).toBe(true);
    expect(isCoordMessage({ rtcprobe: 'bench', type: 'start', run: 'r', warmupMs: -1, durationMs: 5 })).toBe(false);
  });

  it('the window skew bound is the largest window→ack round trip', () => {
    expect(windowSkewBoundMs(100, [101.5, 103, 102])).toBe(3);
    expect(windowSkewBoundMs(100, [])).toBeUndefined();
  });
});
