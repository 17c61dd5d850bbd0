/**
 * Framing of STUN and TURN over TCP/TLS: a stream carries STUN messages
 * (RFC 8489 §6.2.2) and, toward a TURN server, ChannelData messages padded
 * to 4 bytes (RFC 8656 §12.5). The stream channel applies this framer.
 */
import type { Framer } from '../net/channel.js';
import { stunFrameLength } from './message.js';

/** Frame length at the head of a STUN/TURN byte stream (see `Framer`). */
export function streamFrameLength(buf: Buffer): number | undefined {
  if (buf.length < 4) return undefined;
  if ((buf[0]! & 0xc0) === 0x40) return 4 + ((buf.readUInt16BE(2) + 3) & ~3);
  return stunFrameLength(buf);
}

export const STUN_STREAM_FRAMER: Framer = { frameLength: streamFrameLength };
