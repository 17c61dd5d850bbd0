/**
 * The checks of `rtcprobe turn`: each step of a TURN deployment's life, from
 * DNS to Deallocate, as a row with a status, a detail and (when something is
 * wrong) a hint naming the likely misconfiguration.
 */
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import type { Channel } from '../net/channel.js';
import type { TlsInfo } from '../net/stream.js';
import { resolveHost } from '../resolve.js';
import type { RttSummary } from '../stats.js';
import type { TransportAddress } from '../stun/attributes.js';
import { Attr, ErrorCodes, StunMethod } from '../stun/constants.js';
import { readString } from '../stun/attributes.js';
import { formatHostPort, type ServerSpec, type Transport } from '../uri.js';
import { classifyAddress, FORBIDDEN_PEERS, isNonPublic } from './addresses.js';
import { openTurnTransport, TurnClient, TurnErrorResponse } from './client.js';
import { mask, redact, restExpiryOf } from './credentials.js';
import { BANDWIDTH_SIZE, runBandwidth, type BandwidthResult } from './bandwidth.js';
import { formatBps } from './units.js';
import { measureTcpRelay, TcpRelayError } from './tcp-relay.js';
import { measurePath, measureRemotePeer, type PathMode, type PathResult } from './datapath.js';
import { MIN_CHANNEL, POST_AUTH_ERRORS, type TurnCredentials } from './protocol.js';

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
  'channel-rebind': 'channel rebind not refused with 400',
  quota: 'no allocation quota',
  'tcp-allocate': 'no RFC 6062 TCP relay',
  deallocate: 'deallocation not confirmed',
  security: 'a forbidden peer got no answer',
};

function warningLabel(id: string): string {
  if (id.startsWith('security.')) return WARNING_LABELS.security!;
  if (WARNING_LABELS[id]) return WARNING_LABELS[id]!;
  const name = id.slice(id.indexOf('.') + 1).replace(/\d+$/, '');
  return WARNING_LABELS[name] ?? id;
}

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
  signal?: AbortSignal;
  progress?: (text: string) => void;
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

export type TurnVerdict = 'works' | 'not-verified' | 'failed';

export interface TurnReport {
  /** True only when nothing failed and every server was verified (an allocation succeeded). */
  ok: boolean;
  /** works: every server allocated and nothing failed; not-verified: a server was reached but no allocation was tried or made (see unverified); failed: a check failed. */
  verdict: TurnVerdict;
  /** Servers that were reached but not verified, and why. */
  unverified: { server: string; reason: string }[];
  /** The distinct labels of the warnings, for the headline. */
  warnings: string[];
  checks: CheckRow[];
  /** The first measured relayed path (channels preferred); null when none was measured. */
  relay: RelaySummary | null;
  paths: (PathResult & { server: string; transport: Transport; relayA: string; relayB: string })[];
  /** With --bandwidth: the ramp of each server whose relayed path worked. */
  bandwidth: (BandwidthResult & { server: string; transport: Transport; mode: PathMode })[];
  servers: {
    server: string;
    transport: Transport;
    resolved?: string;
    relayed?: string;
    mapped?: string;
    lifetime?: number;
    realm?: string;
    software?: string;
    tls?: TlsInfo;
  }[];
}

const addr = (a: { address: string; port: number }) => formatHostPort(a.address, a.port);

/** Payload of the small messages tried when large ones are lost. */
const SMALL_SIZE = 100;

/** The transport a TURN URI means (RFC 7065): turns: is TLS, ?transport= picks UDP or TCP. */
export function uriTransport(spec: ServerSpec): Transport {
  if (spec.scheme === 'turns') return 'tls';
  return spec.transport ?? 'udp';
}

