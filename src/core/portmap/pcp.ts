/**
 * PCP (RFC 6887) codec: the MAP request and the common response header plus
 * the MAP response body. Pure: no I/O. PCP shares UDP 5351 with NAT-PMP.
 */
import { isIPv4 } from 'node:net';

export const PCP_VERSION = 2;
export const PCP_OP_ANNOUNCE = 0;
export const PCP_OP_MAP = 1;
export const IPPROTO_UDP = 17;

/** RFC 6887 section 7.4 result codes. */
export const PCP_RESULT: Record<number, string> = {
  0: 'success',
  1: 'unsupported version',
  2: 'not authorized',
  3: 'malformed request',
  4: 'unsupported opcode',
  5: 'unsupported option',
  6: 'malformed option',
  7: 'network failure',
  8: 'no resources',
  9: 'unsupported protocol',
  10: 'user exceeded quota',
  11: 'cannot provide external',
  12: 'address mismatch',
  13: 'excessive remote peers',
};

/** An IPv4 address as the 16-byte IPv4-mapped IPv6 form PCP carries. */
export function ipv4Mapped(address: string): Buffer {
  if (!isIPv4(address)) throw new RangeError(`not an IPv4 address: ${address}`);
  const out = Buffer.alloc(16);
  out[10] = 0xff;
  out[11] = 0xff;
  address.split('.').forEach((p, i) => (out[12 + i] = Number(p)));
  return out;
}

/** The 16-byte address field as text: dotted quad when IPv4-mapped, else IPv6. */
export function pcpAddressText(b: Uint8Array): string {
  const mapped = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return groups.join(':');
}

export interface PcpMapRequest {
  /** The client's own address as the gateway sees it (the source address of the request). */
  clientAddress: string;
  /** 12 random bytes that tie the response to this request. */
  nonce: Uint8Array;
  protocol?: number;
  internalPort: number;
  /** Seconds; 0 deletes the mapping. */
  lifetime: number;
}

/** A 60-byte MAP request (24-byte header + 36-byte MAP body), no options. */
export function encodePcpMapRequest(req: PcpMapRequest): Buffer {
  if (req.nonce.length !== 12) throw new RangeError('PCP nonce must be 12 bytes');
  const b = Buffer.alloc(60);
  b[0] = PCP_VERSION;
  b[1] = PCP_OP_MAP; // R bit 0: request
  b.writeUInt32BE(req.lifetime >>> 0, 4);
  ipv4Mapped(req.clientAddress).copy(b, 8);
  Buffer.from(req.nonce).copy(b, 24);
  b[36] = req.protocol ?? IPPROTO_UDP;
  b.writeUInt16BE(req.internalPort, 40);
  // suggested external port 0 and suggested external address ::ffff:0.0.0.0 (no preference)
  b.writeUInt16BE(0, 42);
  ipv4Mapped('0.0.0.0').copy(b, 44);
  return b;
}

export interface PcpResponse {
  version: number;
  opcode: number;
  resultCode: number;
  lifetime: number;
  epoch: number;
  /** MAP responses only. */
  nonce?: Buffer;
  protocol?: number;
  internalPort?: number;
  externalPort?: number;
  /** MAP responses with result 0 only: on an error the field is not an assignment. */
  externalAddress?: string;
}

/**
 * Decodes a PCP response. Returns undefined when the datagram is not a PCP
 * response. A version-0 reply (a NAT-PMP-only gateway answering "unsupported
 * version", RFC 6887 section 9) is returned with version 0 and its result code.
 */
export function decodePcpResponse(buf: Uint8Array): PcpResponse | undefined {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  if (b.length >= 4 && b[0] === 0 && (b[1]! & 0x80) !== 0) {
    return { version: 0, opcode: b[1]! & 0x7f, resultCode: b.readUInt16BE(2), lifetime: 0, epoch: b.length >= 8 ? b.readUInt32BE(4) : 0 };
  }
  if (b.length < 24 || b.length > 1100 || b.length % 4 !== 0) return undefined;
  if ((b[1]! & 0x80) === 0) return undefined; // a request, not a response
  const out: PcpResponse = {
    version: b[0]!,
    opcode: b[1]! & 0x7f,
    resultCode: b[3]!,
    lifetime: b.readUInt32BE(4),
    epoch: b.readUInt32BE(8),
  };
  if (out.opcode === PCP_OP_MAP && b.length >= 60) {
    out.nonce = Buffer.from(b.subarray(24, 36));
    out.protocol = b[36]!;
    out.internalPort = b.readUInt16BE(40);
    out.externalPort = b.readUInt16BE(42);
    if (out.resultCode === 0) out.externalAddress = pcpAddressText(b.subarray(44, 60));
  }
  return out;
}
