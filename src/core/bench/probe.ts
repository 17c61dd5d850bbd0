/**
 * The probe header carried at the start of every benchmark payload (data
 * channel message or RTP payload). Big-endian, 48 bytes:
 *
 *   offset size field
 *   0      4    magic "RPRB" (0x52 0x50 0x52 0x42)
 *   4      1    version (1)
 *   5      1    kind: 0 probe, 1 audio, 2 video, 3 bulk
 *   6      1    flags: bit 0 = echo (the message comes back from the echoer)
 *   7      1    reserved (0)
 *   8      4    stream id (u32)
 *   12     4    sequence number (u32, no wrap within a run)
 *   16     8    send time, µs, sender's monotonic clock (u64)
 *   24     8    send time, ms, sender's wall clock (u64, Unix epoch)
 *   32     8    echoer's receive time, µs, echoer's monotonic clock (0 unless echo)
 *   40     8    echoer's send time, µs, echoer's monotonic clock (0 unless echo)
 *   48     ...  padding up to the requested payload size (zeros)
 *
 * The two echo fields give the four timestamps of an NTP-style exchange
 * (see clock.ts). Times are integers; the encoder rounds.
 */

export const PROBE_MAGIC = 0x52505242; // "RPRB"
export const PROBE_VERSION = 1;
export const PROBE_HEADER_BYTES = 48;
export const FLAG_ECHO = 0x01;

export const PROBE_KINDS = ['probe', 'audio', 'video', 'bulk'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

export interface ProbeHeader {
  kind: ProbeKind;
  echo: boolean;
  streamId: number;
  seq: number;
  /** Sender's monotonic clock, µs. */
  sentUs: number;
  /** Sender's wall clock, ms since the Unix epoch. */
  sentWallMs: number;
  /** Echoer's monotonic clock at reception, µs (0 unless echo). */
  echoRecvUs: number;
  /** Echoer's monotonic clock when sending back, µs (0 unless echo). */
  echoSendUs: number;
}

const u64 = (n: number): bigint => BigInt(Math.max(0, Math.round(n)));

/** Encode a header, padded with zeros to `size` bytes (at least the header). */
export function encodeProbe(h: ProbeHeader, size = PROBE_HEADER_BYTES): Buffer {
  const buf = Buffer.alloc(Math.max(PROBE_HEADER_BYTES, size));
  writeProbe(buf, h);
  return buf;
}

/** Write a header into the first 48 bytes of `buf`. */
export function writeProbe(buf: Buffer, h: ProbeHeader): void {
  if (buf.length < PROBE_HEADER_BYTES) throw new RangeError(`a probe needs ${PROBE_HEADER_BYTES} bytes, got ${buf.length}`);
  const kind = PROBE_KINDS.indexOf(h.kind);
  if (kind < 0) throw new RangeError(`unknown probe kind ${String(h.kind)}`);
  buf.writeUInt32BE(PROBE_MAGIC, 0);
  buf.writeUInt8(PROBE_VERSION, 4);
  buf.writeUInt8(kind, 5);
  buf.writeUInt8(h.echo ? FLAG_ECHO : 0, 6);
  buf.writeUInt8(0, 7);
  buf.writeUInt32BE(h.streamId >>> 0, 8);
  buf.writeUInt32BE(h.seq >>> 0, 12);
  buf.writeBigUInt64BE(u64(h.sentUs), 16);
  buf.writeBigUInt64BE(u64(h.sentWallMs), 24);
  buf.writeBigUInt64BE(u64(h.echoRecvUs), 32);
  buf.writeBigUInt64BE(u64(h.echoSendUs), 40);
}

/** Decode a header; undefined when the bytes are not a probe (short, wrong magic or version). */
export function decodeProbe(buf: Uint8Array): ProbeHeader | undefined {
  if (buf.length < PROBE_HEADER_BYTES) return undefined;
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.readUInt32BE(0) !== PROBE_MAGIC || b.readUInt8(4) !== PROBE_VERSION) return undefined;
  const kind = PROBE_KINDS[b.readUInt8(5)];
  if (!kind) return undefined;
  return {
    kind,
    echo: (b.readUInt8(6) & FLAG_ECHO) !== 0,
    streamId: b.readUInt32BE(8),
    seq: b.readUInt32BE(12),
    sentUs: Number(b.readBigUInt64BE(16)),
    sentWallMs: Number(b.readBigUInt64BE(24)),
    echoRecvUs: Number(b.readBigUInt64BE(32)),
    echoSendUs: Number(b.readBigUInt64BE(40)),
  };
}

/**
 * Turn a received probe into its echo in place: set the echo flag and the
 * echoer's receive and send times (µs, echoer's monotonic clock).
 */
export function markEcho(buf: Buffer, recvUs: number, sendUs: number): void {
  buf.writeUInt8(buf.readUInt8(6) | FLAG_ECHO, 6);
  buf.writeBigUInt64BE(u64(recvUs), 32);
  buf.writeBigUInt64BE(u64(sendUs), 40);
}
