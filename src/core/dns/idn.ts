import { domainToASCII, domainToUnicode } from 'node:url';
import { RtcprobeError } from '../errors.js';

/** Both spellings of an internationalised host name (IDNA, RFC 5891). */
export interface IdnNames {
  unicode: string;
  ascii: string;
}

// The host part of a server argument that is not an IPv6 literal: after an
// optional scheme, up to a port or query. Non-ASCII hosts are never IPv6.
const ARG = /^((?:stuns?|turns?):)?([^:?[\]]*)(.*)$/is;

/**
 * Rewrite a server argument so that its host is ASCII (punycode, via
 * url.domainToASCII), ready for the ASCII-only URI parser and DNS. Returns
 * the names when the host is an IDN in either spelling (Unicode, or ASCII
 * with `xn--` labels), so that both forms can be shown.
 */
export function asciiServerArgument(input: string): { argument: string; idn?: IdnNames } {
  const m = ARG.exec(input.trim());
  if (!m) return { argument: input };
  const [, scheme = '', host = '', rest = ''] = m;
  if (/[^\p{ASCII}]/u.test(host)) {
    const ascii = domainToASCII(host);
    if (ascii === '') throw new RtcprobeError('BAD_SERVER', `invalid server "${input}": "${host}" is not a valid internationalised domain name`);
    return { argument: `${scheme}${ascii}${rest}`, idn: { unicode: domainToUnicode(ascii), ascii } };
  }
  if (/(^|\.)xn--/i.test(host)) {
    const unicode = domainToUnicode(host);
    if (unicode !== '' && unicode !== host.toLowerCase()) return { argument: input, idn: { unicode, ascii: host.toLowerCase() } };
  }
  return { argument: input };
}
