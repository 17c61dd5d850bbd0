/**
 * The wording of the hints that depend on which server answered: every hint
 * exists in RFC-neutral terms and in coturn's terms (its option names), and
 * the coturn wording is used only when a response of the server named coturn
 * in SOFTWARE. Hints that read the same for every server stay in the stage
 * that writes the row. Pure: no I/O.
 */
import { ErrorCodes } from '../stun/constants.js';
import type { ForbiddenPeer } from './addresses.js';

/** One hint in both wordings. */
export interface Wording {
  neutral: string;
  coturn: string;
}

/** True when any SOFTWARE attribute seen from the server names coturn. */
export function isCoturnSoftware(software: (string | undefined)[]): boolean {
  return software.some((s) => /coturn/i.test(s ?? ''));
}

/** The wording for this server. */
export function pickWording(coturn: boolean, w: Wording): string {
  return coturn ? w.coturn : w.neutral;
}

/* ---------------- connect / TLS ---------------- */

export const TLS_UNTRUSTED_CONTINUED: Wording = {
  neutral: 'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host, with the full chain',
  coturn: 'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host (cert= / pkey= in turnserver.conf), with the full chain',
};

export const TLS_UNTRUSTED: Wording = {
  neutral: 'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host, with the full chain. --insecure continues anyway',
  coturn: 'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host (cert= / pkey=, full chain). --insecure continues anyway',
};

/** A turns: URI pointing at a port that answers STUN in the clear. */
export function plainPortForTurns(hostPort: string): Wording {
  const text = (tlsPort: string) => `this is a plain STUN/TURN port: use turn:${hostPort}?transport=tcp for it, or point turns: at the TLS port (${tlsPort})`;
  return { neutral: text('RFC 7065 default 5349'), coturn: text('coturn: tls-listening-port, default 5349, with cert= and pkey=') };
}

export const TLS_HANDSHAKE_FAILED: Wording = {
  neutral: 'is this the TLS port (RFC 7065 default 5349), and does the server have a certificate and key?',
  coturn: 'is this the TLS port (coturn: tls-listening-port, default 5349) and does the server have a certificate and key (cert= / pkey=)?',
};

/* ---------------- allocate / authentication ---------------- */

export const OPEN_RELAY: Wording = {
  neutral: 'enable authentication: RFC 8656 requires long-term credentials (a user list, or time-limited credentials from a shared secret)',
  coturn: 'enable authentication: lt-cred-mech with user= entries, or use-auth-secret with static-auth-secret; remove no-auth',
};

export const NO_IPV4_RELAY: Wording = {
  neutral: 'clients on IPv4-only networks cannot be relayed: give the server an IPv4 relay address (RFC 8656 §7.1: IPv4 is the default family)',
  coturn: 'clients on IPv4-only networks cannot be relayed: give coturn an IPv4 relay-ip (and external-ip behind NAT)',
};

/** REST credentials valid by our clock but refused. */
export function restRefused(left: number): Wording {
  const text = (secret: string) => `the REST username is valid for ${left} s by our clock; if the server still rejects it, either the credential was signed with a different secret than the server's ${secret}, or the server's clock is more than ${left} s ahead of ours (check NTP)`;
  return { neutral: text('shared secret'), coturn: text('static-auth-secret') };
}

export function wrongUser(realm: string): Wording {
  return {
    neutral: `wrong user name or password, or the user is not defined for realm "${realm}". If the server uses time-limited (REST) credentials, pass --secret instead`,
    coturn: `wrong user name or password, or the user is not defined for realm "${realm}" (user= with lt-cred-mech). If the server uses use-auth-secret, pass --secret instead`,
  };
}

export const WRONG_SECRET: Wording = {
  neutral: '--secret is not the server\'s shared secret (even a username valid for a week is refused), or the server does not use time-limited (REST) credentials',
  coturn: '--secret is not the server\'s static-auth-secret (even a username valid for a week is refused), or the server does not use use-auth-secret',
};

/** Hints for an authenticated Allocate refused with these error codes. */
export const ALLOCATE_ERRORS: Record<number, Wording> = {
  [ErrorCodes.AllocationQuotaReached]: { neutral: 'the user or the server is at its allocation quota: close stale sessions or raise the quota', coturn: 'the user or the server is at its allocation quota (user-quota / total-quota): close stale sessions or raise the quota' },
  [ErrorCodes.InsufficientCapacity]: { neutral: 'the server has no free relay port (RFC 8656: 508 Insufficient Capacity): widen its relay port range or add relay addresses', coturn: 'the server has no free relay port: widen min-port..max-port or add relay-ip addresses' },
  [ErrorCodes.UnsupportedTransportProtocol]: { neutral: 'the server does not relay UDP, which RFC 8656 requires every TURN server to support', coturn: 'the server does not relay UDP: check no-udp-relay' },
  [ErrorCodes.Forbidden]: { neutral: 'the server forbids this user or client address', coturn: 'the server forbids this user or client address: check allowed-peer-ip / denied-peer-ip and user restrictions' },
  [ErrorCodes.AddressFamilyNotSupported]: { neutral: 'the server has no relay address of the requested family', coturn: 'the server has no relay address of the requested family: set relay-ip for it' },
};