class Rows {
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

function errText(err: unknown): string {
  const e = toRtcprobeError(err);
  return `${e.code}: ${e.message}`;
}

const isCode = (err: unknown, code: number) => err instanceof TurnErrorResponse && err.errorCode === code;

/** Run every check against every target. Never throws for network trouble. */
export async function runTurnChecks(targets: TurnTarget[], o: TurnCheckOptions): Promise<TurnReport> {
  const secrets = targets.flatMap((t) => [t.credentials?.password, t.credentials?.username]);
  const rows = new Rows(secrets);
  const report: TurnReport = { ok: false, verdict: 'failed', unverified: [], warnings: [], checks: rows.rows, relay: null, paths: [], bandwidth: [], servers: [] };

  credentialRows(targets, o, rows);

  const usedIds = new Map<string, number>();
  let securityDone = false;
  let quotaDone = false;
  for (const t of targets) {
    const transport = uriTransport(t.spec);
    const n = (usedIds.get(transport) ?? 0) + 1;
    usedIds.set(transport, n);
    const prefix = n === 1 ? transport : `${transport}${n}`;
    const ctx: ServerCtx = {
      t,
      o,
      rows,
      report,
      prefix,
      transport,
      label: t.spec.input,
      wantSecurity: o.security && !securityDone,
      wantQuota: o.quota > 0 && !quotaDone,
    };
    try {
      await checkServer(ctx);
    } catch (err) {
      // Anything checkServer did not turn into a row: an abort, or a bug. The rows so far stand.
      const e = toRtcprobeError(err);
      rows.add(`${prefix}.aborted`, 'fail', `${e.code}: ${e.message}`, e.code === 'ABORTED' ? 'the run was interrupted' : 'unexpected error; please report it', t.spec.input);
      if (e.code === 'ABORTED' || o.signal?.aborted) break;
    }
    if (!ctx.allocated) {
      report.unverified.push({ server: t.spec.input, reason: ctx.unverifiedReason ?? 'no allocation was made' });
    }
    securityDone ||= ctx.securityRan === true;
    quotaDone ||= ctx.quotaRan === true;
  }
  if (o.security && !securityDone) rows.add('security', 'skip', 'no allocation succeeded, so no permission could be probed', 'fix the failures above first');
  const first = report.paths.find((p) => p.mode === 'channel' && p.received > 0) ?? report.paths.find((p) => p.received > 0) ?? report.paths[0];
  if (first) {
    report.relay = {
      server: first.server,
      transport: first.transport,
      address: first.relayA,
      ...(first.rtt ? { rtt: { min: first.rtt.min, median: first.rtt.median, p95: first.rtt.p95, p99: first.rtt.p99, max: first.rtt.max } } : {}),
      loss: first.loss,
      ...(first.jitter !== undefined ? { jitter: first.jitter } : {}),
      throughput: first.throughput,
      mode: first.mode,
    };
  }
  const failed = rows.rows.some((r) => r.status === 'fail');
  report.verdict = failed ? 'failed' : report.unverified.length > 0 ? 'not-verified' : 'works';
  report.ok = report.verdict === 'works';
  report.warnings = [...new Set(rows.rows.filter((r) => r.status === 'warn').map((r) => r.label!))];
  return report;
}

/** Credential rows that need no network: REST expiry against the local clock. */
function credentialRows(targets: TurnTarget[], o: TurnCheckOptions, rows: Rows): void {
  const seen = new Set<string>();
  for (const t of targets) {
    const c = t.credentials;
    if (!c || seen.has(c.username)) continue;
    seen.add(c.username);
    const expiry = restExpiryOf(c.username);
    if (expiry === undefined) continue;
    const nowS = Math.floor(o.now / 1000);
    const left = expiry - nowS;
    const when = new Date(expiry * 1000).toISOString();
    const id = seen.size === 1 ? 'credentials.expiry' : `credentials.expiry${seen.size}`;
    if (t.source === 'rest-secret') {
      rows.add(id, 'pass', `REST credentials made here with --ttl ${o.ttl ?? left} s: valid until ${when} by the local clock`);
    } else if (left <= 0) {
      rows.add(id, 'fail', `the REST username ${mask(c.username)} expired at ${when}, ${-left} s ago by the local clock`,
        'these time-limited credentials are stale: fetch fresh ones from the issuing service. If they were just issued, the issuer\'s clock is behind this machine\'s (or its TTL is too short): check NTP on both', t.spec.input);
    } else if (left < 60) {
      rows.add(id, 'warn', `the REST username expires in ${left} s (at ${when})`, 'calls that start later will fail authentication: issue credentials with a longer TTL', t.spec.input);
    } else {
      rows.add(id, 'pass', `the REST username is valid for ${left} s more (until ${when}) by the local clock`);
    }
  }
}

interface ServerCtx {
  t: TurnTarget;
  o: TurnCheckOptions;
  rows: Rows;
  report: TurnReport;
  prefix: string;
  transport: Transport;
  label: string;
  wantSecurity: boolean;
  wantQuota: boolean;
  securityRan?: boolean;
  quotaRan?: boolean;
  /** An allocation succeeded on this server. */
  allocated?: boolean;
  /** Why the server was not verified, when no allocation was tried. */
  unverifiedReason?: string;
  /** SOFTWARE seen outside the TURN clients (the plain-TCP probe of a turns: port). */
  software?: string;
  /** Every client opened toward this server (their SOFTWARE attributes tell what it is). */
  clients?: TurnClient[];
  /** Set when the default (IPv4) relay was refused and an IPv6 one is used instead. */
  relayFamily?: 4 | 6;
}

async function checkServer(x: ServerCtx): Promise<void> {
  const { t, o, rows, prefix, transport, label } = x;
  const id = (name: string) => `${prefix}.${name}`;
  const add = (name: string, status: CheckStatus, detail: string, hint = '', rowLabel?: string) => rows.add(id(name), status, detail, hint, label, rowLabel);
  const info: TurnReport['servers'][number] = { server: label, transport };
  x.report.servers.push(info);
  const port = t.spec.port;
  const signal = o.signal ? { signal: o.signal } : {};
  o.progress?.(`${label}: resolving`);

  // DNS
  let address: string;
  try {
    const r = await resolveHost(t.spec.host, o.family, { timeout: o.timeout, ...signal });
    address = r.address;
    info.resolved = address;
    add('dns', 'pass', t.spec.host === address ? `${address} (IP literal)` : `${t.spec.host} is ${address}`);
  } catch (err) {
    add('dns', 'fail', errText(err), `check the host name in the TURN URI and its A/AAAA record (IPv${o.family} was asked for)`);
    return;
  }
  const remote = { address, port };
  const clients: TurnClient[] = [];
  x.clients = clients;
  const open = async (credentials: TurnCredentials | undefined): Promise<TurnClient> => {
    const isLiteral = t.spec.host === address;
    // TLS is always opened permissively here; the tls row decides what an untrusted certificate means.
    const ch: Channel & { tlsInfo?: TlsInfo } = await openTurnTransport({
      remote,
      family: o.family,
      transport,
      ...(isLiteral ? {} : { servername: t.spec.host }),
      insecure: true,
      ...(o.ca ? { ca: o.ca } : {}),
      timeout: o.timeout,
      ...signal,
    });
    const c = new TurnClient(ch, { ...(credentials ? { credentials } : {}), timeout: o.timeout, ...signal });
    clients.push(c);
    (c as TurnClient & { tlsInfo?: TlsInfo }).tlsInfo = ch.tlsInfo;
    return c;
  };
  /**
   * Allocate, moving to a new local port when the server still holds an
   * allocation for this 5-tuple (437: a stale one of an earlier process that
   * had the same ephemeral port). RFC 8656 §7.3 expects exactly that of clients.
   */
  let staleTuples = 0;
  const allocateFresh = async (c: TurnClient, p: Parameters<TurnClient['allocate']>[0] = {}): Promise<TurnClient> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.allocate(p);
        return c;
      } catch (err) {
        if (!isCode(err, ErrorCodes.AllocationMismatch) || attempt >= 2 || c.allocation) throw err;
        staleTuples++;
        c.close();
        c = await open(c.auth.credentials);
      }
    }
  };

  try {
    // Reachability (connection for TCP/TLS; for UDP the first Allocate answers it).
    let a: TurnClient;
    o.progress?.(`${label}: connecting`);
    const t0 = performance.now();
    try {
      a = await open(t.credentials);
    } catch (err) {
      const e = toRtcprobeError(err);
      if (transport === 'tls' && e.code !== 'UNREACHABLE' && e.code !== 'ABORTED' && e.code !== 'DNS' && e.code !== 'SOCKET') {
        // The TLS connection failed after TCP may have connected: find out what the port is.
        await diagnoseTls(x, remote, e, (performance.now() - t0));
        return;
      }
      add('reach', 'fail', `${transport.toUpperCase()} ${addr(remote)}: ${plainTlsText(e.message)}`,
        e.code === 'UNREACHABLE'
          ? `nothing accepts connections on ${addr(remote)}: is the TURN server running, listening on this port and allowed through the firewall?`
          : e.code === 'TIMEOUT'
            ? `the connection attempt got no answer: a firewall drops ${transport.toUpperCase()} to port ${port}, or the host is down`
            : 'check that the server is up and that the port is right');
      if (transport === 'tls') add('tls', 'skip', 'no TCP connection, no TLS handshake');
      return;
    }
    if (transport !== 'udp') add('reach', 'pass', `${transport.toUpperCase()} connection to ${addr(remote)} in ${(performance.now() - t0).toFixed(1)} ms`);
    const tls = (a as TurnClient & { tlsInfo?: TlsInfo }).tlsInfo;
    if (transport === 'tls' && tls) {
      info.tls = tls;
      const what = `${tls.protocol ?? 'TLS'} ${tls.cipher ?? ''}, certificate CN=${tls.peerSubject ?? '?'} issued by ${tls.peerIssuer ?? '?'}${tls.validTo ? `, valid to ${tls.validTo}` : ''}`;
      if (tls.authorized) {
        add('tls', 'pass', `${what}: chain and name verified`);
      } else if (o.insecure) {
        add('tls', 'warn', `${what}: NOT trusted (${tls.authorizationError}); continuing because of --insecure`,
          coturnOr(x, 'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host, with the full chain',
            'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host (cert= / pkey= in turnserver.conf), with the full chain'));
      } else {
        add('tls', 'fail', `${what}: NOT trusted (${tls.authorizationError})`,
          coturnOr(x, 'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host, with the full chain. --insecure continues anyway',
            'browsers will refuse this certificate: use a certificate from a public CA whose name matches the turns: host (cert= / pkey=, full chain). --insecure continues anyway'));
        return;
      }
    }

    // Allocate: challenge, authentication, relayed address.
    o.progress?.(`${label}: allocating`);
    let relayA: TransportAddress | undefined;
    let familyNote: string | undefined;
    try {
      let al;
      try {
        a = await allocateFresh(a);
        al = a.allocation!;
      } catch (err) {
        // RFC 8656 §7.1: without REQUESTED-ADDRESS-FAMILY the server must give an IPv4 relay.
        // A server with only IPv6 relay addresses answers 440: retry asking for IPv6.
        if (!isCode(err, ErrorCodes.AddressFamilyNotSupported)) throw err;
        a = await allocateFresh(a, { family: 6 });
        al = a.allocation!;
        x.relayFamily = 6;
        if (a.familyMismatch) familyMismatchRow(x, a.familyMismatch);
        familyNote = 'the server has no IPv4 relay address: an Allocate without REQUESTED-ADDRESS-FAMILY (what most clients send) is refused with 440; this run continues with an IPv6 relay';
      }
      relayA = al.relayed;
      if (transport === 'udp') add('reach', 'pass', `UDP ${addr(remote)} answers`);
      if (a.auth.realm !== undefined) {
        add('auth-challenge', 'pass', `unauthenticated Allocate challenged with 401, REALM "${a.auth.realm}" and a NONCE`);
        // Accepted credentials are proven by a success response whose MESSAGE-INTEGRITY verifies with our key.
        const integrity = a.allocateAnswer!.integrity;
        if (integrity === 'ok') {
          add('auth', 'pass', `authenticated as ${mask(t.credentials?.username)} in realm "${a.auth.realm}"`);
        } else {
          add('auth', 'warn', `the Allocate succeeded as ${mask(t.credentials?.username)} in realm "${a.auth.realm}", but the response ${integrity === 'mismatch' ? 'MESSAGE-INTEGRITY does not verify' : 'carries no MESSAGE-INTEGRITY'}: the server did not prove it knows the credentials`,
            'RFC 8489 §9.2.4 requires success responses to signed requests to carry MESSAGE-INTEGRITY made with the same key; clients that check it (browsers do) may discard the answer',
            integrity === 'mismatch' ? 'response integrity does not verify' : 'response without integrity');
        }
        info.realm = a.auth.realm;
      } else {
        add('auth-challenge', 'fail', 'the server allocated a relay without asking for credentials: anyone can use it as an open relay',
          coturnOr(x, 'enable authentication: RFC 8656 requires long-term credentials (a user list, or time-limited credentials from a shared secret)',
            'enable authentication: lt-cred-mech with user= entries, or use-auth-secret with static-auth-secret; remove no-auth'));
        add('auth', 'skip', 'the server does not authenticate');
      }
    } catch (err) {
      await allocateFailure(x, a, err, remote);
      return;
    }
    const al = a.allocation!;
    x.allocated = true;
    info.relayed = addr(al.relayed);
    if (al.mapped) info.mapped = addr(al.mapped);
    if (al.lifetime !== undefined) info.lifetime = al.lifetime;
    if (al.software) info.software = al.software;
    relayRow(x, al.relayed, address, al.mapped, al.lifetime);
    if (staleTuples > 0) {
      add('stale-allocation', 'warn', `the server answered 437 (Allocation Mismatch) to ${staleTuples} first Allocate(s): it still held an allocation for that local address and port, left by an earlier client; a new local port worked`,
        'harmless for this check; frequent 437s mean clients end without deallocating (their allocations live until the lifetime expires)');
    }
    if (familyNote) {
      add('allocate-family', 'warn', familyNote, coturnOr(x, 'clients on IPv4-only networks cannot be relayed: give the server an IPv4 relay address (RFC 8656 §7.1: IPv4 is the default family)',
        'clients on IPv4-only networks cannot be relayed: give coturn an IPv4 relay-ip (and external-ip behind NAT)'));
    }

    // A second allocation, for the relayed data path.
    let b: TurnClient | undefined;
    let relayB: TransportAddress | undefined;
    try {
      b = await allocateFresh(await open(t.credentials), x.relayFamily ? { family: x.relayFamily } : {});
      relayB = b.allocation!.relayed;
    } catch (err) {
      add('permission', 'skip', `a second allocation for the data path failed: ${errText(err)}`);
      for (const name of ['relay-indication', 'channel-bind', 'relay-channel', 'channel-rebind']) add(name, 'skip', 'not run: no second allocation');
      if (o.bandwidth) add('bandwidth', 'skip', 'not run: no second allocation');
    }
    let between: boolean | undefined;
    if (b && relayB) between = await dataPath(x, a, b, relayA!, relayB);
    await remotePeerCheck(x, a, relayA!, al.mapped, between);

    // Refresh.
    try {
      const life = await a.refresh(600);
      add('refresh', 'pass', `Refresh accepted, lifetime ${life ?? '?'} s`);
    } catch (err) {
      add('refresh', 'fail', `Refresh failed: ${errText(err)}`, 'allocations will expire after their first lifetime and calls will drop: check the server logs');
    }

    if (x.wantSecurity) {
      x.securityRan = true;
      o.progress?.(`${label}: probing forbidden peers`);
      await securityProbes(x, a, open);
    }
    if (x.wantQuota) {
      x.quotaRan = true;
      o.progress?.(`${label}: looking for the allocation quota`);
      await quotaProbe(x, open);
    }
    if (o.tcpRelay) await tcpRelayProbe(x, open, remote);

    // Deallocate: LIFETIME=0, then a fresh Allocate on the same 5-tuple must succeed.
    o.progress?.(`${label}: deallocating`);
    await deallocateCheck(x, a);
    if (b?.allocation) await b.deallocate().catch(() => {});
  } finally {
    // Whatever is still allocated (after a failure or an abort) is released, in parallel.
    await Promise.all(clients.map((c) => c.release()));
    for (const c of clients) c.close();
  }
}

