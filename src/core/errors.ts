/**
 * Typed errors. Every error that can reach a user carries a stable string
 * `code` (listed in the README) and, where there was one, the underlying
 * `cause`. The CLI prints `code: message`; never a stack trace unless
 * `--verbose` asks for details.
 */

export const ERROR_CODES = {
  USAGE: 'bad command-line usage (unknown flag, bad value)',
  BAD_SERVER: 'a server argument is not host, host:port, [v6]:port or a stun:/stuns:/turn:/turns: URI',
  DNS: 'the host name could not be resolved (for the requested address family)',
  TIMEOUT: 'no answer before the timeout, after all retransmissions',
  UNREACHABLE: 'the server is unreachable (ICMP port/host unreachable, connection refused)',
  CONNECTION: 'the TCP/TLS connection failed or was closed by the peer',
  TLS: 'the TLS handshake failed or the certificate was not accepted',
  ABORTED: 'the operation was cancelled (signal or Ctrl-C)',
  STUN_DECODE: 'a datagram or stream chunk is not a well-formed STUN message',
  STUN_ERROR_RESPONSE: 'the server answered with a STUN error response (ERROR-CODE)',
  STUN_BAD_RESPONSE: 'the server answered, but the response lacks a required attribute',
  SOCKET: 'a local socket could not be opened or bound',
  SIGNAL_REJECTED: 'the signaling relay refused to let the client join (the wire code says why)',
  ICE_FAILED: 'a peer connection did not come up (the message names the phase and the candidate types tried)',
  DTLS_FAILED: 'ICE connected but the DTLS handshake did not complete (e.g. the certificate does not match the fingerprint in the SDP)',
  SCTP_FAILED: 'ICE and DTLS connected, but the SCTP association or the data channels over it did not open',
  NO_RELAY_CANDIDATE: 'relay only, but no relay candidate: the TURN server gave no allocation, or the selected pair bypassed it',
  PEERS_MISSING: 'a coordinated benchmark: fewer peers than --expect joined the room in time (the figures of those present are kept)',
  PEER_LEFT: 'a coordinated benchmark: a peer left the room (or its process ended) during the run; the figures measured before are kept',
  NO_REPORT: "a coordinated benchmark: a peer's report did not reach the coordinator through the relay",
  REDIS: 'Redis could not be reached or refused a command (signaling relay scale-out)',
  INTERNAL: 'a bug in rtcprobe; please report it',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What to check, for the codes where the message alone leaves a user guessing. */
export const ERROR_HINTS: Partial<Record<ErrorCode, string>> = {
  TIMEOUT:
    'check the host and port, that the server is running, and that no firewall drops the traffic on the way (STUN/TURN: UDP 3478 by default); on a slow path, raise --timeout',
  UNREACHABLE:
    'nothing accepts traffic there: check the host and port (STUN/TURN: 3478 by default, 5349 for TLS), that the server is running, and the route to it',
};

export function hintFor(code: string): string | undefined {
  return Object.hasOwn(ERROR_HINTS, code) ? ERROR_HINTS[code as ErrorCode] : undefined;
}

export class RtcprobeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RtcprobeError';
    this.code = code;
  }
}

/** Why a byte string was rejected by the STUN decoder. */
export type DecodeReason =
  | 'truncated-header'
  | 'not-stun'
  | 'bad-length'
  | 'bad-cookie'
  | 'attribute-overflow'
  | 'bad-attribute'
  | 'too-large';

export class StunDecodeError extends RtcprobeError {
  readonly reason: DecodeReason;
  constructor(reason: DecodeReason, message: string, options?: { cause?: unknown }) {
    super('STUN_DECODE', `${reason}: ${message}`, options);
    this.name = 'StunDecodeError';
    this.reason = reason;
  }
}

const SYSCALL_CODES: Record<string, ErrorCode> = {
  ENOTFOUND: 'DNS',
  EAI_AGAIN: 'DNS',
  EAI_NODATA: 'DNS',
  EAI_NONAME: 'DNS',
  ECONNREFUSED: 'UNREACHABLE',
  EHOSTUNREACH: 'UNREACHABLE',
  ENETUNREACH: 'UNREACHABLE',
  EADDRNOTAVAIL: 'SOCKET',
  EADDRINUSE: 'SOCKET',
  EAFNOSUPPORT: 'SOCKET',
  ECONNRESET: 'CONNECTION',
  EPIPE: 'CONNECTION',
  ETIMEDOUT: 'TIMEOUT',
  ABORT_ERR: 'ABORTED',
};

/** Wrap anything thrown by Node into an RtcprobeError with a useful code. */
export function toRtcprobeError(err: unknown, context?: string): RtcprobeError {
  if (err instanceof RtcprobeError) return err;
  const e = err as { code?: unknown; message?: unknown; name?: unknown } | undefined;
  const sys = typeof e?.code === 'string' ? e.code : undefined;
  let code: ErrorCode = 'INTERNAL';
  if (sys && SYSCALL_CODES[sys]) code = SYSCALL_CODES[sys];
  else if (e?.name === 'AbortError') code = 'ABORTED';
  else if (sys && (sys.startsWith('ERR_TLS') || sys.includes('CERT') || sys.startsWith('ERR_SSL') || sys === 'DEPTH_ZERO_SELF_SIGNED_CERT' || sys === 'SELF_SIGNED_CERT_IN_CHAIN')) code = 'TLS';
  const msg = typeof e?.message === 'string' ? e.message : String(err);
  // A context says where; it is said once even when the message already starts with it.
  const message = context && !msg.startsWith(`${context}: `) ? `${context}: ${msg}` : msg;
  return new RtcprobeError(code, message, { cause: err });
}
