import { describe, expect, it } from 'vitest';
import { buildRtp, demux, isRtcp, parseRtp, rtcpPacketType, type DemuxCounts } from '../../../src/core/mcu/rtp.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
// V=2, PT 0, seq 0x1234, ts 0x00000a0b, SSRC 0xdeadbeef, payload 01 02 03.
const basic = '8000 1234 00000a0b deadbeef 010203';

describe('RTP fixed header', () => {
  it('parses a minimal packet', () => {
    const r = parseRtp(hex(basic));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packet).toMatchObject({ padding: false, marker: false, payloadType: 0, seq: 0x1234, timestamp: 0xa0b, ssrc: 0xdeadbeef, csrcs: [], payloadOffset: 12 });
    expect([...r.packet.payload]).toEqual([1, 2, 3]);
  });

  it('parses marker, CSRCs, an extension and padding', () => {
    // V=2 P=1 X=1 CC=2; M=1 PT=111; ext profile 0xbede, 1 word; payload aa bb; padding 3 (00 00 03).
    const r = parseRtp(hex('b2ef 0001 ffffffff 00000001 00000002 00000003 bede0001 11223344 aabb 000003'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packet).toMatchObject({ padding: true, marker: true, payloadType: 111, seq: 1, timestamp: 0xffffffff, ssrc: 1, csrcs: [2, 3], payloadOffset: 28 });
    expect(r.packet.extension?.profile).toBe(0xbede);
    expect([...r.packet.extension!.data]).toEqual([0x11, 0x22, 0x33, 0x44]);
    expect([...r.packet.payload]).toEqual([0xaa, 0xbb]);
  });

  it.each([
    ['empty', '', 'short'],
    ['11 bytes', '8000 1234 00000a0b deadbe', 'short'],
    ['version 1', '4000 1234 00000a0b deadbeef', 'version'],
    ['version 0', '0000 1234 00000a0b deadbeef', 'version'],
    ['version 3', 'c000 1234 00000a0b deadbeef', 'version'],
    ['CC=2 with one CSRC', '8200 1234 00000a0b deadbeef 00000001', 'csrc'],
    ['CC=15 with none', '8f00 1234 00000a0b deadbeef', 'csrc'],
    ['X without extension header', '9000 1234 00000a0b deadbeef bede', 'extension'],
    ['extension longer than the packet', '9000 1234 00000a0b deadbeef bede0002 00000000', 'extension'],
    ['padding count 0', 'a000 1234 00000a0b deadbeef 0100', 'padding'],
    ['padding longer than the payload', 'a000 1234 00000a0b deadbeef 0005', 'padding'],
  ])('rejects %s as %s', (_name, bytes, reason) => {
    expect(parseRtp(hex(bytes))).toEqual({ ok: false, reason });
  });

  it('accepts padding that takes the whole payload', () => {
    const r = parseRtp(hex('a000 1234 00000a0b deadbeef 00000004'));
    expect(r.ok && r.packet.payload.length).toBe(0);
  });

  it('build then parse round-trips', () => {
    const payload = Uint8Array.from([9, 8, 7]);
    const h = { marker: true, payloadType: 96, seq: 65535, timestamp: 0xfffffff0, ssrc: 0x80000001, csrcs: [7], extension: { profile: 0x1000, data: Uint8Array.from([1, 2, 3, 4]) } };
    const r = parseRtp(buildRtp(h, payload));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.packet).toMatchObject({ marker: true, payloadType: 96, seq: 65535, timestamp: 0xfffffff0, ssrc: 0x80000001, csrcs: [7] });
    expect([...r.packet.payload]).toEqual([9, 8, 7]);
    expect([...buildRtp({ marker: false, payloadType: 0, seq: 0x1234, timestamp: 0xa0b, ssrc: 0xdeadbeef }, Uint8Array.from([1, 2, 3]))]).toEqual([...hex(basic)]);
    expect(() => buildRtp({ ...h, payloadType: 128 }, payload)).toThrow(RangeError);
    expect(() => buildRtp({ ...h, csrcs: new Array(16).fill(0) }, payload)).toThrow(RangeError);
  });
});

describe('RTP/RTCP demultiplexing (RFC 5761)', () => {
  it.each([
    [191, false], [192, true], [200, true], [201, true], [205, true], [206, true], [223, true], [224, false], [0, false], [96, false], [0x80 | 111, false],
  ])('second byte %i → RTCP %s', (b1, rtcp) => {
    expect(isRtcp(Uint8Array.from([0x80, b1, 0, 1]))).toBe(rtcp);
  });

  it('reads the RTCP packet type, and not from a non-v2 packet', () => {
    expect(rtcpPacketType(hex('81c9 0007 deadbeef'))).toBe(201);
    expect(rtcpPacketType(hex('41c9 0007 deadbeef'))).toBeUndefined();
  });

  it('counts rtp, rtcp and malformed', () => {
    const counts: DemuxCounts = { rtp: 0, rtcp: 0, malformed: 0 };
    for (const p of [basic, '81c8 0006 deadbeef', '80c8', '4000 1234 00000a0b deadbeef', 'a000 1234 00000a0b deadbeef 0005', basic]) demux(hex(p), counts);
    expect(counts).toEqual({ rtp: 2, rtcp: 1, malformed: 3 });
  });
});