/**
 * OpenSSL and Node TLS error text in plain words: no library file names or
 * line numbers ("../deps/openssl/.../ssl3_record.c:350:") reach the output.
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

/**
 * A turns: URI whose TLS connection failed: open plain TCP to the same port
 * to tell "nothing there" from "TCP works, TLS does not", and ask it a STUN
 * Binding in the clear to recognise a plain STUN/TURN port.
 */
async function diagnoseTls(x: ServerCtx, remote: { address: string; port: number }, tlsErr: RtcprobeError, elapsed: number): Promise<void> {
  const { o } = x;
  const add = (name: string, status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.${name}`, status, detail, hint, x.label);
  const signal = o.signal ? { signal: o.signal } : {};
  let plain: TurnClient | undefined;
  try {
    const ch = await openTurnTransport({ remote, family: o.family, transport: 'tcp', timeout: o.timeout, ...signal });
    plain = new TurnClient(ch, { timeout: Math.min(o.timeout, 2000), ...signal });
  } catch (err) {
    const e = toRtcprobeError(err);
    add('reach', 'fail', `TCP ${addr(remote)}: ${plainTlsText(e.message)}`,
      e.code === 'TIMEOUT'
        ? `the connection attempt got no answer: a firewall drops TCP to port ${remote.port}, or the host is down`
        : 'check that the server is up and that the port is right');
    add('tls', 'skip', 'no TCP connection, no TLS handshake');
    return;
  }
  add('reach', 'pass', `TCP ${addr(remote)} accepts connections`);
  let speaksStun = false;
  try {
    await plain.request(StunMethod.Binding, []);
    speaksStun = true;
  } catch (err) {
    // An error response is an answer too: the port speaks STUN in the clear.
    speaksStun = err instanceof TurnErrorResponse;
  } finally {
    if (plain.software) x.software = plain.software;
    plain.close();
  }
  if (speaksStun) {
    add('tls', 'fail', `the port does not speak TLS: the TLS handshake ${tlsErr.code === 'TIMEOUT' ? 'got no answer' : `failed (${plainTlsText(tlsErr.message)})`}, but a STUN request in the clear was answered`,
      `this is a plain STUN/TURN port: use turn:${formatHostPort(x.t.spec.host, remote.port)}?transport=tcp for it, or point turns: at the TLS port (${coturnOr(x, 'RFC 7065 default 5349', 'coturn: tls-listening-port, default 5349, with cert= and pkey=')})`);
  } else if (tlsErr.code === 'TIMEOUT') {
    add('tls', 'fail', `TCP connected, but the TLS handshake got no answer within ${Math.round(elapsed)} ms`,
      'something accepts TCP on this port but does not answer a TLS ClientHello: not a TLS server, a server still loading its certificate, or a proxy without a working backend');
  } else {
    add('tls', 'fail', `TCP connected, but the TLS handshake failed: ${plainTlsText(tlsErr.message)}`,
      coturnOr(x, 'is this the TLS port (RFC 7065 default 5349), and does the server have a certificate and key?',
        'is this the TLS port (coturn: tls-listening-port, default 5349) and does the server have a certificate and key (cert= / pkey=)?'));
  }
}

/** True when a response of this server named coturn in SOFTWARE. */
function isCoturn(x: ServerCtx): boolean {
  return /coturn/i.test(x.software ?? '') || (x.clients ?? []).some((c) => /coturn/i.test(c.software ?? ''));
}

/** A hint in neutral (RFC) terms, or naming coturn's options when the server said it is coturn. */
function coturnOr(x: ServerCtx, neutral: string, coturn: string): string {
  return isCoturn(x) ? coturn : neutral;
}

async function allocateFailure(x: ServerCtx, a: TurnClient, err: unknown, remote: { address: string; port: number }): Promise<void> {
  const { t, o, transport } = x;
  const add = (name: string, status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.${name}`, status, detail, hint, x.label);
  const e = toRtcprobeError(err);
  if (!(err instanceof TurnErrorResponse)) {
    if (transport === 'udp') {
      add('reach', 'fail', `UDP ${addr(remote)}: ${e.message}`,
        e.code === 'UNREACHABLE'
          ? `ICMP port unreachable: nothing listens on UDP ${remote.port}; is the TURN server running on this port?`
          : `no answer: the server is down, the port is wrong, or a firewall drops UDP ${remote.port}`);
    } else {
      add('allocate', 'fail', `Allocate failed: ${e.code}: ${e.message}`, 'the server accepted the connection but did not answer TURN: is this port really a TURN server?');
    }
    return;
  }
  if (transport === 'udp') add('reach', 'pass', `UDP ${addr(remote)} answers`);
  const realm = a.auth.realm ?? (err.response ? readString(err.response, Attr.Realm) : undefined);
  const nonce = err.response ? readString(err.response, Attr.Nonce) : a.auth.nonce;
  const challenged = a.auth.realm !== undefined || (err.errorCode === ErrorCodes.Unauthorized && realm !== undefined);
  if (challenged) {
    add('auth-challenge', realm !== undefined && (nonce !== undefined || a.auth.nonce !== undefined) ? 'pass' : 'warn',
      `unauthenticated Allocate challenged with 401, REALM "${realm ?? '(none)'}"${nonce !== undefined || a.auth.nonce ? ' and a NONCE' : ', no NONCE'}`);
  } else if (err.errorCode === ErrorCodes.Unauthorized) {
    add('auth-challenge', 'fail', `401 without REALM/NONCE: ${err.message}`, 'a TURN server must send REALM and NONCE with 401 (RFC 8656 §7.2)');
  } else {
    add('auth-challenge', 'warn', `unauthenticated Allocate answered ${err.errorCode} ${err.reason}`, '');
  }
  if (!t.credentials) {
    if (err.errorCode === ErrorCodes.Unauthorized) {
      x.unverifiedReason = t.origin === 'ice-servers'
        ? 'its iceServers entry has no username and credential, so no allocation or relay was tested'
        : 'no credentials were given, so no allocation or relay was tested';
      add('auth', 'skip',
        t.origin === 'ice-servers'
          ? 'the iceServers entry of this URL has no username and credential, and no --user/--password or --secret was given'
          : 'no credentials given (--user/--password, --secret or --ice-servers)',
        'without credentials no allocation can be made, so the relay is not verified: give credentials to test allocations and the relayed path');
    }
    else add('allocate', 'fail', err.message, '');
    return;
  }
  // 400 to the first signed request: pion (and others) answer a bad MESSAGE-INTEGRITY or an unknown user so.
  const badRequestSigned = err.signed && err.errorCode === ErrorCodes.BadRequest;
  if (err.rejected || badRequestSigned) {
    let hint: string;
    const expiry = restExpiryOf(t.credentials.username);
    if (t.source === 'rest-secret' && t.resign && expiry !== undefined) {
      // Clock-skew probe: a username that expires far in the future passes a server whose clock is ahead.
      hint = await skewHint(x, remote, expiry);
    } else if (expiry !== undefined) {
      const left = expiry - Math.floor(o.now / 1000);
      hint = left <= 0
        ? `the REST username expired ${-left} s ago: fetch fresh credentials`
        : `the REST username is valid for ${left} s by our clock; if the server still rejects it, either the credential was signed with a different secret than the server's ${coturnOr(x, 'shared secret', 'static-auth-secret')}, or the server's clock is more than ${left} s ahead of ours (check NTP)`;
    } else {
      hint = coturnOr(x,
        `wrong user name or password, or the user is not defined for realm "${realm ?? '?'}". If the server uses time-limited (REST) credentials, pass --secret instead`,
        `wrong user name or password, or the user is not defined for realm "${realm ?? '?'}" (user= with lt-cred-mech). If the server uses use-auth-secret, pass --secret instead`);
    }
    if (badRequestSigned) {
      add('auth', 'fail', `the server refused the first signed request with 400${err.reason ? ` "${err.reason}"` : ''} (user ${mask(t.credentials.username)}, realm "${realm ?? '?'}"): credentials rejected, or the request malformed`,
        t.source === 'rest-secret' ? hint : `a wrong password or an unknown user is the likely cause (some servers answer 400 instead of 401 when MESSAGE-INTEGRITY does not verify): ${hint}`);
    } else {
      add('auth', 'fail', `the server rejected these credentials (user ${mask(t.credentials.username)}, realm "${realm ?? '?'}"): 401 again after a signed request`, hint);
    }
    return;
  }
  if (err.errorCode === ErrorCodes.WrongCredentials) {
    add('auth', 'fail', `the server rejected these credentials: ${err.message}`, 'the user name or password is wrong');
    return;
  }
  if (err.signed && POST_AUTH_ERRORS.has(err.errorCode)) {
    add('auth', 'pass', `credentials accepted (the Allocate failed later, with ${err.errorCode}, an error sent only after authentication)`);
  } else {
    add('auth', 'skip', `not established: the ${err.signed ? 'signed ' : ''}Allocate was refused with ${err.errorCode || 'an error without ERROR-CODE'}, which does not tell whether the credentials are accepted`);
  }
  const hints: Record<number, [string, string]> = {
    486: ['the user or the server is at its allocation quota: close stale sessions or raise the quota', 'the user or the server is at its allocation quota (user-quota / total-quota): close stale sessions or raise the quota'],
    508: ['the server has no free relay port (RFC 8656: 508 Insufficient Capacity): widen its relay port range or add relay addresses', 'the server has no free relay port: widen min-port..max-port or add relay-ip addresses'],
    442: ['the server does not relay UDP, which RFC 8656 requires every TURN server to support', 'the server does not relay UDP: check no-udp-relay'],
    403: ['the server forbids this user or client address', 'the server forbids this user or client address: check allowed-peer-ip / denied-peer-ip and user restrictions'],
    440: ['the server has no relay address of the requested family', 'the server has no relay address of the requested family: set relay-ip for it'],
  };
  const h = hints[err.errorCode];
  add('allocate', 'fail', err.message, h ? coturnOr(x, h[0], h[1]) : 'see the server log');
}

