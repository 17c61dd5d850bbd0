import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { StunDecodeError } from '../../../src/core/errors.js';
import {
  canonicalIp, changeRequest, decodeAddress, decodeChangeRequest, decodeErrorCode, decodeXorAddress,
  encodeAddress, encodeErrorCode, encodeXorAddress, readAddress, readErrorCode, readXorAddress, requestedTransport, responsePort, stringAttr,
} from '../../../src/core/stun/attributes.js';
import { Attr, attrName, methodName, StunClass, StunMethod } from '../../../src/core/stun/constants.js';
import { appendFingerprint, appendIntegrity, crc32, longTermKey, verifyFingerprint, verifyIntegrity } from '../../../src/core/stun/integrity.js';
import { decodeMessage, encodeMessage, getAttribute, messageType, newTransactionId, splitMessageType, stunFrameLength } from '../../../src/core/stun/message.js';

const require = createRequire(import.meta.url);
// The npm `stun` package, used here as an independent implementation to check interop.
const stunPkg = require('stun') as {
  createMessage(type: number, tid?: Buffer): {
    addAttribute(type: number, ...a: unknown[]): void;
    addMessageIntegrity(key: string | Buffer): void;
    addFingerprint(): void;
    toBuffer(): Buffer;
  };
  decode(b: Buffer): { getAttribute(t: number): { value: unknown } | undefined; transactionId: Buffer };
  constants: Record<string, number>;
};

describe('message type', () => {
  it.each([
    [StunMethod.Binding, StunClass.Request, 0x0001],
    [StunMethod.Binding, StunClass.SuccessResponse, 0x0101],
    [StunMethod.Binding, StunClass.ErrorResponse, 0x0111],
    [StunMethod.Allocate, StunClass.Request, 0x0003],
    [StunMethod.Send, StunClass.Indication, 0x0016],
    [StunMethod.Data, StunClass.Indication, 0x0017],
    [StunMethod.ChannelBind, StunClass.ErrorResponse, 0x0119],
    [StunMethod.ConnectionAttempt, StunClass.Indication, 0x001c],
  ])('method 0x%s class %s is 0x%s', (method, cls, type) => {
    expect(messageType(method, cls)).toBe(type);
    expect(splitMessageType(type)).toEqual({ method, cls });
  });

  it('round-trips every method/class pair', () => {
    for (let method = 0; method < 0x1000; method += 7) {
      for (const cls of [0, 1, 2, 3] as const) expect(splitMessageType(messageType(method, cls))).toEqual({ method, cls });
    }
  });
});

