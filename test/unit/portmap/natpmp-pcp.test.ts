import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeNatPmpResponse, encodeNatPmpExternalAddressRequest } from '../../../src/core/portmap/natpmp.js';
import { decodePcpResponse, encodePcpMapRequest, ipv4Mapped, pcpAddressText } from '../../../src/core/portmap/pcp.js';

const fixture = (name: string) => readFileSync(new URL(`../../../fixtures/portmap/${name}`, import.meta.url));

describe('NAT-PMP codec (RFC 6886)', () => {
  it('the external-address request is version 0, opcode 0, two bytes', () => {
    expect([...encodeNatPmpExternalAddressRequest()]).toEqual([0, 0]);
  });

  it('decodes miniupnpd\'s successful answer', () => {
    expect(decodeNatPmpResponse(fixture('natpmp-external-address-success.bin'))).toEqual({
      version: 0, opcode: 128, resultCode: 0, epoch: expect.any(Number), externalAddress: '198.51.100.2',
    });
  });

  it('a failure answer carries its result code and no address', () => {
    const r = decodeNatPmpResponse(fixture('natpmp-external-address-network-failure.bin'));
    expect(r).toEqual({ version: 0, opcode: 128, resultCode: 3, epoch: 0x1748 });
    expect(r).not.toHaveProperty('externalAddress');
  });

  it('rejects what is not an external-address response', () => {
    expect(decodeNatPmpResponse(Buffer.from([0, 0]))).toBeUndefined(); // a request
    expect(decodeNatPmpResponse(Buffer.from('0081000000000001c6336402', 'hex'))).toBeUndefined(); // another opcode
    expect(decodeNatPmpResponse(Buffer.from('0280000000000001c6336402', 'hex'))).toBeUndefined(); // version 2
    expect(decodeNatPmpResponse(Buffer.from('00800000000000', 'hex'))).toBeUndefined(); // truncated header
    expect(decodeNatPmpResponse(Buffer.from('0080000000000001c633', 'hex'))).toBeUndefined(); // success without address
  });
});

describe('PCP codec (RFC 6887)', () => {
  const nonce = Buffer.from('0102030405060708090a0b0c', 'hex');

  it('encodes a 60-byte MAP request with the client address IPv4-mapped', () => {
    const b = encodePcpMapRequest({ clientAddress: '192.0.2.2', nonce, internalPort: 34038, lifetime: 60 });
    expect(b.length).toBe(60);
    expect(b.subarray(0, 8).toString('hex')).toBe('020100000000003c');
    expect(b.subarray(8, 24).toString('hex')).toBe('00000000000000000000ffffc0000202');
    expect(b.subarray(24, 36)).toEqual(nonce);
    expect(b[36]).toBe(17);
    expect(b.readUInt16BE(40)).toBe(34038);
    expect(b.readUInt16BE(42)).toBe(0);
    expect(b.subarray(44, 60).toString('hex')).toBe('00000000000000000000ffff00000000');
    expect(() => encodePcpMapRequest({ clientAddress: '192.0.2.2', nonce: nonce.subarray(0, 11), internalPort: 1, lifetime: 1 })).toThrow(RangeError);
    expect(() => encodePcpMapRequest({ clientAddress: '2001:db8::1', nonce, internalPort: 1, lifetime: 1 })).toThrow(RangeError);
  });

  it('decodes miniupnpd\'s MAP success with the external address', () => {
    const r = decodePcpResponse(fixture('pcp-map-success.bin'));
    expect(r).toMatchObject({ version: 2, opcode: 1, resultCode: 0, lifetime: 120, protocol: 17, internalPort: 34038, externalPort: 34038, externalAddress: '198.51.100.2' });
    expect(r?.nonce).toEqual(nonce);
  });

  it('a MAP error reports no external address even though the field is filled', () => {
    const r = decodePcpResponse(fixture('pcp-map-no-resources.bin'));
    expect(r).toMatchObject({ version: 2, opcode: 1, resultCode: 8, lifetime: 30 });
    expect(r).not.toHaveProperty('externalAddress');
  });

  it('a NAT-PMP-only gateway\'s "unsupported version" answer is returned as version 0', () => {
    expect(decodePcpResponse(Buffer.from('0081000100000010', 'hex'))).toEqual({ version: 0, opcode: 1, resultCode: 1, lifetime: 0, epoch: 16 });
  });

  it('rejects requests, short and odd-sized datagrams', () => {
    const req = encodePcpMapRequest({ clientAddress: '192.0.2.2', nonce, internalPort: 1, lifetime: 1 });
    expect(decodePcpResponse(req)).toBeUndefined();
    expect(decodePcpResponse(fixture('pcp-map-success.bin').subarray(0, 20))).toBeUndefined();
    expect(decodePcpResponse(fixture('pcp-map-success.bin').subarray(0, 58))).toBeUndefined();
  });

  it('address fields: IPv4-mapped both ways, IPv6 as text', () => {
    expect(pcpAddressText(ipv4Mapped('203.0.113.7'))).toBe('203.0.113.7');
    expect(pcpAddressText(Buffer.from('20010db8000000000000000000000001', 'hex'))).toBe('2001:db8:0:0:0:0:0:1');
  });
});
