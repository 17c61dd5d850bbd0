/**
 * Structural checks of decrypted RTP and RTCP, before anything is parsed or
 * forwarded (RFC 3550 §5.1, §6.4; RFC 5761 for the RTCP type range). Pure.
 * Each returns undefined when the packet is well formed, else the reason.
 */

export function rtpProblem(b: Uint8Array): string | undefined {
  if (b.length < 12) return 'shorter than an RTP header';
  const v = b[0]!;
  if (v >> 6 !== 2) return `version ${v >> 6}`;
  let off = 12 + (v & 0x0f) * 4;
  if (off > b.length) return 'CSRC list past the end';
  if (v & 0x10) {
    if (off + 4 > b.length) return 'extension header past the end';
    const words = (b[off + 2]! << 8) | b[off + 3]!;
    off += 4 + words * 4;
    if (off > b.length) return 'extension past the end';
  }
  if (v & 0x20) {
    const pad = b[b.length - 1]!;
    if (pad === 0 || off + pad > b.length) return 'bad padding length';
  }
  return undefined;
}

export function rtcpProblem(b: Uint8Array): string | undefined {
  if (b.length < 8) return 'shorter than an RTCP header';
  let off = 0;
  while (off < b.length) {
    if (off + 4 > b.length) return 'truncated header';
    const v = b[off]!;
    if (v >> 6 !== 2) return `version ${v >> 6}`;
    const type = b[off + 1]!;
    if (type < 192 || type > 223) return `packet type ${type}`;
    const len = 4 + ((b[off + 2]! << 8) | b[off + 3]!) * 4;
    if (off + len > b.length) return 'length past the end';
    const count = v & 0x1f;
    // Sender report: ssrc + 20 bytes of sender info + 24 per report block; receiver report: ssrc + 24 per block.
    if (type === 200 && len < 28 + count * 24) return 'sender report shorter than its blocks';
    if (type === 201 && len < 8 + count * 24) return 'receiver report shorter than its blocks';
    if ((type === 205 || type === 206) && len < 12) return 'feedback shorter than its SSRCs';
    if (v & 0x20) {
      if (off + len !== b.length) return 'padding before the last packet';
      const pad = b[off + len - 1]!;
      if (pad === 0 || pad > len - 4) return 'bad padding length';
    }
    off += len;
  }
  return undefined;
}
