/**
 * TURN (RFC 8656) message building and interpretation, free of I/O. The
 * adapter in client.ts moves the bytes; everything here is pure and testable
 * without a socket.
 */
import {
  channelNumber,
  decodeXorAddress,
  encodeUint32,
  encodeXorAddress,
  readErrorCode,
  readString,
  readUint32,
  readXorAddress,
  requestedTransport,
  stringAttr,
} from '../stun/attributes.js';
import type { Endpoint, TransportAddress } from '../address.js';
import { Attr, ErrorCodes, FAMILY_IPV4, FAMILY_IPV6, StunClass, StunMethod, TRANSPORT_TCP, TRANSPORT_UDP } from '../stun/constants.js';
import { appendFingerprint, appendIntegrity, longTermKey, verifyIntegrity } from '../stun/integrity.js';
import { decodeMessage, encodeMessage, getAttribute, newTransactionId, type AttributeInput, type StunMessage } from '../stun/message.js';
import { sanitizeRemoteText } from '../sanitize.js';

export interface TurnCredentials {
  username: string;
  password: string;
}

/** RFC 8656 §12: channel numbers are 0x4000 through 0x4FFF. */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x4fff;
/** ChannelData header: channel number + length. */
export const CHANNEL_DATA_HEADER = 4;

/** Data indication message type (method 0x007, class indication). */
const DATA_INDICATION_TYPE = 0x0017;

/* ---------------- ChannelData (RFC 8656 §12.4) ---------------- */

export function isChannelData(buf: Buffer): boolean {
  return buf.length >= CHANNEL_DATA_HEADER && (buf[0]! & 0xc0) === 0x40;
}

/** Frame `data` for `channel`; over TCP/TLS the frame is padded to 4 bytes (§12.5). */
export function encodeChannelData(channel: number, data: Buffer, stream: boolean): Buffer {
  if (channel < MIN_CHANNEL || channel > MAX_CHANNEL) throw new RangeError(`channel 0x${channel.toString(16)} outside 0x4000-0x4FFF`);
  if (data.length > 0xffff) throw new RangeError('ChannelData payload too long');
  const total = CHANNEL_DATA_HEADER + (stream ? (data.length + 3) & ~3 : data.length);
  const out = Buffer.alloc(total);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, CHANNEL_DATA_HEADER);
  return out;
}

/** Parse a ChannelData message; undefined when it is not one or is truncated. */
export function decodeChannelData(buf: Buffer): { channel: number; data: Buffer } | undefined {
  if (!isChannelData(buf)) return undefined;
  const channel = buf.readUInt16BE(0);
  const len = buf.readUInt16BE(2);
  if (CHANNEL_DATA_HEADER + len > buf.length) return undefined;
  return { channel, data: buf.subarray(CHANNEL_DATA_HEADER, CHANNEL_DATA_HEADER + len) };
}

/* ---------------- indications (RFC 8656 §11) ---------------- */

export function isDataIndication(buf: Buffer): boolean {
  return buf.length >= 20 && buf.readUInt16BE(0) === DATA_INDICATION_TYPE;
}

export function encodeSendIndication(peer: Endpoint, data: Buffer): Buffer {
  const tid = newTransactionId();
  return encodeMessage({
    method: StunMethod.Send,
    cls: StunClass.Indication,
    transactionId: tid,
    attributes: [
      { type: Attr.XorPeerAddress, value: encodeXorAddress(peer, tid) },
      { type: Attr.Data, value: data },
    ],
  });
}

/** The peer and payload of a Data indication, or undefined when it lacks either. */
export function decodeDataIndication(buf: Buffer): { peer: TransportAddress; data: Buffer } | undefined {
  let msg: StunMessage;
  try {
    msg = decodeMessage(buf);
  } catch {
    return undefined;
  }
  if (msg.method !== StunMethod.Data || msg.cls !== StunClass.Indication) return undefined;
  const peer = readXorAddress(msg, Attr.XorPeerAddress);
  const data = getAttribute(msg, Attr.Data);
  if (!peer || !data) return undefined;
  return { peer, data: data.value };
}

/* ---------------- request attributes ---------------- */

export interface AllocateParams {
  /** Transport between relay and peers: udp (default) or tcp (RFC 6062). */
  relayTransport?: 'udp' | 'tcp';
  /** Requested lifetime, seconds. */
  lifetime?: number;
  dontFragment?: boolean;
  /** REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.6): ask for an IPv6 (or IPv4) relayed address. */
  family?: 4 | 6;
}

