/**
 * coturn REST API credentials (`use-auth-secret`): time-limited user names
 * signed with a secret shared with the TURN server.
 */
import { createHmac } from 'node:crypto';

export interface RestCredentials {
  username: string;
  password: string;
  /** Unix time (seconds) at which the username stops being accepted. */
  expiry: number;
}

/** The REST user name for an expiry (Unix seconds): `expiry` or `expiry:user`. */
export function restUsername(expiry: number, user?: string, separator = ':'): string {
  return user ? `${expiry}${separator}${user}` : String(expiry);
}

/**
 * coturn `use-auth-secret` credentials: username `expiry[:user]`, password
 * base64(HMAC-SHA1(secret, username)). `now` is in ms.
 */
export function restCredentials(secret: string, o: { user?: string; ttl: number; now: number; separator?: string }): RestCredentials {
  const expiry = Math.floor(o.now / 1000) + o.ttl;
  const username = restUsername(expiry, o.user, o.separator);
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
