/**
 * Masking of secrets for output.
 */

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
