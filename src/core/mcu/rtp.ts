/**
 * The RTP fixed header (RFC 3550 §5.1) and the RTP/RTCP demultiplexing rule
 * of RFC 5761 §4. Pure.
 *
 *   0                   1                   2                   3
 *   V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   timestamp (32) | SSRC (32) | CSRC list (CC × 32)
 *   [extension: profile (16), length in 32-bit words (16), data]
 *   payload [padding, its last byte = padding length]
 *
 * parseRtp validates what a receiver needs to find the payload: length,
 * version 2, room for the CSRC list and the extension, a padding count that
 * is at least 1 and fits. A packet failing any of these is malformed.
 */

export interface RtpHeader {
  padding: boolean;
  marker: boolean;
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  /** Extension profile and data, when the X bit is set. */
  extension?: { profile: number; data: Uint8Array };
}

export interface RtpPacket extends RtpHeader {
  /** Offset of the payload in the packet. */
  payloadOffset: number;
  /** The payload, without padding (a view into the packet). */
  payload: Uint8Array;
}

export type MalformedReason = 'short' | 'version' | 'csrc' | 'extension' | 'padding';

export type ParseResult = { ok: true; packet: RtpPacket } | { ok: false; reason: MalformedReason };

export const RTP_HEADER_BYTES = 12;

/**
 * RFC 5761 §4: with RTP and RTCP on one port, a packet whose second byte is
 * 192..223 (RTCP packet types SR 200, RR 201, SDES, BYE, APP, RTPFB 205,
 * PSFB 206, XR 207 ...; as RTP that would be M=1 and PT 64..95) is RTCP.
 */
export function isRtcp(buf: Uint8Array): boolean {
  return buf.length >= 2 && (buf[0]! >> 6) === 2 && buf[1]! >= 192 && buf[1]! <= 223;
}

/** The RTCP packet type of the first packet of a compound, or undefined when not RTCP. */
export function rtcpPacketType(buf: Uint8Array): number | undefined {
  return isRtcp(buf) && buf.length >= 4 ? buf[1]! : undefined;
}

const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

export function parseRtp(buf: Uint8Array): ParseResult {
  if (buf.length < RTP_HEADER_BYTES) return { ok: false, reason: 'short' };
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return { ok: false, reason: 'version' };
  const padding = (b0 & 0x20) !== 0;
  const hasExt = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  let off = RTP_HEADER_BYTES + cc * 4;
  if (buf.length < off) return { ok: false, reason: 'csrc' };
  const csrcs: number[] = [];
  for (let i = 0; i < cc; i++) csrcs.push(u32(buf, RTP_HEADER_BYTES + i * 4));
  let extension: RtpHeader['extension'];
  if (hasExt) {
    if (buf.length < off + 4) return { ok: false, reason: 'extension' };
    const words = u16(buf, off + 2);
    const end = off + 4 + words * 4;
    if (buf.length < end) return { ok: false, reason: 'extension' };
    extension = { profile: u16(buf, off), data: buf.subarray(off + 4, end) };
    off = end;
  }
  let end = buf.length;
  if (padding) {
    const pad = buf[buf.length - 1]!;
    if (pad === 0 || off + pad > buf.length) return { ok: false, reason: 'padding' };
    end -= pad;
  }
  const packet: RtpPacket = {
    padding,
    marker: (buf[1]! & 0x80) !== 0,
    payloadType: buf[1]! & 0x7f,
    seq: u16(buf, 2),
    timestamp: u32(buf, 4),
    ssrc: u32(buf, 8),
    csrcs,
    payloadOffset: off,
    payload: buf.subarray(off, end),
  };
  if (extension) packet.extension = extension;
  return { ok: true, packet };
}

/** Build a packet: header (with CSRCs and extension when given) then the payload, no padding. */
export function buildRtp(h: Omit<RtpHeader, 'padding' | 'csrcs'> & { csrcs?: number[] }, payload: Uint8Array): Uint8Array {
  const csrcs = h.csrcs ?? [];
  if (csrcs.length > 15) throw new RangeError(`at most 15 CSRCs, got ${csrcs.length}`);
  if (h.payloadType < 0 || h.payloadType > 127) throw new RangeError(`payload type ${h.payloadType} out of 0..127`);
  const ext = h.extension;
  if (ext && ext.data.length % 4 !== 0) throw new RangeError('extension data must be a multiple of 4 bytes');
  const extBytes = ext ? 4 + ext.data.length : 0;
  const out = new Uint8Array(RTP_HEADER_BYTES + csrcs.length * 4 + extBytes + payload.length);
  const dv = new DataView(out.buffer);
  out[0] = 0x80 | (ext ? 0x10 : 0) | csrcs.length;
  out[1] = (h.marker ? 0x80 : 0) | h.payloadType;
  dv.setUint16(2, h.seq & 0xffff);
  dv.setUint32(4, h.timestamp >>> 0);
  dv.setUint32(8, h.ssrc >>> 0);
  let off = RTP_HEADER_BYTES;
  for (const c of csrcs) {
    dv.setUint32(off, c >>> 0);
    off += 4;
  }
  if (ext) {
    dv.setUint16(off, ext.profile);
    dv.setUint16(off + 2, ext.data.length / 4);
    out.set(ext.data, off + 4);
    off += extBytes;
  }
  out.set(payload, off);
  return out;
}

/** Counts of what a receive loop saw, for reports. */
export interface DemuxCounts {
  rtp: number;
  rtcp: number;
  malformed: number;
}

/** Classify one datagram, counting it; returns the parsed RTP packet when it is one. */
export function demux(buf: Uint8Array, counts: DemuxCounts): { rtcp: true } | { rtcp: false; packet: RtpPacket } | undefined {
  if (isRtcp(buf)) {
    if (buf.length < 4) {
      counts.malformed++;
      return undefined;
    }
    counts.rtcp++;
    return { rtcp: true };
  }
  const r = parseRtp(buf);
  if (!r.ok) {
    counts.malformed++;
    return undefined;
  }
  counts.rtp++;
  return { rtcp: false, packet: r.packet };
}
