import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import {
  Attr,
  ATTRIBUTE_HEADER_LENGTH,
  FINGERPRINT_LENGTH,
  FINGERPRINT_XOR,
  HEADER_LENGTH,
  MESSAGE_INTEGRITY_LENGTH,
} from './constants.js';
import type { StunMessage } from './message.js';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309 / ITU-T V.42), as RFC 8489 §14.7 requires. */
export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// RFC 3454 table B.1 ("commonly mapped to nothing") and C.1.2 (non-ASCII spaces).
const MAPPED_TO_NOTHING = /[\u00ad\u034f\u1806\u180b-\u180d\u200b-\u200d\u2060\ufe00-\ufe0f\ufeff]/g;
const NON_ASCII_SPACE = /[\u00a0\u1680\u2000-\u200b\u202f\u205f\u3000]/g;

/**
 * SASLprep (RFC 4013) mapping and normalisation, as RFC 5389 §15.4 applies it
 * to passwords. The prohibited-output and bidi checks are not applied: the
 * key is only ever compared by the server, which does its own checking.
 */
export function saslprep(s: string): string {
  return s.replace(MAPPED_TO_NOTHING, '').replace(NON_ASCII_SPACE, ' ').normalize('NFKC');
}

/** RFC 8489 §9.1.2: the short-term key is the SASLprep'd password itself. */
export function shortTermKey(password: string): Buffer {
  return Buffer.from(saslprep(password), 'utf8');
}

/** RFC 8489 §9.2.2: long-term key = MD5(username ":" realm ":" SASLprep(password)). */
export function longTermKey(username: string, realm: string, password: string): Buffer {
  return createHash('md5').update(`${username}:${realm}:${saslprep(password)}`, 'utf8').digest();
}

function withLength(buf: Buffer, length: number): Buffer {
  const copy = Buffer.from(buf);
  copy.writeUInt16BE(length, 2);
  return copy;
}

/** Append MESSAGE-INTEGRITY (RFC 8489 §14.5) to an encoded message. */
export function appendIntegrity(message: Buffer, key: Buffer): Buffer {
  const attrLen = ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_LENGTH;
  const head = withLength(message, message.length - HEADER_LENGTH + attrLen);
  const mac = createHmac('sha1', key).update(head).digest();
  const attr = Buffer.alloc(attrLen);
  attr.writeUInt16BE(Attr.MessageIntegrity, 0);
  attr.writeUInt16BE(MESSAGE_INTEGRITY_LENGTH, 2);
  mac.copy(attr, 4);
  return Buffer.concat([head, attr]);
}

/** Append FINGERPRINT (RFC 8489 §14.7) to an encoded message. */
export function appendFingerprint(message: Buffer): Buffer {
  const attrLen = ATTRIBUTE_HEADER_LENGTH + FINGERPRINT_LENGTH;
  const head = withLength(message, message.length - HEADER_LENGTH + attrLen);
  const attr = Buffer.alloc(attrLen);
  attr.writeUInt16BE(Attr.Fingerprint, 0);
  attr.writeUInt16BE(FINGERPRINT_LENGTH, 2);
  attr.writeUInt32BE((crc32(head) ^ FINGERPRINT_XOR) >>> 0, 4);
  return Buffer.concat([head, attr]);
}

export type CheckResult = 'ok' | 'missing' | 'mismatch';

/** Check MESSAGE-INTEGRITY over the exact received bytes. */
export function verifyIntegrity(msg: StunMessage, key: Buffer): CheckResult {
  const attr = msg.attributes.find((a) => a.type === Attr.MessageIntegrity);
  if (!attr) return 'missing';
  // The length field covers everything up to and including MESSAGE-INTEGRITY.
  const covered = attr.offset + ATTRIBUTE_HEADER_LENGTH + MESSAGE_INTEGRITY_LENGTH - HEADER_LENGTH;
  const head = withLength(msg.raw.subarray(0, attr.offset), covered);
  const mac = createHmac('sha1', key).update(head).digest();
  return timingSafeEqual(mac, attr.value) ? 'ok' : 'mismatch';
}

/** Check FINGERPRINT, which the decoder already forced to be last. */
export function verifyFingerprint(msg: StunMessage): CheckResult {
  const attr = msg.attributes[msg.attributes.length - 1];
  if (!attr || attr.type !== Attr.Fingerprint) return 'missing';
  const expected = (crc32(msg.raw.subarray(0, attr.offset)) ^ FINGERPRINT_XOR) >>> 0;
  return attr.value.readUInt32BE(0) === expected ? 'ok' : 'mismatch';
}
