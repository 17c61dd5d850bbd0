/**
 * The rtcprobe signaling protocol, version 1: JSON text frames, one message
 * per frame, each an object with a `type`. Every message may carry `v`
 * (the protocol version); a frame with another `v` is refused.
 *
 * The validator is pure (no I/O): the relay feeds it every frame and either
 * gets a typed message back or the wire error code to answer with.
 */
import type { IceServer } from '../ice/servers.js';

export const PROTOCOL_VERSION = 1;
/** WebSocket subprotocol clients may offer; the relay accepts plain connections too. */
export const SUBPROTOCOL = 'rtcprobe-signal.v1';

export const LIMITS = {
  roomLength: 128,
  peerIdLength: 64,
  metaBytes: 2048,
  errorMessageLength: 200,
} as const;

/** Wire error codes sent in `error` messages (and counted in /metrics). */
export const WIRE_ERRORS = {
  BAD_JSON: 'the frame is not valid JSON',
  BAD_FRAME: 'binary frames are not part of the protocol',
  BAD_MESSAGE: 'the JSON is not an object with a string `type`',
  BAD_VERSION: 'the message carries a protocol version this relay does not speak',
  UNKNOWN_TYPE: 'the `type` is not one the relay accepts from clients',
  BAD_FIELD: 'a field is missing or has the wrong type or size',
  TOO_LARGE: 'the frame is larger than the maximum message size',
  RATE_LIMITED: 'too many messages per second on this connection',
  NOT_JOINED: 'the connection must join a room first',
  ALREADY_JOINED: 'the connection already joined a room; leave first',
  ROOM_FULL: 'the room has reached its peer limit',
  TOO_MANY_ROOMS: 'the relay has reached its room limit',
  SERVER_FULL: 'the relay has reached its connection limit',
  PEER_ID_TAKEN: 'another connection in the room uses that peerId',
  UNKNOWN_PEER: 'no peer with that id is in the room',
  SIGNAL_TO_SELF: 'a `signal` is addressed to the sender itself',
  AUTH_REQUIRED: 'this relay requires a token to join',
  AUTH_INVALID: 'the token is malformed or its signature does not verify',
  AUTH_EXPIRED: 'the token has expired',
  AUTH_MISMATCH: 'the token is for another room or identity',
  JOIN_TIMEOUT: 'the connection did not join a room in time',
  ORIGIN_FORBIDDEN: 'the Origin of the WebSocket upgrade is not allowed',
  SHUTTING_DOWN: 'the relay is shutting down',
  INTERNAL: 'the relay failed to handle the message',
} as const;

export type WireErrorCode = keyof typeof WIRE_ERRORS;

/** Error codes of the HTTP session endpoints, in `{ "error": { code, message } }` bodies. */
export const HTTP_ERRORS = {
  BAD_QUERY: 'a query parameter is unknown, repeated or out of range (400)',
  BAD_ROOM: 'the room id in the path is not valid percent-encoding (400)',
  UNAUTHORIZED: 'the endpoint needs the admin token as `Authorization: Bearer <token>` (401)',
  NOT_FOUND: 'no such endpoint (404)',
  NO_SUCH_ROOM: 'the room has no peers (404)',
  METHOD_NOT_ALLOWED: 'only GET and HEAD are served; the `Allow` header says so (405)',
  BUS: 'the presence store (Redis) failed to answer (503)',
} as const;

export type HttpErrorCode = keyof typeof HTTP_ERRORS;

/** WebSocket close codes the relay uses (RFC 6455 section 7.4.1). */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  TRY_AGAIN_LATER: 1013,
} as const;

export type PeerMeta = Record<string, unknown>;

export interface PeerInfo {
  peerId: string;
  meta?: PeerMeta;
}

// ---- client -> relay ----
export interface JoinMessage { type: 'join'; room: string; peerId?: string; token?: string; meta?: PeerMeta; v?: number }
export interface SignalMessage { type: 'signal'; to: string; data: unknown; v?: number }
export interface BroadcastMessage { type: 'broadcast'; data: unknown; v?: number }
export interface LeaveMessage { type: 'leave'; v?: number }
export interface PingMessage { type: 'ping'; ts: number; v?: number }
export type ClientMessage = JoinMessage | SignalMessage | BroadcastMessage | LeaveMessage | PingMessage;

// ---- relay -> client ----
export interface JoinedMessage { type: 'joined'; v: number; room: string; peerId: string; peers: PeerInfo[]; iceServers?: IceServer[] }
export interface PeerJoinedMessage { type: 'peer-joined'; room: string; peerId: string; meta?: PeerMeta }
export interface PeerLeftMessage { type: 'peer-left'; room: string; peerId: string }
export interface RelayedSignalMessage { type: 'signal'; from: string; data: unknown }
export interface RelayedBroadcastMessage { type: 'broadcast'; from: string; data: unknown }
export interface LeftMessage { type: 'left'; room: string }
export interface PongMessage { type: 'pong'; ts: number; serverTs: number }
export interface ErrorMessage { type: 'error'; code: WireErrorCode; message: string; ref?: string }
export type ServerMessage =
  | JoinedMessage
  | PeerJoinedMessage
  | PeerLeftMessage
  | RelayedSignalMessage
  | RelayedBroadcastMessage
  | LeftMessage
  | PongMessage
  | ErrorMessage;

export type ParseResult<T> = { ok: true; msg: T } | { ok: false; code: WireErrorCode; message: string; ref?: string };

const fail = (code: WireErrorCode, message: string, ref?: string): ParseResult<never> => ({ ok: false, code, message, ...(ref ? { ref } : {}) });

export const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** C0 and C1 control characters, and DEL. */
const CONTROL = /\p{Cc}/u;
const PEER_ID = /^[A-Za-z0-9_.:@-]+$/;

