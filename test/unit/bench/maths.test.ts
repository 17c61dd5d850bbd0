import { describe, expect, it } from 'vitest';
import {
  PROBE_HEADER_BYTES, decodeProbe, encodeProbe, markEcho, type ProbeHeader,
} from '../../../src/core/bench/probe.js';
import { Reservoir, mulberry32, summarizeExact } from '../../../src/core/bench/summary.js';
import { estimateOffset, exchangeSample } from '../../../src/core/bench/clock.js';
import { ReceiveTracker } from '../../../src/core/bench/tracker.js';
import { connectBreakdown, mark, type ConnectMarks } from '../../../src/core/bench/connect.js';

describe('probe header', () => {
  const base: ProbeHeader = { kind: 'probe', echo: false, streamId: 7, seq: 42, sentUs: 123_456_789, sentWallMs: 1_795_000_000_123, echoRecvUs: 0, echoSendUs: 0 };

  it.each([
    ['probe', base],
    ['audio, max u32 ids', { ...base, kind: 'audio', streamId: 0xffffffff, seq: 0xffffffff }],
    ['video echo', { ...base, kind: 'video', echo: true, echoRecvUs: 5, echoSendUs: 9 }],
    ['bulk, zero times', { ...base, kind: 'bulk', sentUs: 0, sentWallMs: 0 }],
  ] as const)('round-trips %s', (_name, h) => {
    const buf = encodeProbe(h as ProbeHeader, 100);
    expect(buf.length).toBe(100);
    expect(decodeProbe(buf)).toEqual(h);
  });

  it('has the documented byte layout', () => {
    const buf = encodeProbe({ ...base, kind: 'video', echo: true, streamId: 0x01020304, seq: 0x0a0b0c0d, sentUs: 0x1122, sentWallMs: 0x3344, echoRecvUs: 0x55, echoSendUs: 0x66 });
    expect(buf.length).toBe(PROBE_HEADER_BYTES);
    expect(buf.subarray(0, 4).toString('latin1')).toBe('RPRB');
    expect([...buf.subarray(4, 8)]).toEqual([1, 2, 1, 0]);
    expect(buf.readUInt32BE(8)).toBe(0x01020304);
    expect(buf.readUInt32BE(12)).toBe(0x0a0b0c0d);
    expect(buf.readBigUInt64BE(16)).toBe(0x1122n);
    expect(buf.readBigUInt64BE(24)).toBe(0x3344n);
    expect(buf.readBigUInt64BE(32)).toBe(0x55n);
    expect(buf.readBigUInt64BE(40)).toBe(0x66n);
  });

  it.each([
    ['too short', Buffer.alloc(47)],
    ['wrong magic', Buffer.concat([Buffer.from('XXXX'), Buffer.alloc(44)])],
    ['wrong version', (() => { const b = encodeProbe(base); b[4] = 2; return b; })()],
    ['unknown kind', (() => { const b = encodeProbe(base); b[5] = 9; return b; })()],
  ])('rejects %s', (_n, buf) => {
    expect(decodeProbe(buf)).toBeUndefined();
  });

  it('marks an echo in place', () => {
    const buf = encodeProbe(base, 64);
    markEcho(buf, 1000, 1010);
    expect(decodeProbe(buf)).toEqual({ ...base, echo: true, echoRecvUs: 1000, echoSendUs: 1010 });
  });
});

describe('summaries', () => {
  it.each([
    [[5], { min: 5, p50: 5, p95: 5, p99: 5, max: 5, mean: 5 }],
    [[3, 1, 2], { min: 1, p50: 2, p95: 3, p99: 3, max: 3, mean: 2 }],
    [Array.from({ length: 100 }, (_, i) => 100 - i), { min: 1, p50: 50, p95: 95, p99: 99, max: 100, mean: 50.5 }],
  ])('exact summary of %j', (values, want) => {
    expect(summarizeExact(values)).toEqual({ ...want, count: values.length, exact: true });
  });

  it('has no summary without samples', () => {
    expect(summarizeExact([])).toBeUndefined();
    expect(new Reservoir(10).summary()).toBeUndefined();
  });

  it('a reservoir is exact until full, then an estimate with exact count/min/max', () => {
    const r = new Reservoir(1000, 42);
    for (let i = 1; i <= 1000; i++) r.add(i);
    expect(r.summary()).toMatchObject({ count: 1000, p50: 500, exact: true });
    const rng = mulberry32(7);
    const big = new Reservoir(2000, 3);
    const all: number[] = [];
    for (let i = 0; i < 100_000; i++) {
      const v = rng() * 100;
      all.push(v);
      big.add(v);
    }
    const s = big.summary()!;
    const exact = summarizeExact(all)!;
    expect(s.exact).toBe(false);
    expect(s.count).toBe(100_000);
    expect(s.min).toBe(exact.min);
    expect(s.max).toBe(exact.max);
    expect(Math.abs(s.p50 - exact.p50)).toBeLessThan(4);
    expect(Math.abs(s.p95 - exact.p95)).toBeLessThan(2);
  });
});