/** A relayed address that peers cannot reach. */
export function relayUnreachable(relayed: string): Wording {
  return {
    neutral: `peers cannot send to ${relayed}: a server behind NAT must announce its public address as XOR-RELAYED-ADDRESS (RFC 8656 §7.2), not its private one`,
    coturn: `peers cannot send to ${relayed}: if coturn is behind NAT, set external-ip=<public IP>/<private IP>; otherwise set relay-ip to a public address`,
  };
}

/** A public relayed address other than the one the server was reached on. */
export function relayElsewhere(serverAddress: string): Wording {
  return {
    neutral: `fine when the server deliberately relays on another public interface; if ${serverAddress} is a NAT in front of the server, the public relay address it announces is missing or wrong`,
    coturn: `fine when relay-ip deliberately names another public interface; if ${serverAddress} is a NAT in front of coturn, external-ip is missing or wrong`,
  };
}

/* ---------------- relayed data path ---------------- */

export const LOOPBACK_PEERS_REFUSED: Wording = {
  neutral: 'to measure the relayed path on a loopback test server, let it accept loopback peers (never in production)',
  coturn: 'to measure the relayed path on a loopback test server, start it with allow-loopback-peers (never in production)',
};

/** A CreatePermission toward our own second relayed address refused; `forbidden`: with 403. */
export function ownRelayRefused(relay: string, forbidden: boolean): Wording {
  return {
    neutral: `the server forbids its own relay addresses as peers (${relay}): two clients of this server could then never reach each other through it`,
    coturn: forbidden ? `the server forbids its own relay range as peers: denied-peer-ip covers ${relay}` : 'see the server log',
  };
}

export const RELAY_PATH_BLOCKED: Wording = {
  neutral: 'the relay port range is most likely blocked by a firewall: open UDP to the server\'s relay port range on the TURN host and in any cloud security group, for traffic between relayed addresses too',
  coturn: 'the relay port range is most likely blocked by a firewall: open UDP min-port..max-port (coturn default 49152-65535) on the TURN host and in any cloud security group, for traffic between relayed addresses too',
};

export const RELAY_PORTS_BLOCKED: Wording = {
  neutral: 'the relay port range is most likely blocked by a firewall (the server\'s relay ports, UDP)',
  coturn: 'the relay port range is most likely blocked by a firewall (coturn min-port..max-port, default 49152-65535)',
};

export const HEAVY_LOSS: Wording = {
  neutral: 'heavy loss on the relayed path: the relay host or its uplink is overloaded, or a rate limit applies',
  coturn: 'heavy loss on the relayed path: the relay host or its uplink is overloaded, or a rate limit (max-bps / bps-capacity) applies',
};

export const SOME_LOSS: Wording = {
  neutral: 'some relayed messages were lost: check the server load and any bandwidth limit it applies',
  coturn: 'some relayed messages were lost: check the server load and its max-bps / bps-capacity settings',
};

/** The fix when outside peers cannot reach the relay ports (a phrase inside a longer hint). */
export const OPEN_RELAY_PORTS_TO_ALL: Wording = {
  neutral: 'open UDP to the relay port range from every source, not only from the TURN host itself',
  coturn: 'open UDP min-port..max-port (coturn default 49152-65535) from every source, not only from the TURN host itself',
};

export const BANDWIDTH_LIMIT: Wording = {
  neutral: 'the limit is the server, its uplink or a rate limit on the path, or this machine when it is busy: compare with a run from another host',
  coturn: 'the limit is the server, its uplink or a rate limit on the path (coturn: max-bps, bps-capacity), or this machine when it is busy: compare with a run from another host',
};

/* ---------------- security, quota, TCP relay ---------------- */

/** A permission granted toward a forbidden peer; coturn's wording is the peer's own fix. */
export function forbiddenPeerGranted(p: ForbiddenPeer): Wording {
  return {
    neutral: `the server must refuse peers in this range (${p.label}): a relay that reaches loopback, private, link-local or other special addresses lets any client with credentials into the server's own networks (RFC 8656 security considerations)`,
    coturn: p.fix,
  };
}

export const NO_QUOTA: Wording = {
  neutral: 'one leaked credential can exhaust the relay: limit allocations per user and in total (RFC 8656 lets the server answer 486 Allocation Quota Reached)',
  coturn: 'one leaked credential can exhaust the relay: set user-quota and total-quota',
};

export const NO_TCP_RELAY: Wording = {
  neutral: 'the server does not offer RFC 6062 TCP relaying (442 Unsupported Transport Protocol)',
  coturn: 'TCP relaying is off (no-tcp-relay)',
};