export function validRoom(x: unknown): x is string {
  return typeof x === 'string' && x.length >= 1 && x.length <= LIMITS.roomLength && !CONTROL.test(x);
}

export function validPeerId(x: unknown): x is string {
  return typeof x === 'string' && x.length >= 1 && x.length <= LIMITS.peerIdLength && PEER_ID.test(x);
}

/** JSON text that holds an object: the object; anything else (bad JSON included): undefined. */
export function jsonObject(text: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isObject(value) ? value : undefined;
}

const INSTANCE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** A relay instance id: 1..64 characters of A-Z a-z 0-9 _ . - */
export function validInstanceId(x: unknown): x is string {
  return typeof x === 'string' && INSTANCE_ID.test(x);
}

function byteLength(x: unknown): number {
  return Buffer.byteLength(JSON.stringify(x));
}

/** A peer's `meta`: a JSON object of at most LIMITS.metaBytes. */
export function validMeta(x: unknown): x is PeerMeta {
  return isObject(x) && byteLength(x) <= LIMITS.metaBytes;
}

/** Validate an already parsed JSON value as a client message. */
export function validateClientMessage(value: unknown): ParseResult<ClientMessage> {
  if (!isObject(value) || typeof value.type !== 'string') return fail('BAD_MESSAGE', 'expected a JSON object with a string "type"');
  const type = value.type;
  const ref = type.length <= 32 ? type : undefined;
  if (value.v !== undefined && value.v !== PROTOCOL_VERSION) return fail('BAD_VERSION', `protocol version ${PROTOCOL_VERSION} only`, ref);
  const v = value.v === undefined ? {} : { v: PROTOCOL_VERSION };
  switch (type) {
    case 'join': {
      if (!validRoom(value.room)) return fail('BAD_FIELD', `"room" must be a string of 1..${LIMITS.roomLength} printable characters`, ref);
      if (value.peerId !== undefined && !validPeerId(value.peerId)) return fail('BAD_FIELD', `"peerId" must be 1..${LIMITS.peerIdLength} characters of A-Z a-z 0-9 _ . : @ -`, ref);
      if (value.token !== undefined && (typeof value.token !== 'string' || value.token.length > 4096)) return fail('BAD_FIELD', '"token" must be a string', ref);
      if (value.meta !== undefined && !validMeta(value.meta)) return fail('BAD_FIELD', `"meta" must be an object of at most ${LIMITS.metaBytes} bytes as JSON`, ref);
      const msg: JoinMessage = { type: 'join', room: value.room, ...v };
      if (value.peerId !== undefined) msg.peerId = value.peerId as string;
      if (value.token !== undefined) msg.token = value.token as string;
      if (value.meta !== undefined) msg.meta = value.meta as PeerMeta;
      return { ok: true, msg };
    }
    case 'signal': {
      if (!validPeerId(value.to)) return fail('BAD_FIELD', '"to" must be a peerId', ref);
      if (value.data === undefined) return fail('BAD_FIELD', '"data" is required', ref);
      const msg: SignalMessage = { type: 'signal', to: value.to, data: value.data };
      if (value.v !== undefined) msg.v = PROTOCOL_VERSION;
      return { ok: true, msg };
    }
    case 'broadcast':
      if (value.data === undefined) return fail('BAD_FIELD', '"data" is required', ref);
      return { ok: true, msg: { type: 'broadcast', data: value.data, ...v } };
    case 'leave':
      return { ok: true, msg: { type: 'leave', ...v } };
    case 'ping':
      if (typeof value.ts !== 'number' || !Number.isFinite(value.ts)) return fail('BAD_FIELD', '"ts" must be a finite number', ref);
      return { ok: true, msg: { type: 'ping', ts: value.ts, ...v } };
    default:
      return fail('UNKNOWN_TYPE', `unknown message type "${type.slice(0, 32)}"`);
  }
}

/** Parse one text frame: JSON first, then the message schema. */
export function parseClientFrame(text: string): ParseResult<ClientMessage> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('BAD_JSON', 'the frame is not valid JSON');
  }
  try {
    return validateClientMessage(value);
  } catch {
    // JSON.stringify (meta size) overflows the stack on absurdly deep nesting.
    return fail('BAD_FIELD', 'the message is nested too deeply');
  }
}

/** Validate a message from the relay (the client side of the protocol). */
export function parseServerFrame(text: string): ServerMessage | undefined {
  const value = jsonObject(text);
  if (!value || typeof value.type !== 'string') return undefined;
  switch (value.type) {
    case 'joined':
      return typeof value.peerId === 'string' && typeof value.room === 'string' && Array.isArray(value.peers) ? (value as unknown as JoinedMessage) : undefined;
    case 'peer-joined':
    case 'peer-left':
      return typeof value.peerId === 'string' && typeof value.room === 'string' ? (value as unknown as ServerMessage) : undefined;
    case 'signal':
    case 'broadcast':
      return typeof value.from === 'string' ? (value as unknown as ServerMessage) : undefined;
    case 'left':
      return typeof value.room === 'string' ? (value as unknown as LeftMessage) : undefined;
    case 'pong':
      return typeof value.ts === 'number' ? (value as unknown as PongMessage) : undefined;
    case 'error':
      return typeof value.code === 'string' && typeof value.message === 'string' ? (value as unknown as ErrorMessage) : undefined;
    default:
      return undefined;
  }
}

export function errorMessage(code: WireErrorCode, message?: string, ref?: string): ErrorMessage {
  const m: ErrorMessage = { type: 'error', code, message: (message ?? WIRE_ERRORS[code]).slice(0, LIMITS.errorMessageLength) };
  if (ref !== undefined) m.ref = ref;
  return m;
}
