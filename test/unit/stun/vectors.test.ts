import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readString, readXorAddress, readUint32 } from '../../../src/core/stun/attributes.js';
import { Attr, StunClass, StunMethod } from '../../../src/core/stun/constants.js';
import { longTermKey, saslprep, shortTermKey, verifyFingerprint, verifyIntegrity } from '../../../src/core/stun/integrity.js';
import { decodeMessage } from '../../../src/core/stun/message.js';

interface Vector {
  name: string;
  hex: string;
  password: string;
  credential: 'short-term' | 'long-term';
  software?: string;
  username?: string;
  realm?: string;
  nonce?: string;
  passwordAfterSaslprep?: string;
  mapped?: { family: 4 | 6; address: string; port: number };
}

const { vectors } = JSON.parse(readFileSync(new URL('../../../fixtures/rfc5769/vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] };
const byName = (n: string) => vectors.find((v) => v.name === n)!;

function keyFor(v: Vector): Buffer {
  return v.credential === 'long-term' ? longTermKey(v.username!, v.realm!, v.password) : shortTermKey(v.password);
}

describe('RFC 5769 test vectors', () => {
  it('has all four vectors', () => {
    expect(vectors.map((v) => v.name)).toEqual(['sample-request', 'sample-ipv4-response', 'sample-ipv6-response', 'sample-request-long-term']);
  });

  it.each(vectors)('$name decodes, and MESSAGE-INTEGRITY verifies with the right key', (v) => {
    const msg = decodeMessage(Buffer.from(v.hex, 'hex'));
    expect(verifyIntegrity(msg, keyFor(v))).toBe('ok');
    expect(verifyIntegrity(msg, shortTermKey('wrong password'))).toBe('mismatch');
  });

  it.each(vectors.filter((v) => v.name !== 'sample-request-long-term'))('$name has a valid FINGERPRINT', (v) => {
    expect(verifyFingerprint(decodeMessage(Buffer.from(v.hex, 'hex')))).toBe('ok');
  });

  it('a flipped bit breaks FINGERPRINT and MESSAGE-INTEGRITY', () => {
    const v = byName('sample-request');
    const buf = Buffer.from(v.hex, 'hex');
    buf[30] = buf[30]! ^ 0x01; // inside SOFTWARE
    const msg = decodeMessage(buf);
    expect(verifyFingerprint(msg)).toBe('mismatch');
    expect(verifyIntegrity(msg, keyFor(v))).toBe('mismatch');
  });

  it('sample request: class, method and attributes', () => {
    const v = byName('sample-request');
    const msg = decodeMessage(Buffer.from(v.hex, 'hex'));
    expect(msg.cls).toBe(StunClass.Request);
    expect(msg.method).toBe(StunMethod.Binding);
    expect(msg.transactionId.toString('hex')).toBe('b7e7a701bc34d686fa87dfae');
    expect(readString(msg, Attr.Software)).toBe(v.software);
    expect(readString(msg, Attr.Username)).toBe(v.username);
    expect(readUint32(msg, Attr.Priority)).toBe(0x6e0001ff);
    expect(msg.attributes.map((a) => a.type)).toEqual([
      Attr.Software, Attr.Priority, Attr.IceControlled, Attr.Username, Attr.MessageIntegrity, Attr.Fingerprint,
    ]);
  });

  it.each(['sample-ipv4-response', 'sample-ipv6-response'])('%s: XOR-MAPPED-ADDRESS and SOFTWARE', (name) => {
    const v = byName(name);
    const msg = decodeMessage(Buffer.from(v.hex, 'hex'));
    expect(msg.cls).toBe(StunClass.SuccessResponse);
    expect(readXorAddress(msg, Attr.XorMappedAddress)).toEqual(v.mapped);
    expect(readString(msg, Attr.Software)).toBe(v.software);
  });

  it('long-term request: USERNAME, NONCE, REALM and SASLprep of the password', () => {
    const v = byName('sample-request-long-term');
    const msg = decodeMessage(Buffer.from(v.hex, 'hex'));
    expect(readString(msg, Attr.Username)).toBe(v.username);
    expect(readString(msg, Attr.Nonce)).toBe(v.nonce);
    expect(readString(msg, Attr.Realm)).toBe(v.realm);
    expect(saslprep(v.password)).toBe(v.passwordAfterSaslprep);
    expect(verifyFingerprint(msg)).toBe('missing');
  });
});