describe('clock offset', () => {
  it.each([
    // remote = local + 100, symmetric 10 ms each way, 1 ms processing
    [{ t1: 0, t2: 110, t3: 111, t4: 21 }, { offset: 100, rtt: 20 }],
    // asymmetric path: 5 ms out, 15 back: the estimate is off by (5-15)/2 = -5, within rtt/2
    [{ t1: 0, t2: 105, t3: 105, t4: 20 }, { offset: 95, rtt: 20 }],
    // remote behind local
    [{ t1: 1000, t2: 502, t3: 503, t4: 1005 }, { offset: -500, rtt: 4 }],
  ])('one exchange %j', (e, want) => {
    expect(exchangeSample(e)).toEqual(want);
  });

  it('keeps the min-RTT exchanges (seeded noise)', () => {
    const rng = mulberry32(11);
    const trueOffset = -2500;
    const ex = Array.from({ length: 200 }, (_, i) => {
      const t1 = i * 50;
      const up = 2 + rng() * (i % 10 === 0 ? 1 : 40); // queueing delay, occasionally none
      const down = 2 + rng() * (i % 10 === 0 ? 1 : 40);
      const t2 = t1 + up + trueOffset;
      const t3 = t2 + 0.5;
      const t4 = t3 - trueOffset + down;
      return { t1, t2, t3, t4 };
    });
    const est = estimateOffset(ex, 3)!;
    expect(est.used).toBe(3);
    expect(est.total).toBe(200);
    expect(est.minRtt).toBeGreaterThanOrEqual(4);
    expect(est.minRtt).toBeLessThan(6);
    expect(Math.abs(est.offset - trueOffset)).toBeLessThanOrEqual(est.uncertainty);
    expect(est.uncertainty).toBeLessThan(4);
  });

  it('no estimate without usable exchanges', () => {
    expect(estimateOffset([])).toBeUndefined();
    expect(estimateOffset([{ t1: 10, t2: 0, t3: 100, t4: 11 }])).toBeUndefined(); // negative RTT
  });
});

