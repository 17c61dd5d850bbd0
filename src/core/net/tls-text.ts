/**
 * OpenSSL and Node TLS error text in plain words: no library file names or
 * line numbers ("../deps/openssl/.../ssl3_record.c:350:") reach the output.
 * Text already in plain words comes back unchanged.
 */
export function plainTlsText(message: string): string {
  const m = message.toLowerCase();
  const known: [RegExp, string][] = [
    [/wrong version number|unknown protocol|packet length too long|http request|record layer failure/, 'the server answered with something that is not TLS'],
    [/econnreset|socket hang up|disconnected before secure tls connection/, 'the server closed the connection during the TLS handshake'],
    [/alert handshake failure|no shared cipher|no ciphers available/, 'the server refused the handshake: no TLS version or cipher in common'],
    [/alert protocol version|unsupported protocol|tlsv1 alert/, 'the server refused the handshake: no TLS version in common'],
    [/alert internal error/, 'the server reported an internal TLS error (its certificate or key may be unusable)'],
    [/unrecognized name/, 'the server does not know the requested name (SNI)'],
  ];
  for (const [re, words] of known) if (re.test(m)) return words;
  // Unknown: keep OpenSSL's reason words, drop its error codes, function names and source positions.
  const ossl = /error:[0-9a-f]+:[^:]*:[^:]*:([^:]+)/i.exec(message);
  if (ossl) return `TLS error: ${ossl[1]!.trim()}`;
  return message.replace(/\S*\.c:\d+:?/g, '').replace(/\s+/g, ' ').trim();
}
