/**
 * ICE server lists: the one `IceServer` type of the project and the parser of
 * the `iceServers` JSON that web applications hand to RTCPeerConnection.
 * Used by `turn --ice-servers`, by the relay (`joined.iceServers`) and by the
 * headless peers.
 */
import { RtcprobeError } from '../errors.js';

/** One ICE server as RTCPeerConnection takes it, with `urls` always a list. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** An RTCIceServer as found in the wild: `urls` a string or a list (or the old `url`). */
export interface IceServerInput {
  urls?: string | string[];
  url?: string | string[];
  username?: string;
  credential?: string;
}

const TURN_URL = /^turns?:/i;

/** True for a turn: or turns: URL. */
export function isTurnUrl(url: string): boolean {
  return TURN_URL.test(url.trim());
}

/**
 * Check and normalise one RTCIceServer-like value: `urls` (or the legacy
 * `url`) a string or an array of strings, trimmed; `username` and
 * `credential` strings when present. `where` names it in messages.
 */
export function toIceServer(entry: unknown, where: string): IceServer {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new RtcprobeError('USAGE', `${where} is not an object`);
  const e = entry as { urls?: unknown; url?: unknown; username?: unknown; credential?: unknown };
  const raw = e.urls ?? e.url;
  const urls = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? (raw as unknown[]) : undefined;
  if (!urls || urls.some((u) => typeof u !== 'string')) throw new RtcprobeError('USAGE', `${where}.urls must be a string or an array of strings`);
  if (e.username !== undefined && typeof e.username !== 'string') throw new RtcprobeError('USAGE', `${where}.username must be a string`);
  if (e.credential !== undefined && typeof e.credential !== 'string') throw new RtcprobeError('USAGE', `${where}.credential must be a string`);
  return {
    urls: (urls as string[]).map((u) => u.trim()),
    ...(e.username !== undefined ? { username: e.username } : {}),
    ...(e.credential !== undefined ? { credential: e.credential } : {}),
  };
}

/**
 * Parse an `iceServers` JSON document: an array of RTCIceServer, or an object
 * with an `iceServers` array (an RTCConfiguration, or what TURN REST endpoints
 * return). A leading UTF-8 byte order mark is ignored. Every entry is kept,
 * whatever its URL schemes; see `turnServersOf` for the TURN part.
 */
export function parseIceServers(text: string): IceServer[] {
  let doc: unknown;
  try {
    // A UTF-8 byte order mark (editors on Windows add one) is not part of the JSON text.
    doc = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new RtcprobeError('USAGE', `the ice-servers file is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const list = Array.isArray(doc) ? doc : (doc as { iceServers?: unknown } | null)?.iceServers;
  if (!Array.isArray(list)) throw new RtcprobeError('USAGE', 'the ice-servers file must be an array of RTCIceServer or an object with an "iceServers" array');
  return list.map((entry: unknown, i: number) => toIceServer(entry, `iceServers[${i}]`));
}

/** The entries with their turn:/turns: URLs only; entries left without any are dropped. */
export function turnServersOf(list: readonly IceServer[]): IceServer[] {
  const out: IceServer[] = [];
  for (const e of list) {
    const urls = e.urls.filter(isTurnUrl);
    if (urls.length > 0) out.push({ ...e, urls });
  }
  return out;
}