export function allocateAttributes(p: AllocateParams = {}): AttributeInput[] {
  const attrs: AttributeInput[] = [requestedTransport(p.relayTransport === 'tcp' ? TRANSPORT_TCP : TRANSPORT_UDP)];
  if (p.lifetime !== undefined) attrs.push({ type: Attr.Lifetime, value: encodeUint32(p.lifetime) });
  if (p.family !== undefined) {
    const v = Buffer.alloc(4);
    v[0] = p.family === 6 ? FAMILY_IPV6 : FAMILY_IPV4;
    attrs.push({ type: Attr.RequestedAddressFamily, value: v });
  }
  if (p.dontFragment) attrs.push({ type: Attr.DontFragment, value: Buffer.alloc(0) });
  return attrs;
}

export function refreshAttributes(lifetime: number): AttributeInput[] {
  return [{ type: Attr.Lifetime, value: encodeUint32(lifetime) }];
}

/** XOR-PEER-ADDRESS values must be XORed with the transaction ID, so these take it. */
export function permissionAttributes(peers: { address: string; port?: number }[], tid: Buffer): AttributeInput[] {
  return peers.map((p) => ({ type: Attr.XorPeerAddress, value: encodeXorAddress({ address: p.address, port: p.port ?? 0 }, tid) }));
}

export function channelBindAttributes(channel: number, peer: Endpoint, tid: Buffer): AttributeInput[] {
  return [channelNumber(channel), { type: Attr.XorPeerAddress, value: encodeXorAddress(peer, tid) }];
}

/** RFC 6062 §4.3 Connect and §4.4 ConnectionBind. */
export function connectAttributes(peer: Endpoint, tid: Buffer): AttributeInput[] {
  return [{ type: Attr.XorPeerAddress, value: encodeXorAddress(peer, tid) }];
}

export function connectionBindAttributes(connectionId: number): AttributeInput[] {
  return [{ type: Attr.ConnectionId, value: encodeUint32(connectionId) }];
}

/* ---------------- long-term credential state (RFC 8489 §9.2) ---------------- */

export type AuthVerdict =
  /** Success response. `integrity` tells whether its MESSAGE-INTEGRITY checked out. */
  | { kind: 'success'; response: StunMessage; integrity: 'ok' | 'missing' | 'mismatch' | 'unchecked' }
  /** Send the request again (first 401 challenge, or 438 with a fresh nonce). */
  | { kind: 'retry'; reason: 'challenge' | 'stale-nonce' }
  /** A final error response. `rejected` is true for a 401 after credentials were sent. */
  | { kind: 'error'; code: number; reason: string; rejected: boolean; response: StunMessage; signed: boolean };

/**
 * Long-term credential state for one TURN session: the realm and nonce the
 * server handed out, and the key derived from them. `build()` makes a signed
 * request once a challenge has been seen; `interpret()` decides what an
 * answer means and updates the state.
 */
export class TurnAuth {
  realm: string | undefined;
  nonce: string | undefined;
  private key: Buffer | undefined;
  /** Whether the last request built carried credentials. */
  private sentCredentials = false;
  private staleRetries = 0;

  constructor(readonly credentials?: TurnCredentials, readonly maxStaleRetries = 3) {}

  get authenticated(): boolean {
    return this.key !== undefined;
  }

  /** Encode a request; signed with MESSAGE-INTEGRITY when a realm and nonce are known. */
  build(method: number, attributes: AttributeInput[] | ((tid: Buffer) => AttributeInput[]), transactionId = newTransactionId()): Buffer {
    const attrs = typeof attributes === 'function' ? attributes(transactionId) : attributes;
    const all = [...attrs];
    const sign = this.credentials !== undefined && this.realm !== undefined && this.nonce !== undefined;
    if (sign) {
      all.push(stringAttr(Attr.Username, this.credentials!.username));
      all.push(stringAttr(Attr.Realm, this.realm!));
      all.push(stringAttr(Attr.Nonce, this.nonce!));
    }
    let buf = encodeMessage({ method, cls: StunClass.Request, transactionId, attributes: all });
    if (sign) buf = appendIntegrity(buf, this.keyFor());
    this.sentCredentials = sign;
    return appendFingerprint(buf);
  }

  private keyFor(): Buffer {
    if (!this.key) this.key = longTermKey(this.credentials!.username, this.realm!, this.credentials!.password);
    return this.key;
  }

