import { describe, expect, it } from 'vitest';
import { aggregate, checkSlos, nominalBps, parseSlo, SloParseError, uploadReport, verdictLine, type ConnSide } from '../../../src/core/bench/report.js';
import { cdfPoints, renderBenchHtml, renderOneWay } from '../../../src/core/bench/render.js';

describe('SLO parser', () => {
  it('parses times and ratios into base units', () => {
    expect(parseSlo('dc.rtt.p99<50ms,rtp.loss<1%')).toEqual([
      { text: 'dc.rtt.p99<50ms', metric: 'dc.rtt.p99', op: '<', threshold: 50 },
      { text: 'rtp.loss<1%', metric: 'rtp.loss', op: '<', threshold: 0.01 },
    ]);
    expect(parseSlo(' connect.max <= 2s ')[0]).toMatchObject({ op: '<=', threshold: 2000 });
    expect(parseSlo('dc.rtt.p50<500us')[0]!.threshold).toBeCloseTo(0.5);
    expect(parseSlo('audio.loss<0.02')[0]!.threshold).toBe(0.02);
  });

  it.each([
    ['', /empty rule/],
    ['dc.rtt.p99', /is not metric<value/],
    ['nope.p99<5ms', /unknown metric "nope.p99"/],
    ['dc.rtt.p99<5%', /is a time/],
    ['rtp.loss<5ms', /is a ratio/],
    ['rtp.loss<2', /above 1/],
    ['dc.rtt.p99<50ms,', /empty rule/],
  ])('refuses %j', (text, re) => {
    expect(() => parseSlo(text)).toThrow(SloParseError);
    expect(() => parseSlo(text)).toThrow(re);
  });
});

const side = (peerId: string, remote: string, rtt: number, sent: number): ConnSide => ({
  peerId, remote, role: peerId < remote ? 'offerer' : 'answerer', state: 'up', windowMs: 1000, bytes: { sent, received: sent },
  pair: { local: 'host', remote: 'host' },
  connectMs: { sinceStart: { start: 0, dataChannelOpen: 200 }, iceConnected: 3 },
  dc: {
    reliable: { sent: 10, echoed: 10, lossRatio: 0, rttMs: { count: 1, min: rtt, p50: rtt, p95: rtt, p99: rtt, max: rtt, mean: rtt, exact: true }, received: { received: 10, expected: 10, lost: 0, lossRatio: 0, reordered: 0, duplicates: 0, outOfRange: 0 } },
    unreliable: { sent: 10, echoed: 9, lossRatio: 0.1, received: { received: 10, expected: 10, lost: 0, lossRatio: 0, reordered: 0, duplicates: 0, outOfRange: 0 } },
  },
  audio: { packetsReceived: 48, stream: { received: 48, expected: 50, lost: 2, lossRatio: 0.04, reordered: 0, duplicates: 0, jitterMs: 0.5, outOfRange: 0 } },
});