async function skewHint(x: ServerCtx, remote: { address: string; port: number }, expiry: number): Promise<string> {
  const { t, o } = x;
  const probeExpiry = expiry + 7 * 24 * 3600;
  let c: TurnClient | undefined;
  try {
    const ch = await openTurnTransport({ remote, family: o.family, transport: x.transport, insecure: true, timeout: o.timeout, ...(o.signal ? { signal: o.signal } : {}) });
    c = new TurnClient(ch, { credentials: t.resign!(probeExpiry), timeout: o.timeout, ...(o.signal ? { signal: o.signal } : {}) });
    await c.allocate();
    await c.deallocate().catch(() => {});
    return `credentials signed with the same secret but expiring a week later ARE accepted: the server's clock is ahead of ours by more than the TTL (${o.ttl ?? '?'} s). Fix NTP on the server or this machine, or raise --ttl`;
  } catch (err) {
    if (err instanceof TurnErrorResponse && (err.rejected || (err.signed && err.errorCode === ErrorCodes.BadRequest))) {
      return coturnOr(x,
        '--secret is not the server\'s shared secret (even a username valid for a week is refused), or the server does not use time-limited (REST) credentials',
        '--secret is not the server\'s static-auth-secret (even a username valid for a week is refused), or the server does not use use-auth-secret');
    }
    return `the secret or the server clock is wrong (a clock probe failed: ${errText(err)})`;
  } finally {
    c?.close();
  }
}

