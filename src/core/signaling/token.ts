/**
 * Join tokens: JWT (RFC 7519) signed with HS256 (HMAC-SHA256, RFC 7518),
 * written with node:crypto. Claims: `room`, `sub` (the identity, used as the
 * peerId), `iat` and `exp` (seconds since the epoch). Only HS256 is accepted:
 * a token announcing any other algorithm (including "none") is refused.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  room: string;
  sub: string;
  exp: number;
  iat: number;
}

export type TokenCheck =
  | { ok: true; claims: TokenClaims }
  | { ok: false; reason: 'malformed' | 'signature' | 'expired' };

/**
 * Shortest secret accepted without a warning, bytes: RFC 7518 section 3.2
 * requires an HS256 key of at least the hash output size (256 bits).
 */
export const MIN_SECRET_BYTES = 32;

/** A warning for a secret shorter than MIN_SECRET_BYTES (as UTF-8), else undefined. */
export function weakSecretWarning(secret: string, what = 'the secret'): string | undefined {
  const n = Buffer.byteLength(secret);
  if (n >= MIN_SECRET_BYTES) return undefined;
  return `${what} is ${n} byte${n === 1 ? '' : 's'}; HS256 needs at least ${MIN_SECRET_BYTES} (RFC 7518 section 3.2): a shorter secret can be guessed offline from any token (try: openssl rand -base64 32)`;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function sign(input: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(input).digest();
}

export function mintToken(secret: string, claims: { room: string; identity: string; ttlSeconds: number; now?: number }): string {
  const iat = Math.floor((claims.now ?? Date.now()) / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ room: claims.room, sub: claims.identity, iat, exp: iat + claims.ttlSeconds }));
  const input = `${header}.${payload}`;
  return `${input}.${b64url(sign(input, secret))}`;
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) return undefined;
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Verify signature, algorithm, expiry and claim types. `now` in ms. */
export function verifyToken(token: string, secret: string, now = Date.now()): TokenCheck {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [h, p, s] = parts as [string, string, string];
  const header = decodeJson(h);
  const payload = decodeJson(p);
  if (!header || !payload || header.alg !== 'HS256' || !/^[A-Za-z0-9_-]+$/.test(s)) return { ok: false, reason: 'malformed' };
  const expected = sign(`${h}.${p}`, secret);
  const given = Buffer.from(s, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature' };
  const { room, sub, exp, iat } = payload;
  if (typeof room !== 'string' || typeof sub !== 'string' || typeof exp !== 'number' || !Number.isFinite(exp)) return { ok: false, reason: 'malformed' };
  if (exp * 1000 <= now) return { ok: false, reason: 'expired' };
  return { ok: true, claims: { room, sub, exp, iat: typeof iat === 'number' ? iat : 0 } };
}
