import { isIPv4, isIPv6 } from 'node:net';
import type { Endpoint, TransportAddress } from '../address.js';
import { StunDecodeError } from '../errors.js';
import { Attr, CHANGE_IP, CHANGE_PORT, FAMILY_IPV4, FAMILY_IPV6, MAGIC_COOKIE } from './constants.js';
import { getAttribute, type AttributeInput, type StunMessage } from './message.js';

export type { TransportAddress } from '../address.js';

function badAttr(type: number, why: string): StunDecodeError {
  return new StunDecodeError('bad-attribute', `attribute 0x${type.toString(16).padStart(4, '0')}: ${why}`);
}

function ipToBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map((x) => Number(x)));
  if (!isIPv6(address)) throw new RangeError(`not an IP address: ${address}`);
  let v6 = address;
  const v4tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(v6);
  if (v4tail) {
    const b = ipToBytes(v4tail[1]!);
    v6 = v6.slice(0, -v4tail[1]!.length) + `${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [headStr, tailStr] = v6.split('::') as [string, string | undefined];
  const head = headStr ? headStr.split(':') : [];
  const tail = tailStr !== undefined && tailStr !== '' ? tailStr.split(':') : [];
  const fill = tailStr === undefined ? 0 : 8 - head.length - tail.length;
  const groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

function bytesToIp(b: Buffer): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  // RFC 5952 canonical form: compress the longest run (>1) of zero groups.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Normalise an IP string to the canonical form this codec prints. */
export function canonicalIp(address: string): string {
  return bytesToIp(ipToBytes(address));
}

function xorMask(family: 4 | 6, transactionId: Buffer): Buffer {
  const mask = Buffer.alloc(family === 4 ? 4 : 16);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  if (family === 6) transactionId.copy(mask, 4);
  return mask;
}

/** RFC 8489 §14.1 MAPPED-ADDRESS layout (also RESPONSE-ORIGIN, OTHER-ADDRESS, ALTERNATE-SERVER). */
export function decodeAddress(type: number, value: Buffer): TransportAddress {
  if (value.length < 4) throw badAttr(type, 'address shorter than 4 bytes');
  const fam = value[1];
  const port = value.readUInt16BE(2);
  if (fam === FAMILY_IPV4) {
    if (value.length !== 8) throw badAttr(type, `IPv4 address with length ${value.length}`);
    return { family: 4, address: bytesToIp(value.subarray(4, 8)), port };
  }
  if (fam === FAMILY_IPV6) {
    if (value.length !== 20) throw badAttr(type, `IPv6 address with length ${value.length}`);
    return { family: 6, address: bytesToIp(value.subarray(4, 20)), port };
  }
  throw badAttr(type, `unknown address family ${fam}`);
}

/** RFC 8489 §14.2 XOR-MAPPED-ADDRESS layout (also XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS). */
export function decodeXorAddress(type: number, value: Buffer, transactionId: Buffer): TransportAddress {
  const plain = decodeAddress(type, value);
  const raw = value.subarray(4);
  const mask = xorMask(plain.family, transactionId);
  const ip = Buffer.alloc(raw.length);
  for (let i = 0; i < raw.length; i++) ip[i] = raw[i]! ^ mask[i]!;
  return { family: plain.family, address: bytesToIp(ip), port: plain.port ^ (MAGIC_COOKIE >>> 16) };
}

export function encodeAddress(addr: Endpoint): Buffer {
  const ip = ipToBytes(addr.address);
  const out = Buffer.alloc(4 + ip.length);
  out[1] = ip.length === 4 ? FAMILY_IPV4 : FAMILY_IPV6;
  out.writeUInt16BE(addr.port, 2);
  ip.copy(out, 4);
  return out;
}

export function encodeXorAddress(addr: Endpoint, transactionId: Buffer): Buffer {
  const out = encodeAddress(addr);
  const family = out[1] === FAMILY_IPV4 ? 4 : 6;
  const mask = xorMask(family, transactionId);
  out.writeUInt16BE(addr.port ^ (MAGIC_COOKIE >>> 16), 2);
  for (let i = 4; i < out.length; i++) out[i] = out[i]! ^ mask[i - 4]!;
  return out;
}

export interface ErrorCodeValue {
  code: number;
  reason: string;
}

/** RFC 8489 §14.8 ERROR-CODE. */
export function decodeErrorCode(value: Buffer): ErrorCodeValue {
  if (value.length < 4) throw badAttr(Attr.ErrorCode, 'shorter than 4 bytes');
  const cls = value[2]! & 0x07;
  const num = value[3]!;
  if (cls < 3 || cls > 6 || num > 99) throw badAttr(Attr.ErrorCode, `invalid code ${cls}${String(num).padStart(2, '0')}`);
  return { code: cls * 100 + num, reason: value.subarray(4).toString('utf8') };
}

export function encodeErrorCode(code: number, reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8');
  const out = Buffer.alloc(4 + r.length);
  out[2] = Math.floor(code / 100);
  out[3] = code % 100;
  r.copy(out, 4);
  return out;
}

export function encodeUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

export function decodeUint32(type: number, value: Buffer): number {
  if (value.length !== 4) throw badAttr(type, `expected 4 bytes, got ${value.length}`);
  return value.readUInt32BE(0);
}

/** RFC 5780 §7.2 CHANGE-REQUEST. */
export function changeRequest(opts: { changeIp?: boolean; changePort?: boolean }): AttributeInput {
  return {
    type: Attr.ChangeRequest,
    value: encodeUint32((opts.changeIp ? CHANGE_IP : 0) | (opts.changePort ? CHANGE_PORT : 0)),
  };
}

export function decodeChangeRequest(value: Buffer): { changeIp: boolean; changePort: boolean } {
  const v = decodeUint32(Attr.ChangeRequest, value);
  return { changeIp: (v & CHANGE_IP) !== 0, changePort: (v & CHANGE_PORT) !== 0 };
}

/** RFC 5780 §7.5 RESPONSE-PORT: 16-bit port followed by 16 bits of padding. */
export function responsePort(port: number): AttributeInput {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(port, 0);
  return { type: Attr.ResponsePort, value: b };
}

/** RFC 8656 §18.8 REQUESTED-TRANSPORT: protocol number then 3 RFFU bytes. */
export function requestedTransport(protocol: number): AttributeInput {
  const b = Buffer.alloc(4);
  b[0] = protocol;
  return { type: Attr.RequestedTransport, value: b };
}

/** RFC 8656 §18.1 CHANNEL-NUMBER: 16-bit number then 16 RFFU bits. */
export function channelNumber(channel: number): AttributeInput {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(channel, 0);
  return { type: Attr.ChannelNumber, value: b };
}

export function stringAttr(type: number, s: string): AttributeInput {
  return { type, value: Buffer.from(s, 'utf8') };
}

/* ---- typed readers over a decoded message ---- */

export function readAddress(msg: StunMessage, type: number): TransportAddress | undefined {
  const a = getAttribute(msg, type);
  return a ? decodeAddress(type, a.value) : undefined;
}

export function readXorAddress(msg: StunMessage, type: number): TransportAddress | undefined {
  const a = getAttribute(msg, type);
  return a ? decodeXorAddress(type, a.value, msg.transactionId) : undefined;
}

export function readString(msg: StunMessage, type: number): string | undefined {
  return getAttribute(msg, type)?.value.toString('utf8');
}

export function readUint32(msg: StunMessage, type: number): number | undefined {
  const a = getAttribute(msg, type);
  return a ? decodeUint32(type, a.value) : undefined;
}

export function readErrorCode(msg: StunMessage): ErrorCodeValue | undefined {
  const a = getAttribute(msg, Attr.ErrorCode);
  return a ? decodeErrorCode(a.value) : undefined;
}