/**
 * Whether a relayed address is usable by peers, judged against the address
 * the server was reached on. A loopback or private relay is expected when the
 * server itself was reached on such an address (a local test, an internal
 * deployment); otherwise it usually means a coturn behind NAT without
 * external-ip. Pure: unit-tested without a server.
 */
export function judgeRelayAddress(relayed: string, serverAddress: string, coturn = false): { status: 'pass' | 'warn'; note: string; hint: string } {
  const rc = classifyAddress(relayed);
  const sc = classifyAddress(serverAddress);
  const externalHint = coturn
    ? `peers cannot send to ${relayed}: if coturn is behind NAT, set external-ip=<public IP>/<private IP>; otherwise set relay-ip to a public address`
    : `peers cannot send to ${relayed}: a server behind NAT must announce its public address as XOR-RELAYED-ADDRESS (RFC 8656 §7.2), not its private one`;
  if (rc === 'loopback') {
    return sc === 'loopback'
      ? { status: 'pass', note: ' (loopback, like the server address: a test on this host; in production this address would be unusable)', hint: '' }
      : { status: 'warn', note: `: a loopback relayed address, although the server was reached on ${serverAddress}`, hint: externalHint };
  }
  if (isNonPublic(rc)) {
    return isNonPublic(sc) && sc !== 'loopback'
      ? { status: 'pass', note: ` (${rc}, like the server address ${serverAddress}: reachable only inside that network)`, hint: '' }
      : { status: 'warn', note: `: a ${rc} address, although the server was reached on ${serverAddress}`, hint: externalHint };
  }
  if (relayed !== serverAddress && sc !== 'loopback') {
    return {
      status: 'warn',
      note: `: differs from the address the server was reached on (${serverAddress})`,
      hint: coturn
        ? `fine when relay-ip deliberately names another public interface; if ${serverAddress} is a NAT in front of coturn, external-ip is missing or wrong`
        : `fine when the server deliberately relays on another public interface; if ${serverAddress} is a NAT in front of the server, the public relay address it announces is missing or wrong`,
    };
  }
  return { status: 'pass', note: '', hint: '' };
}

function relayRow(x: ServerCtx, relayed: TransportAddress, serverAddress: string, mapped: TransportAddress | undefined, lifetime?: number): void {
  const base = `relayed address ${addr(relayed)}${mapped ? `, our address as the server sees it ${addr(mapped)}` : ''}${lifetime !== undefined ? `, lifetime ${lifetime} s` : ''}`;
  const v = judgeRelayAddress(relayed.address, serverAddress, isCoturn(x));
  x.rows.add(`${x.prefix}.allocate`, v.status, `${base}${v.note}`, v.hint, x.label);
}

