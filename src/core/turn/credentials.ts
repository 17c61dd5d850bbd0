/**
 * TURN credentials: coturn's REST API scheme (time-limited usernames signed
 * with a shared secret), the `iceServers` JSON that web apps hand to
 * RTCPeerConnection, and masking for output.
 */
import { createHmac } from 'node:crypto';
import { RtcprobeError } from '../errors.js';
import type { TurnCredentials } from './protocol.js';

export interface RestCredentials extends TurnCredentials {
  /** Unix time (seconds) at which the username stops being accepted. */
  expiry: number;
}

/**
 * coturn `use-auth-secret` credentials: username `expiry[:user]`, password
 * base64(HMAC-SHA1(secret, username)). `now` is in ms.
 */
export function restCredentials(secret: string, o: { user?: string; ttl: number; now: number; separator?: string }): RestCredentials {
  const expiry = Math.floor(o.now / 1000) + o.ttl;
  const username = o.user ? `${expiry}${o.separator ?? ':'}${o.user}` : String(expiry);
  return { username, password: restPassword(secret, username), expiry };
}

export function restPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username, 'utf8').digest('base64');
}

/** The expiry (Unix seconds) encoded in a REST username, when it looks like one. */
export function restExpiryOf(username: string, separator = ':'): number | undefined {
  const head = username.split(separator)[0]!;
  if (!/^\d{9,11}$/.test(head)) return undefined;
  return Number(head);
}

/** Mask a secret for printing: at most its first two characters survive. */
export function mask(secret: string | undefined): string {
  if (secret === undefined || secret === '') return '';
  if (secret.length <= 4) return '***';
  return `${secret.slice(0, 2)}***`;
}

/**
 * Remove every occurrence of the given secrets from a text (error messages
 * may echo what they were given). This is a safety net: no code here puts
 * a secret into a message. Secrets shorter than 8 characters are left alone,
 * as masking them would mangle ordinary words ("wrong", "test").
 */
export function redact(text: string, secrets: (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 8) out = out.split(s).join(mask(s));
  }
  return out;
}

export interface IceServerEntry {
  urls: string[];
  username?: string;
  credential?: string;
}

/**
 * Parse an `iceServers` JSON document: an array of RTCIceServer, or an object
 * with an `iceServers` array (as many TURN REST endpoints return). Only the
 * turn:/turns: URLs are kept; entries without any are dropped.
 */
export function parseIceServers(text: string): IceServerEntry[] {
  let doc: unknown;
  try {
    // A UTF-8 byte order mark (editors on Windows add one) is not part of the JSON text.
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new RtcprobeError('USAGE', `the ice-servers file is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const list = Array.isArray(doc) ? doc : (doc as { iceServers?: unknown } | null)?.iceServers;
  if (!Array.isArray(list)) throw new RtcprobeError('USAGE', 'the ice-servers file must be an array of RTCIceServer or an object with an "iceServers" array');
  const out: IceServerEntry[] = [];
  list.forEach((entry: unknown, i: number) => {
    if (typeof entry !== 'object' || entry === null) throw new RtcprobeError('USAGE', `iceServers[${i}] is not an object`);
    const e = entry as { urls?: unknown; url?: unknown; username?: unknown; credential?: unknown };
    const raw = e.urls ?? e.url;
    const urls = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw : undefined;
    if (!urls || urls.some((u) => typeof u !== 'string')) throw new RtcprobeError('USAGE', `iceServers[${i}].urls must be a string or an array of strings`);
    if (e.username !== undefined && typeof e.username !== 'string') throw new RtcprobeError('USAGE', `iceServers[${i}].username must be a string`);
    if (e.credential !== undefined && typeof e.credential !== 'string') throw new RtcprobeError('USAGE', `iceServers[${i}].credential must be a string`);
    const turn = (urls as string[]).filter((u) => /^turns?:/i.test(u.trim()));
    if (turn.length === 0) return;
    out.push({
      urls: turn.map((u) => u.trim()),
      ...(e.username !== undefined ? { username: e.username as string } : {}),
      ...(e.credential !== undefined ? { credential: e.credential as string } : {}),
    });
  });
  return out;
}
