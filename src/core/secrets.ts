/**
 * Masking of secrets for output, in one place: every masked value in the
 * output (passwords, shared secrets, tokens, user names, user information
 * in URIs, passwords in URLs) goes through these functions.
 */

/** What stands in for a hidden secret. */
export const MASK = '***';

/**
 * Mask a secret for printing: at most its first two characters survive
 * (none for secrets of 4 characters or fewer); '' for nothing.
 */
export function maskSecret(secret: string | undefined): string {
  if (secret === undefined || secret === '') return '';
  if (secret.length <= 4) return MASK;
  return `${secret.slice(0, 2)}${MASK}`;
}

/**
 * A stun:/turn: URI (or host:port argument) with its user information
 * ("user:password@") masked, for messages: URIs copied from elsewhere
 * sometimes carry credentials.
 */
export function maskUserinfo(input: string): string {
  const at = input.lastIndexOf('@');
  if (at < 0) return input;
  const m = /^\s*((?:stuns?|turns?):)?/i.exec(input)!;
  const start = m[0].length;
  return at >= start ? `${input.slice(0, start)}${MASK}${input.slice(at)}` : input;
}

/**
 * A URL (redis://, rediss://, ...) with its password masked; the user name
 * stays. A text that is not a URL at all is not echoed: `scheme://?` only.
 */
export function maskUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = MASK;
    return u.toString();
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url);
    return `${scheme ? scheme[1]!.toLowerCase() : 'url'}://?`;
  }
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
    if (s && s.length >= 8) out = out.split(s).join(maskSecret(s));
  }
  return out;
}