/** The relayed path between our two allocations; resolves whether any relayed message came back (undefined: not run). */
async function dataPath(x: ServerCtx, a: TurnClient, b: TurnClient, relayA: TransportAddress, relayB: TransportAddress): Promise<boolean | undefined> {
  const { o } = x;
  const add = (name: string, status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.${name}`, status, detail, hint, x.label);
  const both = `${addr(relayA)} <-> ${addr(relayB)}`;
  try {
    await a.createPermission([relayB]);
    await b.createPermission([relayA]);
    add('permission', 'pass', `permissions between our two relayed addresses ${both}`);
  } catch (err) {
    const what = err instanceof TurnErrorResponse ? (err.errorCode ? `${err.errorCode}${err.reason ? ` ${err.reason}` : ''}` : 'an error without ERROR-CODE') : errText(err);
    if (err instanceof TurnErrorResponse && classifyAddress(relayA.address) === 'loopback') {
      add('permission', 'skip',
        `the server refuses loopback peers (${err.errorCode || 'an error without ERROR-CODE'}), which is the safe setting; both relayed addresses are loopback (${both}), so the relayed path cannot be exercised on this host`,
        coturnOr(x, 'to measure the relayed path on a loopback test server, let it accept loopback peers (never in production)',
          'to measure the relayed path on a loopback test server, start it with allow-loopback-peers (never in production)'));
    } else if (err instanceof TurnErrorResponse) {
      add('permission', 'fail', `CreatePermission toward our own relayed address was refused: ${what}`,
        coturnOr(x, `the server forbids its own relay addresses as peers (${relayB.address}): two clients of this server could then never reach each other through it`,
          isCode(err, ErrorCodes.Forbidden) ? `the server forbids its own relay range as peers: denied-peer-ip covers ${relayB.address}` : 'see the server log'));
    } else {
      add('permission', 'fail', `CreatePermission toward our own relayed address failed: ${what}`, 'the server did not answer a CreatePermission it should grant: see the server log');
    }
    for (const name of ['relay-indication', 'channel-bind', 'relay-channel', 'channel-rebind']) add(name, 'skip', 'not run: no permission between the two allocations');
    if (o.bandwidth) add('bandwidth', 'skip', 'not run: no permission between the two allocations');
    return undefined;
  }
  const common = { count: o.count, size: o.size, rate: o.rate, drain: Math.max(1000, Math.min(o.timeout, 3000)), ...(o.signal ? { signal: o.signal } : {}) };
  const ends = { a, b, relayA, relayB };
  o.progress?.(`${x.label}: relaying over Send/Data indications`);
  const ind = await measurePath(ends, 'indication', common);
  x.report.paths.push({ ...ind, server: x.label, transport: x.transport, relayA: addr(relayA), relayB: addr(relayB) });

  let chan: PathResult | undefined;
  let bindErr: unknown;
  try {
    await a.channelBind(MIN_CHANNEL, relayB);
    await b.channelBind(MIN_CHANNEL, relayA);
    o.progress?.(`${x.label}: relaying over channels`);
    chan = await measurePath({ ...ends, channelA: MIN_CHANNEL, channelB: MIN_CHANNEL }, 'channel', common);
    x.report.paths.push({ ...chan, server: x.label, transport: x.transport, relayA: addr(relayA), relayB: addr(relayB) });
  } catch (err) {
    if (toRtcprobeError(err).code === 'ABORTED') throw err;
    bindErr = err;
  }

  // Large messages lost: try small ones on the same path before blaming a firewall.
  let sizeLimit: { small: PathResult; size: number } | undefined;
  const lossy = (r: PathResult | undefined) => !r || r.loss > 0.2;
  if (o.size > SMALL_SIZE && lossy(ind) && lossy(chan)) {
    o.progress?.(`${x.label}: trying small messages`);
    const small = chan
      ? await measurePath({ ...ends, channelA: MIN_CHANNEL, channelB: MIN_CHANNEL }, 'channel', { ...common, count: 10, size: SMALL_SIZE, rate: 50 })
      : await measurePath(ends, 'indication', { ...common, count: 10, size: SMALL_SIZE, rate: 50 });
    if (small.loss <= 0.2) sizeLimit = { small, size: o.size };
  }

  pathRow(x, 'relay-indication', 'Send/Data indications', ind, relayA, sizeLimit);
  if (chan) {
    add('channel-bind', 'pass', `channel 0x${MIN_CHANNEL.toString(16)} bound on both allocations`);
    pathRow(x, 'relay-channel', 'ChannelData', chan, relayA, sizeLimit);
  } else {
    add('channel-bind', 'fail', `ChannelBind failed: ${errText(bindErr)}`, 'browsers use channels for media: check the server log');
    add('relay-channel', 'skip', 'not run: no channel');
  }
  if (sizeLimit) {
    const sm = sizeLimit.small;
    add('relay-size', 'fail',
      `${o.size}-byte messages are lost on the relayed path (indications ${ind.received}/${ind.sent}${chan ? `, channels ${chan.received}/${chan.sent}` : ''}), while ${SMALL_SIZE}-byte messages pass (${sm.received}/${sm.sent}): a size limit, not a blocked port`,
      `the path or the server does not carry messages of ${o.size} bytes: a datagram larger than the path MTU (about 1500 bytes with headers) is fragmented and fragments are often dropped, or the server's receive buffer is smaller than the message and truncates it. Media packets stay below about 1200 bytes; retry with a smaller --size to measure the path`,
    );
  } else if (ind.received === 0 && (!chan || chan.received === 0)) {
    add('relay-path', 'fail',
      'allocations and permissions succeed, but not one relayed message arrived, neither through Send indications nor through channels',
      coturnOr(x,
        'the relay port range is most likely blocked by a firewall: open UDP to the server\'s relay port range on the TURN host and in any cloud security group, for traffic between relayed addresses too',
        'the relay port range is most likely blocked by a firewall: open UDP min-port..max-port (coturn default 49152-65535) on the TURN host and in any cloud security group, for traffic between relayed addresses too'));
  }

  if (o.bandwidth) {
    const mode: PathMode | undefined = chan && chan.received > 0 ? 'channel' : ind.received > 0 ? 'indication' : undefined;
    if (!mode) {
      add('bandwidth', 'skip', 'no relayed message came back, so there is no rate to search');
    } else {
      o.progress?.(`${x.label}: searching the relayed bandwidth`);
      await bandwidthCheck(x, mode === 'channel' ? { ...ends, channelA: MIN_CHANNEL, channelB: MIN_CHANNEL } : ends, mode, o.bandwidth);
    }
  }

  // Rebinding the peer to another channel must fail with 400 (RFC 8656 §11.2).
  if (chan) {
    try {
      await a.channelBind(MIN_CHANNEL + 1, relayB);
      add('channel-rebind', 'warn', `binding ${addr(relayB)} to a second channel 0x${(MIN_CHANNEL + 1).toString(16)} was accepted`, 'RFC 8656 §12 requires 400 (Bad Request) when a peer is already bound to another channel');
    } catch (err) {
      if (isCode(err, ErrorCodes.BadRequest)) add('channel-rebind', 'pass', `rebinding the peer to channel 0x${(MIN_CHANNEL + 1).toString(16)} refused with 400, as RFC 8656 requires`);
      else if (toRtcprobeError(err).code === 'TIMEOUT') add('channel-rebind', 'warn', 'rebinding the peer to another channel got no answer at all, where RFC 8656 requires 400 (Bad Request)', 'a server that stays silent instead of answering an error makes clients wait for their retransmission timeout');
      else add('channel-rebind', 'warn', `rebinding the peer to another channel failed, but not with 400: ${errText(err)}`, '');
    }
  } else {
    add('channel-rebind', 'skip', 'not run: no channel');
  }
  return ind.received > 0 || (chan?.received ?? 0) > 0;
}

/**
 * The path between the relay and a peer outside the server, our own UDP
 * socket playing that peer at its server-reflexive address. Relaying between
 * two allocations of one server can work while this fails: a firewall that
 * admits the server's own traffic to the relay ports but not the Internet's.
 */
async function remotePeerCheck(x: ServerCtx, a: TurnClient, relay: TransportAddress, mapped: TransportAddress | undefined, between: boolean | undefined): Promise<void> {
  const { o } = x;
  const add = (name: string, status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.${name}`, status, detail, hint, x.label);
  const skipBoth = (why: string, hint = '') => {
    add('peer-to-relay', 'skip', why, hint);
    add('relay-to-peer', 'skip', why, hint);
  };
  if (x.transport !== 'udp') return skipBoth('not run: our socket plays the outside peer, which needs UDP to the server');
  if (!mapped) return skipBoth('not run: the Allocate response carried no XOR-MAPPED-ADDRESS, so our outside address is unknown');
  try {
    await a.createPermission([mapped]);
  } catch (err) {
    const what = err instanceof TurnErrorResponse ? (err.errorCode ? `${err.errorCode}${err.reason ? ` ${err.reason}` : ''}` : 'an error without ERROR-CODE') : errText(err);
    return skipBoth(`not run: a permission toward our own address ${mapped.address} was refused (${what})${classifyAddress(mapped.address) === 'loopback' ? ': loopback peers are refused, which is the safe setting' : ''}`);
  }
  o.progress?.(`${x.label}: relaying to and from an outside peer`);
  const r = await measureRemotePeer(a, relay, mapped, {
    count: Math.min(o.count, 20), rate: Math.min(o.rate, 100), size: o.size,
    drain: Math.max(1000, Math.min(o.timeout, 2000)), ...(o.signal ? { signal: o.signal } : {}),
  });
  const ok = (d: { sent: number; received: number }) => d.received > 0 && d.received >= d.sent * 0.8;
  const p2r = r.peerToRelay;
  const r2p = r.relayToPeer;
  const firewall = coturnOr(x, 'open UDP to the relay port range from every source, not only from the TURN host itself', 'open UDP min-port..max-port (coturn default 49152-65535) from every source, not only from the TURN host itself');
  if (ok(p2r)) {
    add('peer-to-relay', 'pass', `${p2r.received}/${p2r.sent} datagrams from our socket (outside address ${addr(mapped)}) to the relayed address ${addr(relay)} came back in Data indications`);
  } else {
    add('peer-to-relay', 'fail', `${p2r.received}/${p2r.sent} datagrams sent straight from our socket (outside address ${addr(mapped)}) to the relayed address ${addr(relay)} reached us through the server`,
      between
        ? `relaying between two allocations of this server works, but datagrams from outside to the relayed address do not arrive: a firewall in front of the relay ports admits the server's own traffic and drops inbound UDP from elsewhere, so peers that are not clients of this server cannot reach relayed clients: ${firewall}`
        : `datagrams to the relayed address do not arrive: a firewall most likely drops inbound UDP to the relay ports: ${firewall}`);
  }
  if (ok(r2p)) {
    add('relay-to-peer', 'pass', `${r2p.received}/${r2p.sent} Send indications toward our outside address ${addr(mapped)} arrived on our socket from the relayed address ${addr(relay)}`);
  } else {
    add('relay-to-peer', 'fail', `${r2p.received}/${r2p.sent} Send indications toward our outside address ${addr(mapped)} arrived on our socket from the relayed address ${addr(relay)}`,
      between
        ? 'relaying between two allocations works, but the relay cannot send to an outside address: an outbound firewall on the TURN host drops UDP from the relay ports toward the Internet, or a firewall in front of this machine drops datagrams from the relayed address'
        : 'the relay could not send to an outside address: check outbound UDP from the relay ports on the TURN host, and the firewall in front of this machine');
  }
}