describe('receive tracker', () => {
  const run = (seqs: number[], o: ConstructorParameters<typeof ReceiveTracker>[0] = {}) => {
    const t = new ReceiveTracker(o);
    seqs.forEach((seq, i) => t.add({ seq, arrivalMs: i }));
    return t.report();
  };

  it.each([
    ['in order', [1, 2, 3, 4, 5], { received: 5, expected: 5, lost: 0, reordered: 0, duplicates: 0 }],
    ['one lost', [1, 2, 4, 5], { received: 4, expected: 5, lost: 1, reordered: 0, duplicates: 0 }],
    ['reordered', [1, 3, 2, 4], { received: 4, expected: 4, lost: 0, reordered: 1, duplicates: 0 }],
    ['duplicate', [1, 2, 2, 3], { received: 3, expected: 3, lost: 0, reordered: 0, duplicates: 1 }],
    ['late duplicate', [1, 2, 3, 2], { received: 3, expected: 3, lost: 0, reordered: 0, duplicates: 1 }],
    ['wrap 16 bit', [65534, 65535, 0, 1], { received: 4, expected: 4, lost: 0, reordered: 0, duplicates: 0 }],
    ['wrap with loss and reorder', [65533, 65535, 1, 0, 2], { received: 5, expected: 6, lost: 1, reordered: 1, duplicates: 0 }],
    ['reorder across the wrap', [65534, 0, 65535, 1], { received: 4, expected: 4, lost: 0, reordered: 1, duplicates: 0 }],
    ['empty', [], { received: 0, expected: 0, lost: 0, reordered: 0, duplicates: 0 }],
  ])('%s', (_n, seqs, want) => {
    expect(run(seqs)).toMatchObject(want);
  });

  it('counts a jump beyond the dropout as out of range', () => {
    expect(run([1, 2, 30000, 3])).toMatchObject({ received: 3, expected: 3, outOfRange: 1 });
  });

  it('extends 32-bit probe sequence numbers', () => {
    expect(run([0xfffffffe, 0xffffffff, 0, 1], { seqModulo: 2 ** 32 })).toMatchObject({ received: 4, expected: 4, lost: 0 });
  });

  it.each([
    // Constant transit: jitter 0.
    ['constant delay', [0, 20, 40, 60], [0, 160, 320, 480], 0],
    // One packet 5 ms late then back: D = 5 ms (40 units) twice: J = 40/16 = 2.5, then 2.5 + (40-2.5)/16.
    ['one late packet', [0, 20, 45, 60], [0, 160, 320, 480], ((40 / 16 + (40 - 40 / 16) / 16) * 1000) / 8000],
  ])('RFC 3550 jitter: %s', (_n, arrivals, stamps, wantMs) => {
    const t = new ReceiveTracker({ clockRate: 8000 });
    arrivals.forEach((a, i) => t.add({ seq: i, arrivalMs: a + 1000, rtpTimestamp: stamps[i]! }));
    const r = t.report();
    expect(r.jitterMs).toBeCloseTo(wantMs as number, 9);
  });

  it('matches a reference A.8 loop on seeded data', () => {
    const rng = mulberry32(5);
    const t = new ReceiveTracker({ clockRate: 90000 });
    let J = 0;
    let last: number | undefined;
    for (let i = 0; i < 500; i++) {
      const ts = i * 3000; // 30 fps
      const arr = i * (1000 / 30) + 20 + rng() * 8;
      t.add({ seq: i, arrivalMs: arr, rtpTimestamp: ts });
      const transit = arr * 90 - ts;
      if (last !== undefined) J += (Math.abs(transit - last) - J) / 16;
      last = transit;
    }
    expect(t.jitterUnits).toBeCloseTo(J, 6);
    expect(t.report().jitterMs).toBeCloseTo(J / 90, 9);
  });

  it('reports no jitter and no delay from silence', () => {
    const t = new ReceiveTracker();
    t.add({ seq: 1, arrivalMs: 5, rtpTimestamp: 0, sentMs: 1 });
    const r = t.report();
    expect(r.jitterMs).toBeUndefined();
    expect(r.oneWayDelayMs).toBeUndefined(); // no offset known
  });

  it('one-way delay uses the clock offset', () => {
    const t = new ReceiveTracker();
    t.offsetMs = 1000; // remote clock is 1 s ahead
    [3, 5, 4].forEach((d, i) => t.add({ seq: i, arrivalMs: 100 + i * 10 + d, sentMs: 1100 + i * 10 }));
    expect(t.report().oneWayDelayMs).toMatchObject({ count: 3, min: 3, p50: 4, max: 5 });
  });
});

describe('connect breakdown', () => {
  it('reports phases whose both ends were seen', () => {
    const m: ConnectMarks = {};
    mark(m, 'start', 100);
    mark(m, 'joined', 110);
    mark(m, 'offerSent', 120);
    mark(m, 'iceGatheringComplete', 125);
    mark(m, 'answerReceived', 140);
    mark(m, 'answerReceived', 999); // first observation wins
    mark(m, 'iceConnected', 150);
    mark(m, 'dtlsConnected', 170);
    mark(m, 'dataChannelOpen', 175);
    const b = connectBreakdown(m);
    expect(b).toEqual({
      join: 10, offerToAnswer: 20, iceGathering: 25, iceConnected: 10, dtlsConnected: 20, dataChannelOpen: 5,
      sinceStart: { start: 0, joined: 10, offerSent: 20, answerReceived: 40, iceGatheringComplete: 25, iceConnected: 50, dtlsConnected: 70, dataChannelOpen: 75 },
    });
    expect(b.firstRtp).toBeUndefined();
  });

  it('has no figures without marks', () => {
    expect(connectBreakdown({})).toEqual({ sinceStart: {} });
  });
});
