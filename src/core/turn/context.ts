/**
 * What a `rtcprobe turn` run takes (targets, options) and what the stages of
 * one server's check share: `ServerCheck` holds the server's rows, the
 * clients opened toward it (so the runner can release them all) and what the
 * stages learned; plus the small functions every stage uses.
 */
import { toRtcprobeError } from '../errors.js';
import type { DnsClient } from '../dns/client.js';
import type { TlsInfo } from '../net/stream.js';
import { effectiveTransport, formatHostPort, type ServerSpec, type Transport } from '../uri.js';
import { openTurnTransport, TurnClient, TurnErrorResponse } from './client.js';
import { isCoturnSoftware, pickWording, type Wording } from './hints.js';
import type { TurnCredentials } from './protocol.js';
import type { CheckRow, CheckStatus, Rows, TurnReport } from './report.js';

export type CredentialSource = 'user' | 'rest-secret' | 'ice-servers';

export interface TurnTarget {
  spec: ServerSpec;
  credentials?: TurnCredentials;
  source?: CredentialSource;
  /** Where the URI came from: a command-line argument (default) or an --ice-servers file. */
  origin?: 'argument' | 'ice-servers';
  /** For REST credentials made here: regenerate with another expiry (clock-skew probe). */
  resign?: (expiry: number) => TurnCredentials;
}

export interface TurnCheckOptions {
  family: 4 | 6;
  /** Per-operation cap, ms. */
  timeout: number;
  count: number;
  size: number;
  rate: number;
  security: boolean;
  /** Try up to this many allocations to find the quota; 0 = off. */
  quota: number;
  /** Also try an RFC 6062 TCP allocation. */
  tcpRelay: boolean;
  insecure: boolean;
  /** Bandwidth search on the relayed path (off when absent). */
  bandwidth?: { maxBps: number; lossThreshold: number };
  ca?: Buffer;
  /** Current time, ms since the epoch (injected: the REST checks compare against it). */
  now: number;
  /** REST TTL the credentials were generated with, seconds (for messages). */
  ttl?: number;
  /** The DNS client of the run: SRV records (RFC 7065), and A/AAAA when it names its own servers. */
  dns?: DnsClient;
  /** Look up SRV records for host names given without a port (default true; needs `dns`). */
  srv?: boolean;
  signal?: AbortSignal;
  progress?: (text: string) => void;
}

/** The transport a TURN URI means (RFC 7065); see `effectiveTransport` in uri.ts. */
export const uriTransport = (spec: ServerSpec): Transport => effectiveTransport(spec).transport;

export interface Endpoint {
  address: string;
  port: number;
}

export const addr = (a: Endpoint) => formatHostPort(a.address, a.port);

/** An error as "CODE: message". */
export function errText(err: unknown): string {
  const e = toRtcprobeError(err);
  return `${e.code}: ${e.message}`;
}

/** True when `err` is a TURN error response with this code. */
export const isCode = (err: unknown, code: number) => err instanceof TurnErrorResponse && err.errorCode === code;

/** How a request was refused: "403 Forbidden", "an error without ERROR-CODE", or the local error. */
export function refusalText(err: unknown): string {
  if (!(err instanceof TurnErrorResponse)) return errText(err);
  return err.errorCode ? `${err.errorCode}${err.reason ? ` ${err.reason}` : ''}` : 'an error without ERROR-CODE';
}

/** Release the allocations of these clients (in parallel), then close them. */
export async function releaseAll(clients: readonly TurnClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.release()));
  for (const c of clients) c.close();
}

/** A client opened by `ServerCheck.open`, with the TLS details of its connection. */
export type OpenedClient = TurnClient & { tlsInfo?: TlsInfo };

/** One server's check: its rows (ids under `prefix`), clients and findings. */
export class ServerCheck {
  readonly label: string;
  readonly info: TurnReport['servers'][number];
  /** Every client opened toward this server (their SOFTWARE attributes tell what it is). */
  readonly clients: TurnClient[] = [];
  /** The resolved server address; set by the DNS stage. */
  remote?: Endpoint;
  securityRan = false;
  quotaRan = false;
  /** An allocation succeeded on this server. */
  allocated = false;
  /** Why the server was not verified, when no allocation was tried. */
  unverifiedReason?: string;
  /** SOFTWARE seen outside the TURN clients (the plain-TCP probe of a turns: port). */
  software?: string;
  /** Set when the default (IPv4) relay was refused and an IPv6 one is used instead. */
  relayFamily?: 4 | 6;
  /** How many Allocates met a stale allocation on their 5-tuple (437) and moved to a new local port. */
  staleTuples = 0;

  constructor(
    readonly t: TurnTarget,
    readonly o: TurnCheckOptions,
    readonly rows: Rows,
    readonly report: TurnReport,
    readonly prefix: string,
    readonly transport: Transport,
    readonly wantSecurity: boolean,
    readonly wantQuota: boolean,
  ) {
    this.label = t.spec.input;
    this.info = { server: this.label, transport };
  }

  /** `{ signal }` when the run has one, to spread into options. */
  get signalOption(): { signal?: AbortSignal } {
    return this.o.signal ? { signal: this.o.signal } : {};
  }

  /** Add the row `<prefix>.<name>` about this server. */
  add(name: string, status: CheckStatus, detail: string, hint = '', label?: string): CheckRow {
    return this.rows.add(`${this.prefix}.${name}`, status, detail, hint, this.label, label);
  }

  /** Add a row whose id is global (security.*, quota), about this server. */
  addGlobal(id: string, status: CheckStatus, detail: string, hint = ''): CheckRow {
    return this.rows.add(id, status, detail, hint, this.label);
  }

  progress(what: string): void {
    this.o.progress?.(`${this.label}: ${what}`);
  }

  /** True when a response of this server named coturn in SOFTWARE. */
  get coturn(): boolean {
    return isCoturnSoftware([this.software, ...this.clients.map((c) => c.software)]);
  }

  /** The hint in the wording for this server. */
  hint(w: Wording): string {
    return pickWording(this.coturn, w);
  }

  /** Open a transport to the server and a TURN client on it; the runner releases it at the end. */
  async open(credentials: TurnCredentials | undefined): Promise<OpenedClient> {
    const { o, t } = this;
    const remote = this.remote!;
    const isLiteral = t.spec.host === remote.address;
    // TLS is always opened permissively here; the tls row decides what an untrusted certificate means.
    const ch = await openTurnTransport({
      remote,
      family: o.family,
      transport: this.transport,
      ...(isLiteral ? {} : { servername: t.spec.host }),
      insecure: true,
      ...(o.ca ? { ca: o.ca } : {}),
      timeout: o.timeout,
      ...this.signalOption,
    });
    const c: OpenedClient = new TurnClient(ch, { ...(credentials ? { credentials } : {}), timeout: o.timeout, ...this.signalOption });
    this.clients.push(c);
    c.tlsInfo = ch.tlsInfo;
    return c;
  }
}