async function bandwidthCheck(x: ServerCtx, ends: Parameters<typeof runBandwidth>[0], mode: PathMode, b: { maxBps: number; lossThreshold: number }): Promise<void> {
  const { o } = x;
  const add = (status: CheckStatus, detail: string, hint = '', label?: string) => x.rows.add(`${x.prefix}.bandwidth`, status, detail, hint, x.label, label);
  const r = await runBandwidth(ends, mode, {
    startBps: Math.min(100_000, b.maxBps),
    maxBps: b.maxBps,
    factor: 2,
    lossThreshold: b.lossThreshold,
    size: BANDWIDTH_SIZE,
    stepMs: 1000,
    drain: Math.max(1000, Math.min(o.timeout, 2000)),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  x.report.bandwidth.push({ ...r, server: x.label, transport: x.transport, mode });
  const pct = `${+(b.lossThreshold * 100).toFixed(2)}%`;
  const what = `${mode === 'channel' ? 'ChannelData' : 'Send/Data indications'}, ${r.size}-byte messages echoed back, ${r.steps.length} steps of 1 s`;
  if (r.bestBps === undefined) {
    add('warn', `no step passed: at the first rate, ${formatBps(r.steps[0]?.targetBps ?? 0)}, ${r.steps[0] ? `${r.steps[0].received}/${r.steps[0].sent} messages came back` : 'nothing was sent'} (${what})`,
      'no throughput figure: the relayed path lost messages even at a low rate; check the relay-path rows and the server load', 'bandwidth not measured');
    return;
  }
  const best = `highest relayed rate with loss <= ${pct}: ${formatBps(r.bestBps)} each way`;
  if (r.stoppedBy === 'loss') {
    add('pass', `${best}; loss began when ${formatBps(r.lossStartBps!)} was sent (${(r.lossStartLoss! * 100).toFixed(1)}% lost) (${what})`,
      coturnOr(x, 'the limit is the server, its uplink or a rate limit on the path, or this machine when it is busy: compare with a run from another host',
        'the limit is the server, its uplink or a rate limit on the path (coturn: max-bps, bps-capacity), or this machine when it is busy: compare with a run from another host'));
  } else if (r.stoppedBy === 'sender') {
    const last = r.steps[r.steps.length - 1]!;
    add('pass', `${best}; this machine could send only ${formatBps(last.sentBps)} of the ${formatBps(last.targetBps)} asked for, so the server's limit lies above (${what})`);
  } else {
    add('pass', `${best}; no loss up to the highest rate tried, ${formatBps(b.maxBps)} (--bandwidth-max) (${what})`);
  }
}

function pathRow(x: ServerCtx, name: string, what: string, r: PathResult, relay: TransportAddress, sizeLimit?: { size: number }): void {
  const add = (status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.${name}`, status, detail, hint, x.label);
  const sizeHint = sizeLimit ? `smaller messages pass: see ${x.prefix}.relay-size: the path or the server limits the message size` : undefined;
  if (r.received === 0) {
    add('fail', `${what}: 0/${r.sent} messages came back through ${addr(relay)}`,
      sizeHint ?? coturnOr(x, 'the relay port range is most likely blocked by a firewall (the server\'s relay ports, UDP)',
        'the relay port range is most likely blocked by a firewall (coturn min-port..max-port, default 49152-65535)'));
    return;
  }
  const rtt = r.rtt!;
  const detail = `${what}: ${r.received}/${r.sent} echoed, loss ${(r.loss * 100).toFixed(1)}%, RTT min ${rtt.min} / median ${rtt.median} / p95 ${rtt.p95} / p99 ${rtt.p99} / max ${rtt.max} ms, jitter ${rtt.jitter} ms, ${r.throughput.messagesPerSecond} msg/s, ${(r.throughput.bitsPerSecond / 1000).toFixed(1)} kbit/s`;
  if (r.loss > 0.2) {
    add('fail', detail, sizeHint ?? coturnOr(x, 'heavy loss on the relayed path: the relay host or its uplink is overloaded, or a rate limit applies',
      'heavy loss on the relayed path: the relay host or its uplink is overloaded, or a rate limit (max-bps / bps-capacity) applies'));
  } else if (r.loss > 0) {
    add('warn', detail, coturnOr(x, 'some relayed messages were lost: check the server load and any bandwidth limit it applies',
      'some relayed messages were lost: check the server load and its max-bps / bps-capacity settings'));
  } else add('pass', detail);
}

async function securityProbes(x: ServerCtx, a: TurnClient, open: (c: TurnCredentials | undefined) => Promise<TurnClient>): Promise<void> {
  const add = (name: string, status: CheckStatus, detail: string, hint = '') => x.rows.add(`security.${name}`, status, detail, hint, x.label);
  const v4 = a.allocation!.relayed.family === 4;
  // An allocation of the other family, when the server has one, for the peers of that family.
  let other: TurnClient | undefined;
  let otherErr: string | undefined;
  try {
    other = await open(x.t.credentials);
    await other.allocate({ family: v4 ? 6 : 4 });
    const mm = other.familyMismatch;
    if (mm) {
      // Permissions on it would say nothing about peers of the family asked for.
      familyMismatchRow(x, mm);
      otherErr = `IPv${mm.asked} was asked for, the server granted IPv${mm.granted.family} ${addr(mm.granted)}`;
      await other.deallocate().catch(() => {});
      other = undefined;
    }
  } catch (err) {
    otherErr = err instanceof TurnErrorResponse ? (err.errorCode ? `${err.errorCode} ${err.reason}` : 'error without ERROR-CODE') : errText(err);
    other = undefined;
  }
  for (const p of FORBIDDEN_PEERS) {
    const name = p.address;
    const isV6 = p.address.includes(':');
    const client = isV6 === !v4 ? a : other;
    try {
      if (!client) {
        add(name, 'pass', `${p.label} ${p.address}: unreachable: the server gave no IPv${isV6 ? 6 : 4} relayed address (${otherErr})`);
        continue;
      }
      await client.createPermission([{ address: p.address }]);
      add(name, 'fail', `the server granted a permission toward ${p.label} ${p.address}: clients could use the relay to reach that address`,
        coturnOr(x, `the server must refuse peers in this range (${p.label}): a relay that reaches loopback, private, link-local or other special addresses lets any client with credentials into the server's own networks (RFC 8656 security considerations)`, p.fix));
    } catch (err) {
      if (isCode(err, ErrorCodes.Forbidden)) add(name, 'pass', `${p.label} ${p.address}: refused with 403`);
      else if (err instanceof TurnErrorResponse) add(name, 'pass', `${p.label} ${p.address}: refused with ${err.errorCode ? `${err.errorCode} ${err.reason}` : 'an error without ERROR-CODE'}`);
      else add(name, 'warn', `${p.label} ${p.address}: no answer (${errText(err)})`, '');
    }
  }
  if (other?.allocation) await other.deallocate().catch(() => {});
}

function familyMismatchRow(x: ServerCtx, mm: NonNullable<TurnClient['familyMismatch']>): void {
  x.rows.add(`${x.prefix}.relay-family`, 'warn',
    `an Allocate with REQUESTED-ADDRESS-FAMILY IPv${mm.asked} was granted an IPv${mm.granted.family} relayed address, ${addr(mm.granted)}: the server ignores the family asked for`,
    `RFC 8656 §7.2: a server that cannot allocate an IPv${mm.asked} address must answer 440 (Address Family not Supported); clients that ask for IPv${mm.asked} get a relay that IPv${mm.asked} peers cannot reach`,
    x.label, 'relay family ignored');
}

async function quotaProbe(x: ServerCtx, open: (c: TurnCredentials | undefined) => Promise<TurnClient>): Promise<void> {
  const add = (status: CheckStatus, detail: string, hint = '') => x.rows.add('quota', status, detail, hint, x.label);
  const extra: TurnClient[] = [];
  // The two allocations of the checks so far (A, B) are still held.
  const held = 2;
  try {
    for (let i = 0; i < x.o.quota; i++) {
      const c = await open(x.t.credentials);
      extra.push(c);
      try {
        await c.allocate(x.relayFamily ? { family: x.relayFamily } : {});
      } catch (err) {
        if (isCode(err, ErrorCodes.AllocationQuotaReached)) {
          add('pass', `allocation quota reached after ${held + i} simultaneous allocations (486)`, '');
          return;
        }
        add('warn', `allocation ${held + i + 1} failed before any quota answer: ${errText(err)}`, '');
        return;
      }
    }
    add('warn', `no quota: ${held + x.o.quota} simultaneous allocations succeeded for one user`, coturnOr(x, 'one leaked credential can exhaust the relay: limit allocations per user and in total (RFC 8656 lets the server answer 486 Allocation Quota Reached)', 'one leaked credential can exhaust the relay: set user-quota and total-quota'));
  } finally {
    await Promise.all(extra.map((c) => c.release()));
    for (const c of extra) c.close();
  }
}

async function tcpRelayProbe(x: ServerCtx, open: (c: TurnCredentials | undefined) => Promise<TurnClient>, remote: { address: string; port: number }): Promise<void> {
  const rowAdd = (name: string, status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.${name}`, status, detail, hint, x.label);
  const add = (status: CheckStatus, detail: string, hint = '') => rowAdd('tcp-allocate', status, detail, hint);
  const skipData = (why: string) => {
    rowAdd('tcp-connect', 'skip', why);
    rowAdd('tcp-relay-data', 'skip', why);
  };
  if (x.transport === 'udp') {
    add('skip', 'RFC 6062 TCP allocations need a TCP or TLS connection to the server');
    skipData('not run: no TCP allocation');
    return;
  }
  let c: TurnClient | undefined;
  try {
    c = await open(x.t.credentials);
    let r;
    try {
      r = await c.allocate({ relayTransport: 'tcp' });
    } catch (err) {
      add('warn', `RFC 6062 TCP allocation refused: ${errText(err)}`, isCode(err, 442) ? coturnOr(x, 'the server does not offer RFC 6062 TCP relaying (442 Unsupported Transport Protocol)', 'TCP relaying is off (no-tcp-relay)') : '');
      skipData('not run: no TCP allocation');
      return;
    }
    add('pass', `RFC 6062 TCP allocation: relayed address ${addr(r.relayed)}`);
    // Connect toward a TCP listener of ours, ConnectionBind on a second connection, then bytes echoed by the listener.
    x.o.progress?.(`${x.label}: relaying over TCP (RFC 6062)`);
    try {
      const d = await measureTcpRelay(c, {
        remote,
        tls: x.transport === 'tls',
        ...(x.t.spec.host !== remote.address ? { servername: x.t.spec.host } : {}),
        ...(x.o.ca ? { ca: x.o.ca } : {}),
        peerAddress: c.local.address,
        bytes: 16384,
        timeout: x.o.timeout,
        ...(x.o.signal ? { signal: x.o.signal } : {}),
      });
      rowAdd('tcp-connect', 'pass', `Connect toward our TCP listener on ${c.local.address} granted CONNECTION-ID ${d.connectionId}${d.peerSaw ? `; the relay connected from ${addr(d.peerSaw)}` : ''}`);
      if (d.echoed === d.sent) rowAdd('tcp-relay-data', 'pass', `ConnectionBind accepted; ${d.sent} bytes echoed through the relayed TCP connection in ${d.durationMs} ms`);
      else rowAdd('tcp-relay-data', 'fail', `ConnectionBind accepted, but only ${d.echoed} of ${d.sent} bytes came back through the relayed TCP connection`, 'the relayed TCP connection stalls: check the server log');
    } catch (err) {
      const e = err instanceof TcpRelayError ? err : undefined;
      const inner = e?.inner ?? toRtcprobeError(err);
      if (inner.code === 'ABORTED') throw inner;
      const what = err instanceof TcpRelayError && err.inner instanceof TurnErrorResponse ? err.inner.message : `${inner.code}: ${inner.message}`;
      if (!e || e.stage === 'permission' || e.stage === 'connect') {
        const loop = classifyAddress(c.local.address) === 'loopback';
        if (loop && inner instanceof TurnErrorResponse) {
          rowAdd('tcp-connect', 'skip', `the server refuses our loopback address as a peer (${what}), which is the safe setting: the TCP relay path cannot be exercised on this host`);
        } else {
          rowAdd('tcp-connect', 'fail', `Connect toward our TCP listener on ${c.local.address} failed: ${what}`,
            isCode(inner, 447) ? 'the relay could not open a TCP connection to the peer (447): a firewall on the TURN host or in front of this machine blocks it' : 'see the server log');
        }
        rowAdd('tcp-relay-data', 'skip', 'not run: no connection to the peer');
      } else {
        rowAdd('tcp-connect', 'pass', 'Connect toward our TCP listener granted a CONNECTION-ID');
        rowAdd('tcp-relay-data', 'fail', `${e.stage === 'bind' ? 'ConnectionBind' : 'relayed TCP data'} failed: ${what}`, e.stage === 'bind' ? 'the server did not bind the data connection to the peer connection (RFC 6062 §5.3)' : 'the relayed TCP connection carried no data back');
      }
    }
    await c.deallocate().catch(() => {});
  } catch (err) {
    add('warn', `RFC 6062 TCP allocation failed: ${errText(err)}`);
    skipData('not run: no TCP allocation');
  } finally {
    c?.close();
  }
}

async function deallocateCheck(x: ServerCtx, a: TurnClient): Promise<void> {
  const add = (status: CheckStatus, detail: string, hint = '') => x.rows.add(`${x.prefix}.deallocate`, status, detail, hint, x.label);
  try {
    await a.deallocate();
  } catch (err) {
    add('fail', `Refresh with LIFETIME=0 failed: ${errText(err)}`, 'allocations will linger until they expire, holding relay ports');
    return;
  }
  // coturn frees the allocation on its next timer tick, so poll (bounded).
  const t0 = performance.now();
  const limit = Math.max(3000, x.o.timeout);
  for (;;) {
    try {
      await a.allocate(x.relayFamily ? { family: x.relayFamily } : {});
      add('pass', `LIFETIME=0 accepted and the allocation freed: a new Allocate on the same 5-tuple succeeded after ${Math.round(performance.now() - t0)} ms`);
      await a.deallocate().catch(() => {});
      return;
    } catch (err) {
      if (x.transport !== 'udp' && toRtcprobeError(err).code === 'CONNECTION') {
        // Over TCP/TLS the connection is the 5-tuple: coturn closes it along with the allocation.
        add('pass', `LIFETIME=0 accepted and the allocation freed: the server closed the ${x.transport.toUpperCase()} connection that carried it after ${Math.round(performance.now() - t0)} ms`);
        return;
      }
      if (!isCode(err, ErrorCodes.AllocationMismatch)) {
        add('warn', `LIFETIME=0 accepted; re-allocating on the same 5-tuple then failed: ${errText(err)}`, '');
        return;
      }
    }
    if (performance.now() - t0 > limit) {
      add('fail', `LIFETIME=0 accepted, but the allocation still exists after ${limit} ms (437 to a new Allocate)`, 'the server does not free allocations on request');
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

