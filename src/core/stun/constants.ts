/** STUN/TURN wire constants. Section numbers refer to RFC 8489 (STUN),
 * RFC 5780 (NAT behaviour discovery) and RFC 8656 (TURN) unless noted. */

/** RFC 8489 §5: fixed value in every STUN message header. */
export const MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §5: header size in bytes. */
export const HEADER_LENGTH = 20;
/** RFC 8489 §5: transaction ID size in bytes. */
export const TRANSACTION_ID_LENGTH = 12;
/** RFC 8489 §14: attribute header (type + length). */
export const ATTRIBUTE_HEADER_LENGTH = 4;
/** RFC 8489 §14.5: HMAC-SHA1 MESSAGE-INTEGRITY value length. */
export const MESSAGE_INTEGRITY_LENGTH = 20;
/** RFC 8489 §14.7: FINGERPRINT value length. */
export const FINGERPRINT_LENGTH = 4;
/** RFC 8489 §14.7: XOR-ed into the CRC-32 of FINGERPRINT ("STUN"). */
export const FINGERPRINT_XOR = 0x5354554e;
/** Largest message this decoder accepts: 16-bit length field plus header. */
export const MAX_MESSAGE_LENGTH = HEADER_LENGTH + 0xffff;

/** RFC 8489 §5: message classes (C1,C0). */
export const StunClass = {
  Request: 0b00,
  Indication: 0b01,
  SuccessResponse: 0b10,
  ErrorResponse: 0b11,
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Message methods. */
export const StunMethod = {
  /** RFC 8489 §18.2 */
  Binding: 0x001,
  /** RFC 8656 §17 */
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
  /** RFC 6062 §6.1 */
  Connect: 0x00a,
  ConnectionBind: 0x00b,
  ConnectionAttempt: 0x00c,
} as const;
export type StunMethod = (typeof StunMethod)[keyof typeof StunMethod];

/** Attribute types. Comprehension-required range is 0x0000-0x7FFF. */
export const Attr = {
  MappedAddress: 0x0001, // RFC 8489 §14.1
  ChangeRequest: 0x0003, // RFC 5780 §7.2
  SourceAddress: 0x0004, // RFC 3489 §11.2.5 (classic STUN; RESPONSE-ORIGIN replaces it)
  ChangedAddress: 0x0005, // RFC 3489 §11.2.3 (classic STUN; OTHER-ADDRESS replaces it)
  Username: 0x0006, // RFC 8489 §14.3
  MessageIntegrity: 0x0008, // RFC 8489 §14.5
  ErrorCode: 0x0009, // RFC 8489 §14.8
  UnknownAttributes: 0x000a, // RFC 8489 §14.13
  ChannelNumber: 0x000c, // RFC 8656 §18.1
  Lifetime: 0x000d, // RFC 8656 §18.2
  XorPeerAddress: 0x0012, // RFC 8656 §18.3
  Data: 0x0013, // RFC 8656 §18.4
  Realm: 0x0014, // RFC 8489 §14.9
  Nonce: 0x0015, // RFC 8489 §14.10
  XorRelayedAddress: 0x0016, // RFC 8656 §18.5
  RequestedAddressFamily: 0x0017, // RFC 8656 §18.6
  EvenPort: 0x0018, // RFC 8656 §18.7
  RequestedTransport: 0x0019, // RFC 8656 §18.8
  DontFragment: 0x001a, // RFC 8656 §18.9
  MessageIntegritySha256: 0x001c, // RFC 8489 §14.6
  PasswordAlgorithm: 0x001d, // RFC 8489 §14.12
  Userhash: 0x001e, // RFC 8489 §14.4
  XorMappedAddress: 0x0020, // RFC 8489 §14.2
  ReservationToken: 0x0022, // RFC 8656 §18.10
  Priority: 0x0024, // RFC 8445 §16.1
  UseCandidate: 0x0025, // RFC 8445 §16.1
  Padding: 0x0026, // RFC 5780 §7.6
  ResponsePort: 0x0027, // RFC 5780 §7.5
  ConnectionId: 0x002a, // RFC 6062 §6.2.1
  AdditionalAddressFamily: 0x8000, // RFC 8656 §18.11
  AddressErrorCode: 0x8001, // RFC 8656 §18.12
  PasswordAlgorithms: 0x8002, // RFC 8489 §14.11
  AlternateDomain: 0x8003, // RFC 8489 §14.16
  Icmp: 0x8004, // RFC 8656 §18.13
  Software: 0x8022, // RFC 8489 §14.14
  AlternateServer: 0x8023, // RFC 8489 §14.15
  Fingerprint: 0x8028, // RFC 8489 §14.7
  IceControlled: 0x8029, // RFC 8445 §16.1
  IceControlling: 0x802a, // RFC 8445 §16.1
  ResponseOrigin: 0x802b, // RFC 5780 §7.3
  OtherAddress: 0x802c, // RFC 5780 §7.4
} as const;

const ATTR_NAMES = new Map<number, string>(
  Object.entries(Attr).map(([name, value]) => [value, name.replace(/([a-z])([A-Z0-9])/g, '$1-$2').toUpperCase()]),
);

export function attrName(type: number): string {
  return ATTR_NAMES.get(type) ?? `0x${type.toString(16).padStart(4, '0')}`;
}

const METHOD_NAMES = new Map<number, string>(Object.entries(StunMethod).map(([n, v]) => [v, n]));
/** A method's name for messages ("Allocate", "ConnectionBind"), or "method 0x…" when unknown. */
export function methodName(method: number): string {
  return METHOD_NAMES.get(method) ?? `method 0x${method.toString(16)}`;
}

/** RFC 5780 §7.2: CHANGE-REQUEST flags. */
export const CHANGE_IP = 0x4;
export const CHANGE_PORT = 0x2;

/** Address families inside address attributes (RFC 8489 §14.1). */
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;

/** IANA protocol numbers for REQUESTED-TRANSPORT (RFC 8656 §18.8). */
export const TRANSPORT_UDP = 17;
export const TRANSPORT_TCP = 6;

/** Well-known error codes (RFC 8489 §14.8, RFC 8656 §19). */
export const ErrorCodes = {
  TryAlternate: 300,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  MobilityForbidden: 405,
  UnknownAttribute: 420,
  AllocationMismatch: 437,
  StaleNonce: 438,
  AddressFamilyNotSupported: 440,
  WrongCredentials: 441,
  UnsupportedTransportProtocol: 442,
  PeerAddressFamilyMismatch: 443,
  ConnectionAlreadyExists: 446,
  ConnectionTimeoutOrFailure: 447,
  AllocationQuotaReached: 486,
  RoleConflict: 487,
  ServerError: 500,
  InsufficientCapacity: 508,
} as const;

/** Default ports (RFC 8489 §9, RFC 7064). */
export const DEFAULT_PORT = 3478;
export const DEFAULT_TLS_PORT = 5349;