describe('aggregate, SLOs, upload, verdict', () => {
  const sides = [side('a', 'b', 1, 1000), side('b', 'a', 2, 1000), side('a', 'c', 3, 1000), side('c', 'a', 4, 1000), side('b', 'c', 5, 1000), side('c', 'b', 6, 1000)];
  const raw = { rtt: { reliable: [1, 2, 3, 4, 5, 6], unreliable: [] }, forward: { reliable: [], unreliable: [] }, backward: { reliable: [], unreliable: [] }, audioOwd: [], videoOwd: [] };
  const a = aggregate(sides, raw);

  it('merges the raw samples and the counters', () => {
    expect(a.dc!.reliable.rttMs).toMatchObject({ count: 6, min: 1, max: 6 });
    expect(a.dc!.unreliable.rttMs).toBeUndefined();
    expect(a.dc!.unreliable).toMatchObject({ sent: 60, echoed: 54 });
    expect(a.audio).toMatchObject({ expected: 300, lost: 12, lossRatio: 0.04, jitterMs: { mean: 0.5, max: 0.5 } });
    expect(a.pairs).toEqual({ 'host/host': 6 });
    expect(a.connectMs.total).toMatchObject({ count: 6, p50: 200 });
  });

  it('checks SLOs; a metric the run did not measure is a breach', () => {
    const r = checkSlos(parseSlo('dc.rtt.p99<10ms,audio.loss<1%,video.loss<1%'), a);
    expect(r.map((x) => x.ok)).toEqual([true, false, false]);
    expect(r[1]!.value).toBeCloseTo(0.04);
    expect(r[2]!.value).toBeUndefined();
  });

  it('upload per peer is (N-1) times one connection', () => {
    const u = uploadReport(sides, 3, { channels: ['data', 'audio'], dataRate: 50, dataSize: 200, videoKbps: 500 });
    expect(u.peers.map((p) => p.connections)).toEqual([2, 2, 2]);
    expect(u.perPeerBps).toBe(2000);
    expect(u.perConnectionBps).toBe(1000);
    expect(u.ratio).toBe(2);
    expect(u.expectedRatio).toBe(2);
    expect(nominalBps({ channels: ['data', 'audio'], dataRate: 50, dataSize: 200, videoKbps: 500 })).toBe(4 * 50 * 200 + 8000);
  });

  it('the verdict says what came up and names breached SLOs', () => {
    const slos = checkSlos(parseSlo('audio.loss<1%'), a);
    expect(verdictLine({ topology: 'mesh', peers: 3, expected: 3, up: 3, failed: 0, partial: false }, a, slos)).toBe('mesh, 3 peers: all 3 connections up; DC RTT p99 6.00 ms; audio loss 4.00%; SLO breached: audio.loss<1%');
    expect(verdictLine({ topology: 'mesh', peers: 2, expected: 1, up: 1, failed: 0, partial: false }, a)).toMatch(/^mesh, 2 peers: the connection is up;/);
    expect(verdictLine({ topology: 'mesh', peers: 3, expected: 3, up: 2, failed: 1, partial: true }, a)).toMatch(/^mesh, 3 peers: 2 of 3 connections up, 1 failed;.*interrupted/);
  });

  it('CDF points end at 1 and the HTML page makes no request', () => {
    const pts = cdfPoints([3, 1, 2]);
    expect(pts[0]).toEqual([1, 0.3333]);
    expect(pts[pts.length - 1]).toEqual([3, 1]);
    const html = renderBenchHtml(
      { verdict: 'v <b>', ok: true, partial: false, topology: 'mesh', peers: 3, windowMs: 1000, connections: { expected: 3, up: 3, failed: 0, failures: [] }, aggregate: a, upload: uploadReport(sides, 3, { channels: ['data'], dataRate: 1, dataSize: 48, videoKbps: 1 }), clock: { note: 'n' }, processes: [], perConnection: sides },
      { rtt: [1, 2, 3] },
    );
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<(link|img|iframe)\b|src=/i);
    expect(html).toContain('v &lt;b&gt;');
  });
});

describe('renderOneWay: the one-way line of a connection side (rtcprobe peer)', () => {
  const sum = (p50: number, p99: number) => ({ count: 10, min: p50, p50, p95: p99, p99, max: p99, mean: p50, exact: true });
  const base = side('a', 'b', 1, 1000);
  it('DC forward/backward and RTP p50/p99 on the estimated offset, with its uncertainty', () => {
    const c: ConnSide = {
      ...base,
      dc: { ...base.dc!, reliable: { ...base.dc!.reliable, forwardMs: sum(0.5, 1.25), backwardMs: sum(0.75, 12.5) }, clock: { offsetMs: -1.7, uncertaintyMs: 0.3, exchanges: 40 } },
      audio: { ...base.audio!, oneWayMs: sum(0.8, 3) },
      video: { ...base.audio!, oneWayMs: sum(1, 4) },
    };
    expect(renderOneWay(c)).toBe('one-way p50/p99 ms: DC forward 0.50/1.25, DC backward 0.75/12.5, audio 0.80/3.00, video 1.00/4.00 (remote clock offset −1.70 ± 0.30 ms, from 40 DC round trips)');
  });
  it('one process: offset 0 exactly, no uncertainty', () => {
    const c: ConnSide = { ...base, sameClock: true, audio: { ...base.audio!, oneWayMs: sum(0.4, 2) } };
    expect(renderOneWay(c)).toBe('one-way p50/p99 ms: audio 0.40/2.00 (one clock: the sender runs in this process)');
  });
  it('unknown, and why', () => {
    const why = 'the senders run in another process (own clock) and without a data channel (--channels data) there are no round trips to estimate the clock offset from';
    const { dc: _dc, ...noDc } = base;
    expect(renderOneWay({ ...noDc, audio: { ...base.audio!, oneWayUnknown: why } })).toBe(`one-way delay unknown: ${why}`);
    expect(renderOneWay({ ...base, audio: undefined })).toMatch(/^one-way delay unknown: .*no data-channel echo came back yet/);
    expect(renderOneWay({ ...base, sameClock: true, audio: undefined })).toBe('one-way delay: nothing measured yet');
    expect(renderOneWay({ peerId: 'a', remote: 'b', role: 'offerer', state: 'failed', windowMs: 0, bytes: { sent: 0, received: 0 } })).toBeUndefined();
  });
});
