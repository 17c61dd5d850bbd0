import { describe, expect, it } from 'vitest';
import { mediaSections } from '../../../src/core/sfu/sdp.js';
import { routeDataMessage } from '../../../src/core/sfu/datachannel.js';
import { RateLimit } from '../../../src/core/sfu/rate.js';
import { rtcpProblem, rtpProblem } from '../../../src/core/sfu/packet-check.js';
import { SfuRouter } from '../../../src/core/sfu/router.js';
import { SourceTrackers } from '../../../src/core/bench/sources.js';
import { decodeProbe, encodeProbe } from '../../../src/core/bench/probe.js';

const SDP = [
  'v=0', 'o=- 1 1 IN IP4 0.0.0.0', 's=-', 't=0 0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 0 111', 'a=mid:0', 'a=sendrecv', 'a=rtpmap:111 opus/48000/2', 'a=ssrc:1111 cname:x', 'a=ssrc:1111 msid:a b',
  'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', 'a=sendrecv', 'a=rtpmap:96 VP8/90000', 'a=ssrc:2222 cname:x',
  'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=mid:2', '',
].join('\r\n');

describe('sfu pure parts', () => {
  it('reads kinds, SSRCs and codecs from SDP (static PT 0 without rtpmap is PCMU)', () => {
    const s = mediaSections(SDP);
    expect(s.map((m) => [m.kind, m.mid, m.ssrc, m.payloadTypes, m.direction])).toEqual([['audio', '0', 1111, [0, 111], 'sendrecv'], ['video', '1', 2222, [96], 'sendrecv']]);
    expect(s[0]!.codecs.get(0)).toBe('pcmu/8000');
    expect(s[0]!.codecs.get(111)).toBe('opus/48000');
    expect(s[1]!.codecs.get(96)).toBe('vp8/90000');
  });

  it('routes probes with the source in the stream id, echoes back to their source only, other messages to all', () => {
    const probe = encodeProbe({ kind: 'probe', echo: false, streamId: 1, seq: 7, sentUs: 1, sentWallMs: 1, echoRecvUs: 0, echoSendUs: 0 }, 64);
    expect(routeDataMessage(probe, 3)).toEqual({ to: 'all' });
    expect(decodeProbe(probe)!.streamId).toBe(3);
    const echo = encodeProbe({ kind: 'probe', echo: true, streamId: 3, seq: 7, sentUs: 1, sentWallMs: 1, echoRecvUs: 2, echoSendUs: 3 }, 64);
    expect(routeDataMessage(echo, 5)).toEqual({ to: 'one', source: 3 });
    expect(decodeProbe(echo)!.streamId).toBe(5);
    const text = Buffer.from('hello, room');
    expect(routeDataMessage(text, 2)).toEqual({ to: 'all' });
    expect(text.toString()).toBe('hello, room');
  });

  it('limits a byte rate with a burst', () => {
    const r = new RateLimit(1000, 500);
    expect(r.take(500, 0)).toBe(true);
    expect(r.take(1, 0)).toBe(false);
    expect(r.take(100, 100)).toBe(true); // 100 ms refill 100 bytes
    expect(r.take(1, 100)).toBe(false);
    expect(r.take(500, 10_000)).toBe(true); // capped at the burst
    expect(r.take(1, 10_000)).toBe(false);
  });

  it('finds malformed RTP', () => {
    const ok = Buffer.alloc(20);
    ok[0] = 0x80;
    expect(rtpProblem(ok)).toBeUndefined();
    expect(rtpProblem(ok.subarray(0, 11))).toMatch(/shorter/);
    expect(rtpProblem(Buffer.from([0x40, ...Buffer.alloc(19)]))).toMatch(/version 1/);
    const cc = Buffer.from(ok);
    cc[0] = 0x8f; // 15 CSRCs do not fit
    expect(rtpProblem(cc)).toMatch(/CSRC/);
    const ext = Buffer.from(ok);
    ext[0] = 0x90;
    ext[14] = 0;
    ext[15] = 9; // 9 words of extension do not fit
    expect(rtpProblem(ext)).toMatch(/extension/);
    const pad = Buffer.from(ok);
    pad[0] = 0xa0;
    pad[19] = 30;
    expect(rtpProblem(pad)).toMatch(/padding/);
  });

  it('finds malformed RTCP', () => {
    const rr = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
    expect(rtcpProblem(rr)).toBeUndefined();
    expect(rtcpProblem(Buffer.concat([rr, rr]))).toBeUndefined();
    expect(rtcpProblem(Buffer.from([0x80, 201, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0]))).toMatch(/past the end/);
    expect(rtcpProblem(Buffer.from([0x81, 201, 0, 1, 0, 0, 0, 1]))).toMatch(/blocks/);
    expect(rtcpProblem(Buffer.from([0x80, 99, 0, 1, 0, 0, 0, 1]))).toMatch(/type/);
    expect(rtcpProblem(Buffer.from([0x40, 201, 0, 1, 0, 0, 0, 1]))).toMatch(/version/);
    expect(rtcpProblem(Buffer.from([0x80, 206, 0, 1, 0, 0, 0, 1]))).toMatch(/feedback/);
  });

  it('router: sender-report targets and track lookup', () => {
    const r = new SfuRouter();
    r.join('a', { payloadTypes: { 'pcmu/8000': 0 } });
    r.join('b', { payloadTypes: { 'pcmu/8000': 0 }, localSsrcs: [42] });
    r.publish('a', { trackId: 'audio', kind: 'audio', ssrc: 42, codec: 'PCMU/8000', payloadType: 0 });
    const [t] = r.subscribersOf('a', 42);
    expect(t!.subscriber).toBe('b');
    expect(t!.ssrc).not.toBe(42); // b sends with 42 itself: rewritten for b
    expect(r.feedback('b', t!.ssrc)).toEqual({ publisher: 'a', ssrc: 42 });
    expect(r.source('a', 42)?.payloadType).toBe(0);
    expect(r.source('a', 43)).toBeUndefined();
  });

  it('sums receive statistics over sources; one source reports as itself', () => {
    const one = new SourceTrackers({});
    for (const seq of [1, 2, 4]) one.add(9, { seq, arrivalMs: seq });
    expect(one.report()).toMatchObject({ received: 3, expected: 4, lost: 1 });
    const two = new SourceTrackers({});
    for (const seq of [1, 2, 4]) two.add(1, { seq, arrivalMs: seq });
    for (const seq of [100, 101]) two.add(2, { seq, arrivalMs: seq });
    expect(two.size).toBe(2);
    expect(two.report()).toMatchObject({ received: 5, expected: 6, lost: 1 });
  });
});
