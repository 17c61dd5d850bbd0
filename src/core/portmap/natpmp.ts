/**
 * NAT-PMP (RFC 6886) codec: the external-address request and its response.
 * Pure: no I/O. A gateway listens on UDP 5351.
 */

export const PORTMAP_PORT = 5351;
export const NATPMP_VERSION = 0;
export const NATPMP_OP_EXTERNAL_ADDRESS = 0;

/** RFC 6886 section 3.5 result codes. */
export const NATPMP_RESULT: Record<number, string> = {
  0: 'success',
  1: 'unsupported version',
  2: 'not authorized / refused',
  3: 'network failure',
  4: 'out of resources',
  5: 'unsupported opcode',
};

/** The two-byte external-address request: version 0, opcode 0. */
export function encodeNatPmpExternalAddressRequest(): Buffer {
  return Buffer.from([NATPMP_VERSION, NATPMP_OP_EXTERNAL_ADDRESS]);
}

export interface NatPmpResponse {
  version: number;
  /** The response opcode (request opcode + 128). */
  opcode: number;
  resultCode: number;
  /** Seconds since the gateway's port-mapping table was initialised. */
  epoch: number;
  /** Only for a successful external-address response. */
  externalAddress?: string;
}

/**
 * Decodes a response to the external-address request. Returns undefined for
 * anything that is not one (too short, not a response, another opcode).
 * A PCP server answering a NAT-PMP request replies with version 0 as well
 * (RFC 6887 section 9), so version 0 is all that is accepted here.
 */
export function decodeNatPmpResponse(buf: Uint8Array): NatPmpResponse | undefined {
  if (buf.length < 8) return undefined;
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const version = b[0]!;
  const opcode = b[1]!;
  if (version !== NATPMP_VERSION || opcode !== 128 + NATPMP_OP_EXTERNAL_ADDRESS) return undefined;
  const resultCode = b.readUInt16BE(2);
  const epoch = b.readUInt32BE(4);
  const out: NatPmpResponse = { version, opcode, resultCode, epoch };
  if (resultCode === 0) {
    if (b.length < 12) return undefined;
    out.externalAddress = `${b[8]}.${b[9]}.${b[10]}.${b[11]}`;
  }
  return out;
}
