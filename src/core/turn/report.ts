/**
 * The report model of `rtcprobe turn`: check rows and their statuses, the
 * short labels warnings get for the headline, and the report a run returns
 * (its JSON shape). `Rows` collects rows in order and redacts secrets.
 */
import type { SrvResult, SrvTarget } from '../dns/srv.js';
import type { TlsInfo } from '../net/stream.js';
import type { RttSummary } from '../stats.js';
import type { Transport } from '../uri.js';
import type { BandwidthResult } from './bandwidth.js';
import type { Headline } from './judge.js';
import { redact } from '../secrets.js';
import type { PathMode, PathResult } from './datapath.js';

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckRow {
  id: string;
  status: CheckStatus;
  detail: string;
  hint: string;
  /** The server URI the row is about (absent for global rows). */
  server?: string;
  /** Warnings only: a few words naming the problem, for the headline. */
  label?: string;
}

/** Short names of warnings, by check name (the row id without its transport prefix). */
const WARNING_LABELS: Record<string, string> = {
  'credentials.expiry': 'REST credentials expire soon',
  tls: 'TLS certificate not trusted',
  'auth-challenge': 'unusual authentication challenge',
  auth: 'response integrity does not verify',
  allocate: 'relayed address unusable by remote peers',
  'allocate-family': 'no IPv4 relay',
  'stale-allocation': 'stale allocation (437)',
  'relay-indication': 'loss on the relayed path',
  'relay-channel': 'loss on the relayed path',
  'relay-to-peer': "relay to peer not verified (this host's NAT)",
  'channel-rebind': 'channel rebind not refused with 400',
  quota: 'no allocation quota',
  'tcp-allocate': 'no RFC 6062 TCP relay',
  deallocate: 'deallocation not confirmed',
  security: 'a forbidden peer got no answer',
};

/** The label of a warning row with this id, unless the row names its own. */
export function warningLabel(id: string): string {
  if (id.startsWith('security.')) return WARNING_LABELS.security!;
  // A numbered row (credentials.expiry2) shares the label of the first.
  const unnumbered = id.replace(/\d+$/, '');
  if (WARNING_LABELS[unnumbered]) return WARNING_LABELS[unnumbered]!;
  const name = id.slice(id.indexOf('.') + 1).replace(/\d+$/, '');
  return WARNING_LABELS[name] ?? id;
}

export interface RelaySummary {
  server: string;
  transport: Transport;
  address: string;
  rtt?: Pick<RttSummary, 'min' | 'median' | 'p95' | 'p99' | 'max'>;
  loss: number;
  jitter?: number;
  throughput: PathResult['throughput'];
  mode: PathMode;
}

/**
 * The outside-peer measurement of one server (UDP; our own socket is the peer,
 * at `mapped`). `relayToPeer`: `arrived`, `not-verified-nat` (this host's NAT
 * maps each destination to its own port and filters the relay's datagrams to
 * the mapping the server knows: not the server's fault; `reason` says so) or
 * `failed`.
 */
export interface OutsidePeer {
  relayToPeer: 'arrived' | 'not-verified-nat' | 'failed';
  /** Our outside address (XOR-MAPPED-ADDRESS) differs from our socket's local address. */
  behindNat: boolean;
  /** The outside address the server saw our datagrams to the relayed address come from (XOR-PEER-ADDRESS of the Data indications). */
  seenFrom?: string;
  /** With seenFrom: true when it differs from `mapped` (the NAT maps each destination apart). */
  mappingPerDestination?: boolean;
  reason?: string;
}

export type TurnVerdict = 'works' | 'not-verified' | 'failed';

/** A measured relayed path, with where it was measured. */
export type ReportPath = PathResult & { server: string; transport: Transport; relayA: string; relayB: string };

/** Why a server that was reached is not verified. */
export interface Unverified {
  server: string;
  reason: string;
}

export interface TurnReport {
  /** True only when nothing failed and every server was verified (an allocation succeeded). */
  ok: boolean;
  /** works: every server allocated and nothing failed; not-verified: a server was reached but no allocation was tried or made (see unverified); failed: a check failed. */
  verdict: TurnVerdict;
  /** The verdict in words, as the human output's first line (with the hint of the first failure). */
  headline: Headline;
  /** Servers that were reached but not verified, and why. */
  unverified: Unverified[];
  /** The distinct labels of the warnings, for the headline. */
  warnings: string[];
  checks: CheckRow[];
  /** The first measured relayed path (channels preferred); null when none was measured. */
  relay: RelaySummary | null;
  paths: ReportPath[];
  /** With --bandwidth: the ramp of each server whose relayed path worked. */
  bandwidth: (BandwidthResult & { server: string; transport: Transport; mode: PathMode })[];
  servers: {
    server: string;
    transport: Transport;
    resolved?: string;
    /** The port connected to: the URI's, its scheme's default, or the SRV target's. */
    port?: number;
    /** The SRV lookup (RFC 7065) of a host name given without a port, and the target used. */
    srv?: SrvResult & { target?: SrvTarget };
    relayed?: string;
    mapped?: string;
    lifetime?: number;
    realm?: string;
    software?: string;
    tls?: TlsInfo;
    /** UDP: how the relay-to-peer row was decided (the outside peer is our own socket at `mapped`). */
    outsidePeer?: OutsidePeer;
  }[];
}

/** The rows of a run, in the order they were added; details and hints never show the secrets. */
export class Rows {
  readonly rows: CheckRow[] = [];
  constructor(private readonly secrets: (string | undefined)[]) {}
  add(id: string, status: CheckStatus, detail: string, hint = '', server?: string, label?: string): CheckRow {
    const row: CheckRow = {
      id,
      status,
      detail: redact(detail, this.secrets),
      hint: redact(hint, this.secrets),
      ...(server ? { server } : {}),
      ...(status === 'warn' ? { label: label ?? warningLabel(id) } : {}),
    };
    this.rows.push(row);
    return row;
  }
}
