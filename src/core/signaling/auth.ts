/**
 * Who may do what on the relay: join tokens (which peerId a join gets, or the
 * wire code refusing it), the Origin allowlist of WebSocket upgrades, and the
 * admin token of the HTTP endpoints (compared as SHA-256 digests in constant
 * time, so neither its content nor its length leaks through timing).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { RtcprobeError } from '../errors.js';
import { validPeerId, type JoinMessage, type WireErrorCode } from './protocol.js';
import { verifyToken } from './token.js';

export type JoinAuth =
  | { ok: true; peerId: string }
  | { ok: false; code: WireErrorCode; message?: string };

/**
 * The peerId a join gets. Without a secret: the one asked for, or a random
 * one. With a secret: the token's identity, when the token is valid, unexpired
 * and for this room (and for the asked peerId, if one is asked).
 */
export function authorizeJoin(msg: JoinMessage, secret: string | undefined): JoinAuth {
  if (!secret) return { ok: true, peerId: msg.peerId ?? randomBytes(9).toString('base64url') };
  if (!msg.token) return { ok: false, code: 'AUTH_REQUIRED' };
  const check = verifyToken(msg.token, secret);
  if (!check.ok) return { ok: false, code: check.reason === 'expired' ? 'AUTH_EXPIRED' : 'AUTH_INVALID' };
  const { room, sub } = check.claims;
  if (room !== msg.room) return { ok: false, code: 'AUTH_MISMATCH', message: 'the token is for another room' };
  if (msg.peerId !== undefined && msg.peerId !== sub) return { ok: false, code: 'AUTH_MISMATCH', message: 'the token is for another identity' };
  if (!validPeerId(sub)) return { ok: false, code: 'AUTH_INVALID', message: 'the token identity is not a valid peerId' };
  return { ok: true, peerId: sub };
}

const normOrigin = (o: string) => o.trim().replace(/\/+$/, '').toLowerCase();

/** The Origin values a WebSocket upgrade may carry; compared without case and trailing slashes. */
export class OriginAllowlist {
  private readonly allowed: Set<string>;
  constructor(origins: readonly string[]) {
    this.allowed = new Set(origins.map(normOrigin));
  }
  /** A missing Origin (non-browser client) is refused too. */
  allows(origin: string | string[] | undefined): boolean {
    return typeof origin === 'string' && this.allowed.has(normOrigin(origin));
  }
}

/** A bearer token for admin endpoints. */
export class AdminToken {
  private readonly digest: Buffer;
  constructor(token: string) {
    if (token === '') throw new RtcprobeError('USAGE', 'the admin token must not be empty');
    this.digest = sha256(token);
  }
  /** Whether an Authorization header value is `Bearer <this token>`. */
  matches(authorization: string | undefined): boolean {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization ?? '');
    return !!m && timingSafeEqual(sha256(m[1]!), this.digest);
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
