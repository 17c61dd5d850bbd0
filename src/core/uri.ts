import { isIP } from 'node:net';
import { RtcprobeError } from './errors.js';
import { DEFAULT_PORT, DEFAULT_TLS_PORT } from './stun/constants.js';
import { maskUserinfo } from './secrets.js';

/** Masking lives with the other secret handling; re-exported for URI users. */
export { maskUserinfo };

export type Transport = 'udp' | 'tcp' | 'tls';
export type Scheme = 'stun' | 'stuns' | 'turn' | 'turns';

export interface ServerSpec {
  /** The argument as the user gave it. */
  input: string;
  scheme: Scheme;
  /** Host name or IP literal, without brackets. */
  host: string;
  port: number;
  /** The transport the URI asks for, when it asks for one. */
  transport?: Transport;
  /** True when the input named a port explicitly. */
  explicitPort: boolean;
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

function bad(input: string, why: string): RtcprobeError {
  return new RtcprobeError('BAD_SERVER', `invalid server "${maskUserinfo(input)}": ${why}`);
}

function parsePort(input: string, s: string): number {
  if (!/^\d{1,5}$/.test(s)) throw bad(input, `port "${s}" is not a number`);
  const n = Number(s);
  if (n < 1 || n > 65535) throw bad(input, `port ${n} is out of range 1-65535`);
  return n;
}

/** Split "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal. */
function splitHostPort(input: string, s: string): { host: string; port?: number } {
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) throw bad(input, 'missing "]"');
    const host = s.slice(1, end);
    if (isIP(host) !== 6) throw bad(input, `"${host}" is not an IPv6 address`);
    const rest = s.slice(end + 1);
    if (rest === '') return { host };
    if (!rest.startsWith(':')) throw bad(input, `unexpected "${rest}" after "]"`);
    return { host, port: parsePort(input, rest.slice(1)) };
  }
  if (isIP(s) === 6) return { host: s };
  const colons = s.split(':').length - 1;
  if (colons > 1) throw bad(input, 'IPv6 addresses with a port need brackets: [addr]:port');
  const [host, portStr] = s.split(':') as [string, string | undefined];
  if (host === '') throw bad(input, 'empty host');
  if (isIP(host) !== 4 && !HOSTNAME.test(host)) throw bad(input, `"${host}" is not a valid host name`);
  if (/^[\d.]+$/.test(host) && isIP(host) !== 4) throw bad(input, `"${host}" is not a valid IPv4 address`);
  return portStr === undefined ? { host } : { host, port: parsePort(input, portStr) };
}

/**
 * Parse a server argument: `host`, `host:port`, `[v6]:port`, or a
 * `stun:`/`stuns:` (RFC 7064) or `turn:`/`turns:` (RFC 7065) URI.
 * `defaultScheme` applies to the forms without a scheme.
 */
export function parseServer(input: string, defaultScheme: Scheme = 'stun'): ServerSpec {
  const raw = input.trim();
  if (raw === '') throw bad(input, 'empty');
  let scheme: Scheme = defaultScheme;
  let rest = raw;
  const m = /^(stuns?|turns?):/i.exec(raw);
  if (m) {
    scheme = m[1]!.toLowerCase() as Scheme;
    rest = raw.slice(m[0].length);
    if (rest.startsWith('//')) throw bad(input, `${scheme}: URIs have no "//" (RFC 7064/7065)`);
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw)) {
    throw bad(input, 'unsupported URI scheme (use stun:, stuns:, turn: or turns:)');
  }
  const at = rest.lastIndexOf('@');
  if (at >= 0 && (rest.indexOf('?') < 0 || at < rest.indexOf('?'))) {
    // RFC 7064/7065 URIs have no userinfo; "user:password@host" would otherwise be read as host "user", port "password@host".
    throw bad(input, 'a user name or password in the URI is not supported (RFC 7065 URIs carry none, and it would end up in logs and the process list): pass them with --user and --password, or the password in RTCPROBE_TURN_PASSWORD');
  }
  let transport: Transport | undefined;
  const q = rest.indexOf('?');
  if (q >= 0) {
    const query = rest.slice(q + 1);
    rest = rest.slice(0, q);
    if (scheme === 'stun' || scheme === 'stuns') throw bad(input, 'stun: URIs take no query (RFC 7064)');
    const tm = /^transport=(udp|tcp)$/i.exec(query);
    if (!tm) throw bad(input, `unsupported query "${query}" (only ?transport=udp|tcp)`);
    transport = tm[1]!.toLowerCase() as Transport;
    if (scheme === 'turns' && transport === 'udp') throw bad(input, 'turns: with transport=udp (DTLS) is not supported');
  }
  const { host, port } = splitHostPort(input, rest);
  const secure = scheme === 'stuns' || scheme === 'turns';
  if (secure) transport = 'tls';
  return {
    input,
    scheme,
    host,
    port: port ?? (secure ? DEFAULT_TLS_PORT : DEFAULT_PORT),
    ...(transport ? { transport } : {}),
    explicitPort: port !== undefined,
  };
}

/**
 * The transport and port a server spec means: the URI's own transport
 * (stuns:/turns: is TLS, turn:?transport= picks UDP or TCP, RFC 7064/7065)
 * wins, else `requested` (--transport), else UDP. TLS without an explicit
 * port goes to 5349. A URI whose transport contradicts `requested` is refused.
 */
export function effectiveTransport(spec: ServerSpec, requested?: Transport): { transport: Transport; port: number } {
  const own = spec.scheme === 'stuns' || spec.scheme === 'turns' ? 'tls' : spec.transport;
  if (own && requested && own !== requested) {
    throw new RtcprobeError('BAD_SERVER', `"${spec.input}" means ${own.toUpperCase()}, but --transport ${requested} was given`);
  }
  const transport = own ?? requested ?? 'udp';
  const port = transport === 'tls' && !spec.explicitPort ? DEFAULT_TLS_PORT : spec.port;
  return { transport, port };
}

export { formatHostPort } from './address.js';
