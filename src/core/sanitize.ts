/**
 * Make remote-controlled text safe to print: strip C0/C1 controls (and so
 * terminal escape sequences), bidi overrides and other invisible format
 * characters, and cap the length.
 */
export function sanitizeRemoteText(s: string, max = 128): string {
  const cleaned = s.replace(/[\p{Cc}\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffd]/gu, '').trim();
  return cleaned.length > max ? `${cleaned.slice(0, max)}…` : cleaned;
}
