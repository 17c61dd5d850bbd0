import { randomBytes } from 'node:crypto';
import { StunDecodeError } from '../errors.js';
import {
  Attr,
  ATTRIBUTE_HEADER_LENGTH,
  FINGERPRINT_LENGTH,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  MAX_MESSAGE_LENGTH,
  MESSAGE_INTEGRITY_LENGTH,
  StunClass,
  TRANSACTION_ID_LENGTH,
} from './constants.js';

/** One attribute as it sits in a decoded message. */
export interface RawAttribute {
  type: number;
  /** The value, without padding. A view into the message bytes. */
  value: Buffer;
  /** Offset of the attribute header inside the message. */
  offset: number;
}

export interface StunMessage {
  method: number;
  cls: StunClass;
  transactionId: Buffer;
  attributes: RawAttribute[];
  /** The exact bytes the message was decoded from (or encoded to). */
  raw: Buffer;
}

/** RFC 8489 §5: the 14 method bits are interleaved with the 2 class bits. */
export function messageType(method: number, cls: StunClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 0b01) << 4) |
    ((cls & 0b10) << 7)
  );
}

export function splitMessageType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = (((type & 0x0010) >> 4) | ((type & 0x0100) >> 7)) as StunClass;
  return { method, cls };
}

export function newTransactionId(): Buffer {
  return randomBytes(TRANSACTION_ID_LENGTH);
}

/**
 * Decode one STUN message that must span the whole buffer (a datagram, or a
 * frame cut out of a stream by {@link stunFrameLength}). Never returns a
 * partial result: anything malformed throws a {@link StunDecodeError}.
 */
export function decodeMessage(buf: Buffer): StunMessage {
  if (buf.length < HEADER_LENGTH) {
    throw new StunDecodeError('truncated-header', `${buf.length} bytes, a header needs ${HEADER_LENGTH}`);
  }
  if (buf.length > MAX_MESSAGE_LENGTH) {
    throw new StunDecodeError('too-large', `${buf.length} bytes exceeds ${MAX_MESSAGE_LENGTH}`);
  }
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) {
    throw new StunDecodeError('not-stun', `first two bits are ${type >> 14}, must be 0`);
  }
  const length = buf.readUInt16BE(2);
  if (length % 4 !== 0) {
    throw new StunDecodeError('bad-length', `message length ${length} is not a multiple of 4`);
  }
  if (HEADER_LENGTH + length !== buf.length) {
    throw new StunDecodeError(
      'bad-length',
      `header says ${length} bytes of attributes, ${buf.length - HEADER_LENGTH} present`,
    );
  }
  const cookie = buf.readUInt32BE(4);
  if (cookie !== MAGIC_COOKIE) {
    throw new StunDecodeError('bad-cookie', `magic cookie 0x${cookie.toString(16).padStart(8, '0')}`);
  }
  const { method, cls } = splitMessageType(type);
  const attributes: RawAttribute[] = [];
  let offset = HEADER_LENGTH;
  while (offset < buf.length) {
    if (offset + ATTRIBUTE_HEADER_LENGTH > buf.length) {
      throw new StunDecodeError('attribute-overflow', `attribute header at ${offset} runs past the end`);
    }
    const atype = buf.readUInt16BE(offset);
    const alen = buf.readUInt16BE(offset + 2);
    const start = offset + ATTRIBUTE_HEADER_LENGTH;
    const padded = (alen + 3) & ~3;
    if (start + padded > buf.length) {
      throw new StunDecodeError(
        'attribute-overflow',
        `attribute 0x${atype.toString(16)} at ${offset} claims ${alen} bytes, ${buf.length - start} left`,
      );
    }
    attributes.push({ type: atype, value: buf.subarray(start, start + alen), offset });
    offset = start + padded;
  }
  checkTrailerOrder(attributes);
  return { method, cls, transactionId: buf.subarray(8, 20), attributes, raw: buf };
}

/** RFC 8489 §14.5/§14.7: FINGERPRINT is last; the sizes of both trailers are fixed. */
function checkTrailerOrder(attrs: RawAttribute[]): void {
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs[i]!;
    if (a.type === Attr.Fingerprint) {
      if (i !== attrs.length - 1) throw new StunDecodeError('bad-attribute', 'FINGERPRINT is not the last attribute');
      if (a.value.length !== FINGERPRINT_LENGTH) throw new StunDecodeError('bad-attribute', 'FINGERPRINT length is not 4');
    }
    if (a.type === Attr.MessageIntegrity && a.value.length !== MESSAGE_INTEGRITY_LENGTH) {
      throw new StunDecodeError('bad-attribute', 'MESSAGE-INTEGRITY length is not 20');
    }
  }
}

/**
 * First attribute of a type, honouring RFC 8489 §14.5: attributes that follow
 * MESSAGE-INTEGRITY (other than FINGERPRINT and MESSAGE-INTEGRITY-SHA256) are ignored.
 */
export function getAttribute(msg: StunMessage, type: number): RawAttribute | undefined {
  for (const a of msg.attributes) {
    if (a.type === type) return a;
    if (a.type === Attr.MessageIntegrity && type !== Attr.Fingerprint && type !== Attr.MessageIntegritySha256) {
      return undefined;
    }
  }
  return undefined;
}

/**
 * For stream transports: how many bytes the message at the head of `buf`
 * occupies, or `undefined` when the header is not complete yet.
 * Throws when the head is not a STUN header.
 */
export function stunFrameLength(buf: Buffer): number | undefined {
  if (buf.length < 4) return undefined;
  if ((buf[0]! & 0xc0) !== 0) throw new StunDecodeError('not-stun', 'stream does not start with a STUN header');
  return HEADER_LENGTH + buf.readUInt16BE(2);
}

export interface AttributeInput {
  type: number;
  value: Buffer;
}

export interface EncodeInput {
  method: number;
  cls: StunClass;
  transactionId?: Buffer;
  attributes?: AttributeInput[];
}

/** Encode a message without integrity or fingerprint. Padding bytes are zero. */
export function encodeMessage(input: EncodeInput): Buffer {
  const tid = input.transactionId ?? newTransactionId();
  if (tid.length !== TRANSACTION_ID_LENGTH) throw new RangeError('transaction ID must be 12 bytes');
  const attrs = input.attributes ?? [];
  let bodyLength = 0;
  for (const a of attrs) {
    if (a.value.length > 0xffff) throw new RangeError(`attribute 0x${a.type.toString(16)} too long`);
    bodyLength += ATTRIBUTE_HEADER_LENGTH + ((a.value.length + 3) & ~3);
  }
  if (bodyLength > 0xffff) throw new RangeError('message too long');
  const buf = Buffer.alloc(HEADER_LENGTH + bodyLength);
  buf.writeUInt16BE(messageType(input.method, input.cls), 0);
  buf.writeUInt16BE(bodyLength, 2);
  buf.writeUInt32BE(MAGIC_COOKIE, 4);
  tid.copy(buf, 8);
  let off = HEADER_LENGTH;
  for (const a of attrs) {
    buf.writeUInt16BE(a.type, off);
    buf.writeUInt16BE(a.value.length, off + 2);
    a.value.copy(buf, off + 4);
    off += ATTRIBUTE_HEADER_LENGTH + ((a.value.length + 3) & ~3);
  }
  return buf;
}
