import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RtcprobeError, StunDecodeError } from '../../../src/core/errors.js';
import { decodeAddress, decodeErrorCode, decodeXorAddress, readErrorCode } from '../../../src/core/stun/attributes.js';
import { Attr } from '../../../src/core/stun/constants.js';
import { verifyFingerprint, verifyIntegrity } from '../../../src/core/stun/integrity.js';
import { decodeMessage, encodeMessage, getAttribute } from '../../../src/core/stun/message.js';
import { rng } from '../../helpers/rng.js';

const { vectors } = JSON.parse(readFileSync(new URL('../../../fixtures/rfc5769/vectors.json', import.meta.url), 'utf8')) as { vectors: { hex: string }[] };
const seeds = vectors.map((v) => Buffer.from(v.hex, 'hex'));


function mutate(src: Buffer, r: () => number): Buffer {
  let b = Buffer.from(src);
  const ops = 1 + Math.floor(r() * 4);
  for (let i = 0; i < ops; i++) {
    const op = Math.floor(r() * 7);
    const pos = Math.floor(r() * Math.max(1, b.length));
    switch (op) {
      case 0: b[pos] = Math.floor(r() * 256); break; // random byte
      case 1: b[pos] = b[pos]! ^ (1 << Math.floor(r() * 8)); break; // bit flip
      case 2: b = b.subarray(0, pos); break; // truncate
      case 3: b = Buffer.concat([b, Buffer.from(Array.from({ length: Math.floor(r() * 9) }, () => Math.floor(r() * 256)))]); break;
      case 4: if (b.length >= 4) b.writeUInt16BE(Math.floor(r() * 0x10000), 2); break; // message length
      case 5: { // an attribute length
        const at = 20 + 4 * Math.floor(r() * Math.max(1, (b.length - 20) / 4));
        if (at + 4 <= b.length) b.writeUInt16BE(Math.floor(r() * 0x200), at + 2);
        break;
      }
      default: { // fix the message length so deeper paths are reached
        if (b.length >= 20) b.writeUInt16BE((b.length - 20) & 0xffff, 2);
      }
    }
  }
  return b;
}

/** Everything a consumer might do with a decoded message; must only ever throw typed errors. */
function exercise(msg: ReturnType<typeof decodeMessage>): void {
  verifyFingerprint(msg);
  verifyIntegrity(msg, Buffer.from('key'));
  readErrorCode(msg);
  for (const a of msg.attributes) {
    if (a.type === Attr.XorMappedAddress) decodeXorAddress(a.type, a.value, msg.transactionId);
    if (a.type === Attr.MappedAddress) decodeAddress(a.type, a.value);
    if (a.type === Attr.ErrorCode) decodeErrorCode(a.value);
    getAttribute(msg, a.type);
  }
}

describe('decoder under malformed input', () => {
  const header = Buffer.from('000100002112a442000102030405060708090a0b', 'hex');
  it.each([
    ['empty', Buffer.alloc(0), 'truncated-header'],
    ['truncated header', header.subarray(0, 19), 'truncated-header'],
    ['first bits set (not STUN)', Buffer.from('c00100002112a442000102030405060708090a0b', 'hex'), 'not-stun'],
    ['length not a multiple of 4', Buffer.from('000100022112a442000102030405060708090a0b0000', 'hex'), 'bad-length'],
    ['length larger than data', Buffer.from('000100082112a442000102030405060708090a0b', 'hex'), 'bad-length'],
    ['bad cookie (RFC 3489)', Buffer.from('000100002112a443000102030405060708090a0b', 'hex'), 'bad-cookie'],
    ['attribute overflow', Buffer.from('000100082112a442000102030405060708090a0b8022000800000000', 'hex'), 'attribute-overflow'],
    ['FINGERPRINT not last', Buffer.concat([Buffer.from('000100102112a442000102030405060708090a0b', 'hex'), Buffer.from('80280004000000008022000100000000', 'hex')]), 'bad-attribute'],
    ['garbage', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 'not-stun'],
  ])('%s gives a typed decode error', (_name, buf, reason) => {
    expect(() => decodeMessage(buf)).toThrow(StunDecodeError);
    expect(() => decodeMessage(buf)).toThrow(expect.objectContaining({ reason, code: 'STUN_DECODE' }));
  });

  it('an empty-bodied valid header decodes', () => {
    expect(decodeMessage(header).attributes).toEqual([]);
  });

  it('thousands of seeded mutations of the RFC 5769 messages never crash the decoder', () => {
    const seed = Number(process.env.FUZZ_SEED ?? 5769);
    const r = rng(seed);
    const stats = { decoded: 0, rejected: 0 };
    const extraSeeds = [encodeMessage({ method: 3, cls: 0, attributes: [{ type: Attr.Data, value: Buffer.alloc(33, 7) }] })];
    const all = [...seeds, ...extraSeeds];
    for (let i = 0; i < 20000; i++) {
      const input = mutate(all[i % all.length]!, r);
      try {
        exercise(decodeMessage(input));
        stats.decoded++;
      } catch (err) {
        // Only our typed errors are acceptable; anything else (RangeError from a
        // Buffer read, TypeError) is a bug and fails here with the seed and input.
        if (!(err instanceof RtcprobeError)) {
          throw new Error(`seed ${seed}, iteration ${i}, input ${input.toString('hex')}: ${String(err)}`);
        }
        stats.rejected++;
      }
    }
    // Both outcomes must be exercised, or the mutator is not doing its job.
    expect(stats.decoded).toBeGreaterThan(1000);
    expect(stats.rejected).toBeGreaterThan(1000);
  });

  it('random garbage of every small length is rejected with a typed error', () => {
    const r = rng(1);
    for (let len = 0; len < 200; len++) {
      const b = Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
      expect(() => decodeMessage(b)).toThrow(RtcprobeError);
    }
  });
});
