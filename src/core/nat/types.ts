/**
 * Types shared by the RFC 5780 NAT behaviour discovery: what the runner
 * observed (raw test results) and what the classifier concludes from it.
 */

import type { Endpoint } from '../address.js';

/** RFC 4787 behaviour, plus `none` (no NAT) and `unknown` (could not be tested). */
export type Behaviour = 'endpoint-independent' | 'address-dependent' | 'address-and-port-dependent' | 'none' | 'unknown';

export type NatType =
  | 'open-internet'
  | 'full-cone'
  | 'restricted-cone'
  | 'port-restricted-cone'
  | 'symmetric'
  | 'udp-blocked'
  | 'unknown';

export type Rating = 'easy' | 'hard' | 'unknown';

/** WebRTC forecast: whether ICE is likely to find a direct path. */
export type ForecastCode = 'direct-likely' | 'some-peers' | 'needs-turn' | 'unknown';

/**
 * How one Binding transaction ended:
 * - `answered`: a response with the right transaction ID from the expected source;
 * - `wrong-source`: a response with the right transaction ID from another address;
 * - `error-response`: the server answered with an error (e.g. 420 for CHANGE-REQUEST);
 * - `timeout`: nothing, after every retransmission;
 * - `unreachable`: an ICMP error came back (port closed, host or network unreachable);
 * - `failed`: a local error (socket, route) before or while sending;
 * - `skipped`: not run, because an earlier test made it meaningless.
 */
export type Outcome = 'answered' | 'wrong-source' | 'error-response' | 'timeout' | 'unreachable' | 'failed' | 'skipped';

export interface BindingObservation {
  /** Which test: e.g. `mapping-1`, `filtering-2`, `compare`. */
  test: string;
  /** Server the test was about (the `--server` input). */
  server: string;
  destination: Endpoint;
  /** Where the answer must come from; null when it cannot be known. */
  expectedSource: Endpoint | null;
  changeRequest?: { changeIp: boolean; changePort: boolean };
  /** The local socket, bound to a concrete interface address. */
  local: Endpoint;
  /** Which socket (test group) ran this: observations with the same socket share one local port. */
  socket: string;
  outcome: Outcome;
  /** Where the accepted answer came from. */
  source?: Endpoint;
  /** XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS when only that was sent. */
  mapped?: Endpoint;
  xorMapped?: Endpoint;
  legacyMapped?: Endpoint;
  otherAddress?: Endpoint;
  /** RFC 3489 CHANGED-ADDRESS: what a classic server sends instead of OTHER-ADDRESS. */
  changedAddress?: Endpoint;
  responseOrigin?: Endpoint;
  errorCode?: { code: number; reason: string };
  /** Local error or reason for skipping. */
  detail?: string;
  /** Requests sent, first one included. */
  transmissions: number;
  /** Time from the first request to the answer, ms. */
  elapsedMs?: number;
  /** RTT of the answer when it is unambiguous (no retransmission), ms. */
  rtt?: number;
}

export interface HairpinObservation {
  /** The mapped address the probe was sent to. */
  target: Endpoint;
  received: boolean;
  /** Source address the hairpinned datagram arrived from. */
  from?: Endpoint;
  /** Public mapping of the sending socket, when known. */
  senderMapped?: Endpoint;
  transmissions: number;
  detail?: string;
}

export interface LifetimeProbe {
  /** Idle seconds before the probe. */
  afterSeconds: number;
  alive: boolean | null;
  detail?: string;
}

export interface LifetimeObservation {
  boundSeconds: number;
  probes: LifetimeProbe[];
  /**
   * Control probe: asked right after the mapping was made, does the server
   * answer to RESPONSE-PORT at all? Only then can a silence mean expiry.
   */
  control?: LifetimeProbe;
  /** The server did not accept RESPONSE-PORT: lifetime cannot be measured this way. */
  unsupported?: string;
}

export interface NatObservations {
  family: 4 | 6;
  /** The server the RFC 5780 tests ran against (first --server). */
  server: string;
  serverAddress: Endpoint | null;
  /** The concrete local interface address every test socket was bound to. */
  localAddress: string | null;
  /** Set when the run could not start (DNS, no route, ICMP unreachable): no test got an answer. */
  error?: { code: string; message: string };
  /**
   * Servers passed over for the RFC 5780 tests, in --server order, before the
   * one that answered (`server`), with the reason.
   */
  fallbacks?: { server: string; code: string; message: string }[];
  /** Stopped by a signal: tests still running were dropped, the rest is kept. */
  interrupted?: boolean;
  mapping: BindingObservation[];
  filtering: BindingObservation[];
  /** Test I toward every server from one shared socket: does the mapping vary by destination? */
  compare: BindingObservation[];
  hairpin: HairpinObservation | null;
  lifetime: LifetimeObservation | null;
  /** Datagrams that matched no test (unknown transaction, malformed...). */
  ignored: { from: Endpoint; socket: string; reason: string }[];
}

export interface Forecast {
  code: ForecastCode;
  text: string;
}

export interface Rfc5780Support {
  supported: boolean | null;
  /**
   * supported, classic (an RFC 3489 server: CHANGED-ADDRESS instead of
   * OTHER-ADDRESS, used the same way), no-other-address, change-request-ignored,
   * change-request-rejected, no-answer
   */
  status: 'supported' | 'classic' | 'no-other-address' | 'other-address-unusable' | 'change-request-ignored' | 'change-request-rejected' | 'no-answer';
  detail: string;
}

export interface NatVerdict {
  mapping: Behaviour;
  filtering: Behaviour;
  natType: NatType;
  rating: Rating;
  forecast: Forecast;
  /** A verdict on the NAT type was reached. */
  verdictReached: boolean;
  udpBlocked: boolean;
  rfc5780: Rfc5780Support;
  publicAddress: Endpoint | null;
  localAddress: Endpoint | null;
  /** The NAT kept the local port (mapped port == local port); null when unknown. */
  portPreserved: boolean | null;
  /** MAPPED-ADDRESS differed from XOR-MAPPED-ADDRESS in some answer: an ALG rewrites payloads. */
  alg: boolean;
  /** Hairpinning works; null when not tested or not applicable. */
  hairpin: boolean | null;
  /** From comparing the mappings seen by several servers; null when not compared. */
  mappingVariesByDestination: boolean | null;
  lifetime: { lowerSeconds: number | null; upperSeconds: number | null; text: string } | null;
  warnings: string[];
}
