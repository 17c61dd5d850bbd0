import { describe, expect, it } from 'vitest';
import { dcThroughput, limitLine, weriftLimit, type DcThroughput } from '../../../src/core/bench/throughput.js';
import type { ConnectionReport } from '../../../src/core/bench/report.js';

const rx = { received: 0, expected: 0, lost: 0, lossRatio: 0, reordered: 0, duplicates: 0, outOfRange: 0 };
const side = (sent: number, echoed: number, state: ConnectionReport['state'] = 'up'): ConnectionReport => ({
  peerId: 'a', remote: 'b', role: 'offerer', state, windowMs: 2300, bytes: { sent: 0, received: 0 },
  dc: { reliable: { sent, echoed, lossRatio: sent ? (sent - echoed) / sent : 0, received: rx }, unreliable: { sent, echoed, lossRatio: 0, received: rx } },
});
const traffic = { dataRate: 50, dataSize: 200 };

describe('dcThroughput', () => {
  it('echoed reliable probes x size per second of sending, mean and lowest over the sides that were up', () => {
    const t = dcThroughput([side(100, 100), side(100, 80), side(100, 0, 'failed')], traffic, 2000)!;
    expect(t).toEqual({ offeredBps: 10_000, sentBps: 10_000, reliableBps: 9_000, minReliableBps: 8_000, sides: 2 });
  });

  it('gives no figure when nothing was measured (never 0 from silence)', () => {
    expect(dcThroughput([], traffic, 2000)).toBeUndefined();
    expect(dcThroughput([side(0, 0)], traffic, 2000)).toBeUndefined();
    expect(dcThroughput([side(100, 100, 'failed')], traffic, 2000)).toBeUndefined();
    expect(dcThroughput([side(100, 100)], traffic, 0)).toBeUndefined();
  });
});

const t = (sentBps: number, reliableBps: number): DcThroughput => ({ offeredBps: 10_000, sentBps, reliableBps, minReliableBps: reliableBps, sides: 2 });

describe('weriftLimit', () => {
  it('none: the offered rate went through and the process had CPU to spare', () => {
    const v = weriftLimit({ throughput: t(10_000, 9_950), windowCpuMs: 500, windowMs: 2000, localPath: true });
    expect(v).toEqual({ limit: 'none', cpuShare: 0.25, reasons: [] });
    expect(limitLine(t(10_000, 9_950), v)).toBe('data channel: 9.9 kB/s per reliable channel and direction (offered 10.0 kB/s, lowest side 9.9 kB/s); the offered rate went through, process CPU 25% of a core');
  });

  it('werift: a saturated process, whatever the path and even when the rate went through', () => {
    const v = weriftLimit({ throughput: t(10_000, 10_000), windowCpuMs: 1900, windowMs: 2000, localPath: false });
    expect(v.limit).toBe('werift');
    expect(v.reasons).toEqual(['the process running the peers used 95% of a core during the window']);
    expect(limitLine(t(10_000, 10_000), v)).toMatch(/limited by werift in this process, not the network: the process running the peers used 95% of a core/);
  });

  it('werift: on a local path a shortfall (sending or echoes) is not the link', () => {
    const send = weriftLimit({ throughput: t(5_000, 5_000), windowCpuMs: 800, windowMs: 2000, localPath: true });
    expect(send.limit).toBe('werift');
    expect(send.reasons).toEqual(['the senders handed over 50% of the offered rate', 'the path is local, so the link had capacity to spare']);
    const echo = weriftLimit({ throughput: t(10_000, 2_000), windowMs: 2000, localPath: true });
    expect(echo.limit).toBe('werift');
    expect(echo.reasons[0]).toBe('20% of what was sent came back within the window');
  });

  it('unknown: a shortfall over a real network without a saturated process', () => {
    const v = weriftLimit({ throughput: t(10_000, 2_000), windowCpuMs: 200, windowMs: 2000, localPath: false });
    expect(v.limit).toBe('unknown');
    expect(limitLine(t(10_000, 2_000), v)).toMatch(/limit not attributed: .*the network or werift, not told apart/);
  });

  it('unknown without a throughput figure; the CPU threshold is inclusive at 90%', () => {
    expect(weriftLimit({ windowMs: 2000, localPath: true })).toEqual({ limit: 'unknown', reasons: ['no reliable data channel was measured'] });
    expect(weriftLimit({ throughput: t(10_000, 10_000), windowCpuMs: 1800, windowMs: 2000, localPath: true }).limit).toBe('werift');
    expect(weriftLimit({ throughput: t(10_000, 10_000), windowCpuMs: 1790, windowMs: 2000, localPath: true }).limit).toBe('none');
  });
});