describe('addresses', () => {
  const tid = Buffer.from('b7e7a701bc34d686fa87dfae', 'hex');
  it.each([
    ['192.0.2.1', 32853],
    ['203.0.113.255', 1],
    ['2001:db8:1234:5678:11:2233:4455:6677', 32853],
    ['::1', 3478],
    ['fe80::1', 65535],
    ['::ffff:192.0.2.1', 9],
    ['2001:db8::', 80],
  ])('%s:%d round-trips plain and XOR', (address, port) => {
    const canon = canonicalIp(address);
    const fam = address.includes(':') ? 6 : 4;
    expect(decodeAddress(Attr.MappedAddress, encodeAddress({ address, port }))).toEqual({ family: fam, address: canon, port });
    expect(decodeXorAddress(Attr.XorMappedAddress, encodeXorAddress({ address, port }, tid), tid)).toEqual({ family: fam, address: canon, port });
  });

  it('prints IPv6 in RFC 5952 form', () => {
    expect(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(canonicalIp('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(canonicalIp('::ffff:192.0.2.1')).toBe('::ffff:c000:201');
  });

  it.each([
    ['short', Buffer.from('0001', 'hex')],
    ['bad family', Buffer.from('00030001c0000201', 'hex')],
    ['IPv4 too long', Buffer.from('00010001c000020100000000', 'hex')],
    ['IPv6 too short', Buffer.from('00020001c0000201', 'hex')],
  ])('rejects %s', (_n, value) => {
    expect(() => decodeAddress(Attr.MappedAddress, value)).toThrow(StunDecodeError);
  });
});

describe('classic RFC 3489 address attributes', () => {
  it('SOURCE-ADDRESS (0x0004) and CHANGED-ADDRESS (0x0005) decode like MAPPED-ADDRESS and are known attributes', () => {
    // Bytes as a classic server (Vovida stund) sends them: family 1, port, IPv4.
    const msg = decodeMessage(encodeMessage({
      method: StunMethod.Binding, cls: StunClass.SuccessResponse,
      attributes: [
        { type: 0x0001, value: Buffer.from('00010d960a000005', 'hex') },
        { type: 0x0004, value: Buffer.from('00010d967f000001', 'hex') },
        { type: 0x0005, value: Buffer.from('00010d977f000002', 'hex') },
      ],
    }));
    expect(Attr.SourceAddress).toBe(0x0004);
    expect(Attr.ChangedAddress).toBe(0x0005);
    expect(readAddress(msg, Attr.SourceAddress)).toEqual({ family: 4, address: '127.0.0.1', port: 3478 });
    expect(readAddress(msg, Attr.ChangedAddress)).toEqual({ family: 4, address: '127.0.0.2', port: 3479 });
    expect(attrName(0x0004)).toBe('SOURCE-ADDRESS');
    expect(attrName(0x0005)).toBe('CHANGED-ADDRESS');
  });
  it('names methods for messages, the RFC 6062 ones included', () => {
    expect(methodName(StunMethod.Allocate)).toBe('Allocate');
    expect(methodName(StunMethod.ConnectionBind)).toBe('ConnectionBind');
    expect(methodName(0x0ff)).toBe('method 0xff');
  });
});

describe('other attribute values', () => {
  it('ERROR-CODE round-trips and rejects bad classes', () => {
    expect(decodeErrorCode(encodeErrorCode(438, 'Stale Nonce'))).toEqual({ code: 438, reason: 'Stale Nonce' });
    expect(() => decodeErrorCode(Buffer.from('00000200', 'hex'))).toThrow(StunDecodeError);
    expect(() => decodeErrorCode(Buffer.from('0000', 'hex'))).toThrow(StunDecodeError);
  });
  it('CHANGE-REQUEST flags', () => {
    expect(changeRequest({ changeIp: true, changePort: true }).value.toString('hex')).toBe('00000006');
    expect(decodeChangeRequest(changeRequest({ changePort: true }).value)).toEqual({ changeIp: false, changePort: true });
    // RFC 5780 §7.5: the port, then 16 bits of padding.
    expect(responsePort(0x1234)).toEqual({ type: Attr.ResponsePort, value: Buffer.from('12340000', 'hex') });
  });
  it('REQUESTED-TRANSPORT carries the protocol in the first byte', () => {
    expect(requestedTransport(17).value.toString('hex')).toBe('11000000');
  });
});

describe('encode/decode', () => {
  it('round-trips a message with padding, integrity and fingerprint', () => {
    const tid = newTransactionId();
    const key = longTermKey('user', 'realm', 'pass');
    let buf = encodeMessage({
      method: StunMethod.Allocate, cls: StunClass.Request, transactionId: tid,
      attributes: [requestedTransport(17), stringAttr(Attr.Username, 'user'), stringAttr(Attr.Realm, 'realm'), stringAttr(Attr.Nonce, 'abcde')],
    });
    buf = appendFingerprint(appendIntegrity(buf, key));
    const msg = decodeMessage(buf);
    expect(msg.method).toBe(StunMethod.Allocate);
    expect(msg.transactionId.equals(tid)).toBe(true);
    expect(getAttribute(msg, Attr.Nonce)?.value.toString()).toBe('abcde');
    expect(verifyIntegrity(msg, key)).toBe('ok');
    expect(verifyFingerprint(msg)).toBe('ok');
    expect(buf.length % 4).toBe(0);
  });

  it('ignores attributes after MESSAGE-INTEGRITY (RFC 8489 §14.5)', () => {
    let buf = encodeMessage({ method: 1, cls: 2, attributes: [stringAttr(Attr.Software, 'a')] });
    buf = appendIntegrity(buf, Buffer.from('k'));
    const extra = Buffer.alloc(8);
    extra.writeUInt16BE(Attr.Realm, 0);
    extra.writeUInt16BE(4, 2);
    extra.write('evil', 4);
    const body = Buffer.concat([buf, extra]);
    body.writeUInt16BE(body.length - 20, 2);
    const msg = decodeMessage(body);
    expect(msg.attributes).toHaveLength(3);
    expect(getAttribute(msg, Attr.Realm)).toBeUndefined();
    expect(getAttribute(msg, Attr.Software)?.value.toString()).toBe('a');
  });

  it('frames a stream: length from the header, undefined while incomplete', () => {
    const buf = encodeMessage({ method: 1, cls: 0, attributes: [stringAttr(Attr.Software, 'xyz')] });
    expect(stunFrameLength(buf.subarray(0, 3))).toBeUndefined();
    expect(stunFrameLength(buf)).toBe(buf.length);
    expect(() => stunFrameLength(Buffer.from('GET / HTTP/1.1'))).toThrow(StunDecodeError);
  });

  it('CRC-32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('interop with the npm stun package', () => {
  it('decodes what the package encodes (XOR address, integrity, fingerprint)', () => {
    const tid = newTransactionId();
    const m = stunPkg.createMessage(stunPkg.constants.STUN_BINDING_RESPONSE!, tid);
    m.addAttribute(stunPkg.constants.STUN_ATTR_XOR_MAPPED_ADDRESS!, '198.51.100.7', 40000);
    m.addAttribute(stunPkg.constants.STUN_ATTR_SOFTWARE!, 'pkg');
    m.addAttribute(stunPkg.constants.STUN_ATTR_ERROR_CODE!, 438, 'Stale Nonce');
    m.addMessageIntegrity('secret');
    m.addFingerprint();
    const msg = decodeMessage(m.toBuffer());
    expect(readXorAddress(msg, Attr.XorMappedAddress)).toEqual({ family: 4, address: '198.51.100.7', port: 40000 });
    expect(readErrorCode(msg)).toEqual({ code: 438, reason: 'Stale Nonce' });
    expect(verifyIntegrity(msg, Buffer.from('secret'))).toBe('ok');
    expect(verifyFingerprint(msg)).toBe('ok');
  });

  it('the package decodes what we encode', () => {
    const tid = newTransactionId();
    const buf = appendFingerprint(encodeMessage({
      method: StunMethod.Binding, cls: StunClass.ErrorResponse, transactionId: tid,
      attributes: [{ type: Attr.ErrorCode, value: encodeErrorCode(420, 'Unknown Attribute') },
        { type: Attr.XorMappedAddress, value: encodeXorAddress({ address: '2001:db8::5', port: 5 }, tid) }],
    }));
    const m = stunPkg.decode(buf);
    expect(m.transactionId.equals(tid)).toBe(true);
    // stun@2 decodes ERROR-CODE as class*(number+100) (420 reads as 480), so only the reason is compared.
    expect(m.getAttribute(Attr.ErrorCode)?.value).toMatchObject({ reason: 'Unknown Attribute' });
    expect(m.getAttribute(Attr.XorMappedAddress)?.value).toMatchObject({ address: '2001:db8::5', port: 5 });
    expect(readErrorCode(decodeMessage(buf))).toEqual({ code: 420, reason: 'Unknown Attribute' });
  });
});