  /** Decide what an answer to the last built request means. */
  interpret(response: StunMessage): AuthVerdict {
    if (response.cls === StunClass.SuccessResponse) {
      this.staleRetries = 0;
      const integrity = this.key ? verifyIntegrity(response, this.key) : 'unchecked';
      return { kind: 'success', response, integrity };
    }
    const ec = readErrorCode(response);
    const code = ec?.code ?? 0;
    const reason = sanitizeRemoteText(ec?.reason ?? '');
    const realm = readString(response, Attr.Realm);
    const nonce = readString(response, Attr.Nonce);
    if (code === ErrorCodes.Unauthorized && !this.sentCredentials && this.credentials && realm !== undefined && nonce !== undefined) {
      if (realm !== this.realm) this.key = undefined;
      this.realm = realm;
      this.nonce = nonce;
      return { kind: 'retry', reason: 'challenge' };
    }
    if (code === ErrorCodes.StaleNonce && nonce !== undefined && this.staleRetries < this.maxStaleRetries) {
      this.staleRetries++;
      if (realm !== undefined && realm !== this.realm) {
        this.realm = realm;
        this.key = undefined;
      }
      this.nonce = nonce;
      return { kind: 'retry', reason: 'stale-nonce' };
    }
    return { kind: 'error', code, reason, rejected: code === ErrorCodes.Unauthorized && this.sentCredentials, response, signed: this.sentCredentials };
  }
}

/**
 * Error codes a server can only send after it has checked the credentials
 * (RFC 8656 §7.2 processing order): an error with one of these codes to a
 * signed request means the credentials were accepted.
 */
export const POST_AUTH_ERRORS: ReadonlySet<number> = new Set([
  ErrorCodes.AllocationMismatch, // 437
  440, // Address Family not Supported
  442, // Unsupported Transport Protocol
  ErrorCodes.AllocationQuotaReached, // 486
  508, // Insufficient Capacity
]);

/* ---------------- response readers ---------------- */

export interface AllocateSuccess {
  relayed: TransportAddress;
  mapped?: TransportAddress;
  lifetime?: number;
  software?: string;
}

/**
 * Every XOR-RELAYED-ADDRESS before MESSAGE-INTEGRITY. A response may carry two
 * (RFC 8656 §7.1, dual allocation); coturn 4.6 also puts an empty IPv4 one
 * (0.0.0.0:0) before the IPv6 address it grants for REQUESTED-ADDRESS-FAMILY=IPv6.
 */
export function readRelayedAddresses(msg: StunMessage): TransportAddress[] {
  const out: TransportAddress[] = [];
  for (const a of msg.attributes) {
    if (a.type === Attr.MessageIntegrity) break;
    if (a.type === Attr.XorRelayedAddress) out.push(decodeXorAddress(a.type, a.value, msg.transactionId));
  }
  return out;
}

/** Read an Allocate success response; undefined when it has no usable XOR-RELAYED-ADDRESS. */
export function readAllocateSuccess(msg: StunMessage): AllocateSuccess | undefined {
  const relayed = readRelayedAddresses(msg).find((r) => r.port !== 0);
  if (!relayed) return undefined;
  const mapped = readXorAddress(msg, Attr.XorMappedAddress);
  const lifetime = readUint32(msg, Attr.Lifetime);
  const software = readString(msg, Attr.Software);
  return {
    relayed,
    ...(mapped ? { mapped } : {}),
    ...(lifetime !== undefined ? { lifetime } : {}),
    ...(software !== undefined ? { software: sanitizeRemoteText(software) } : {}),
  };
}

export function readLifetime(msg: StunMessage): number | undefined {
  return readUint32(msg, Attr.Lifetime);
}

export function readConnectionId(msg: StunMessage): number | undefined {
  return readUint32(msg, Attr.ConnectionId);
}

/**
 * Reason phrases of the error codes in the codec's table (ErrorCodes), spelt
 * as the RFCs do: AllocationQuotaReached reads "Allocation Quota Reached",
 * AddressFamilyNotSupported "Address Family not Supported".
 */
const ERROR_NAMES = new Map<number, string>(
  Object.entries(ErrorCodes).map(([key, code]) => [code, key.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/ (Not|Or) /g, (w) => w.toLowerCase())]),
);

/** Readable name of a STUN/TURN error code, for messages ("error" when the code is not in ErrorCodes). */
export function turnErrorName(code: number): string {
  return ERROR_NAMES.get(code) ?? 'error';
}
