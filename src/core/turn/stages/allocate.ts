/**
 * Stage 2, the allocation and its authentication: REST credential expiry by
 * the local clock (before any server is asked), the 401 challenge, whether
 * the credentials are accepted (and why not: wrong user, wrong secret, a
 * clock ahead), the relayed address and whether peers can use it.
 * Rows: credentials.expiry, reach (UDP), auth-challenge, auth, allocate,
 * stale-allocation, allocate-family, relay-family.
 */
import { toRtcprobeError } from '../../errors.js';
import { Attr, ErrorCodes } from '../../stun/constants.js';
import { readString, type TransportAddress } from '../../stun/attributes.js';
import { classifyAddress, isNonPublic } from '../addresses.js';
import { openTurnTransport, TurnClient, TurnErrorResponse } from '../client.js';
import { addr, errText, isCode, type Endpoint, type OpenedClient, type ServerCheck, type TurnCheckOptions, type TurnTarget } from '../context.js';
import { maskSecret } from '../../secrets.js';
import { restExpiryOf } from '../../ice/rest.js';
import {
  ALLOCATE_ERRORS, NO_IPV4_RELAY, OPEN_RELAY, pickWording, relayElsewhere, relayUnreachable, restRefused, WRONG_SECRET, wrongUser,
} from '../hints.js';
import { POST_AUTH_ERRORS } from '../protocol.js';
import type { Rows } from '../report.js';

/** Credential rows that need no network: REST expiry against the local clock. */
export function credentialRows(targets: TurnTarget[], o: TurnCheckOptions, rows: Rows): void {
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
      rows.add(id, 'fail', `the REST username ${maskSecret(c.username)} expired at ${when}, ${-left} s ago by the local clock`,
        'these time-limited credentials are stale: fetch fresh ones from the issuing service. If they were just issued, the issuer\'s clock is behind this machine\'s (or its TTL is too short): check NTP on both', t.spec.input);
    } else if (left < 60) {
      rows.add(id, 'warn', `the REST username expires in ${left} s (at ${when})`, 'calls that start later will fail authentication: issue credentials with a longer TTL', t.spec.input);
    } else {
      rows.add(id, 'pass', `the REST username is valid for ${left} s more (until ${when}) by the local clock`);
    }
  }
}

/**
 * Allocate, moving to a new local port when the server still holds an
 * allocation for this 5-tuple (437: a stale one of an earlier process that
 * had the same ephemeral port). RFC 8656 §7.3 expects exactly that of clients.
 */
export async function allocateFresh(x: ServerCheck, c: TurnClient, p: Parameters<TurnClient['allocate']>[0] = {}): Promise<TurnClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      await c.allocate(p);
      return c;
    } catch (err) {
      if (!isCode(err, ErrorCodes.AllocationMismatch) || attempt >= 2 || c.allocation) throw err;
      x.staleTuples++;
      c.close();
      c = await x.open(c.auth.credentials);
    }
  }
}

/**
 * Allocate on the connected client `a`: challenge, authentication, relayed
 * address. Returns the client holding the allocation (a new one when the
 * first 5-tuple was stale), or undefined when no allocation was made.
 */
export async function allocate(x: ServerCheck, a: OpenedClient): Promise<TurnClient | undefined> {
  const { t, transport } = x;
  const remote = x.remote!;
  x.progress('allocating');
  let c: TurnClient = a;
  let familyNote: string | undefined;
  try {
    try {
      c = await allocateFresh(x, c);
    } catch (err) {
      // RFC 8656 §7.1: without REQUESTED-ADDRESS-FAMILY the server must give an IPv4 relay.
      // A server with only IPv6 relay addresses answers 440: retry asking for IPv6.
      if (!isCode(err, ErrorCodes.AddressFamilyNotSupported)) throw err;
      c = await allocateFresh(x, c, { family: 6 });
      x.relayFamily = 6;
      if (c.familyMismatch) familyMismatchRow(x, c.familyMismatch);
      familyNote = 'the server has no IPv4 relay address: an Allocate without REQUESTED-ADDRESS-FAMILY (what most clients send) is refused with 440; this run continues with an IPv6 relay';
    }
    if (transport === 'udp') x.add('reach', 'pass', `UDP ${addr(remote)} answers`);
    if (c.auth.realm !== undefined) {
      x.add('auth-challenge', 'pass', `unauthenticated Allocate challenged with 401, REALM "${c.auth.realm}" and a NONCE`);
      // Accepted credentials are proven by a success response whose MESSAGE-INTEGRITY verifies with our key.
      const integrity = c.allocateAnswer!.integrity;
      if (integrity === 'ok') {
        x.add('auth', 'pass', `authenticated as ${maskSecret(t.credentials?.username)} in realm "${c.auth.realm}"`);
      } else {
        x.add('auth', 'warn', `the Allocate succeeded as ${maskSecret(t.credentials?.username)} in realm "${c.auth.realm}", but the response ${integrity === 'mismatch' ? 'MESSAGE-INTEGRITY does not verify' : 'carries no MESSAGE-INTEGRITY'}: the server did not prove it knows the credentials`,
          'RFC 8489 §9.2.4 requires success responses to signed requests to carry MESSAGE-INTEGRITY made with the same key; clients that check it (browsers do) may discard the answer',
          integrity === 'mismatch' ? 'response integrity does not verify' : 'response without integrity');
      }
      x.info.realm = c.auth.realm;
    } else {
      x.add('auth-challenge', 'fail', 'the server allocated a relay without asking for credentials: anyone can use it as an open relay', x.hint(OPEN_RELAY));
      x.add('auth', 'skip', 'the server does not authenticate');
    }
  } catch (err) {
    await allocateFailure(x, c, err, remote);
    return undefined;
  }
  const al = c.allocation!;
  x.allocated = true;
  x.info.relayed = addr(al.relayed);
  if (al.mapped) x.info.mapped = addr(al.mapped);
  if (al.lifetime !== undefined) x.info.lifetime = al.lifetime;
  if (al.software) x.info.software = al.software;
  relayRow(x, al.relayed, remote.address, al.mapped, al.lifetime);
  if (x.staleTuples > 0) {
    x.add('stale-allocation', 'warn', `the server answered 437 (Allocation Mismatch) to ${x.staleTuples} first Allocate(s): it still held an allocation for that local address and port, left by an earlier client; a new local port worked`,
      'harmless for this check; frequent 437s mean clients end without deallocating (their allocations live until the lifetime expires)');
  }
  if (familyNote) x.add('allocate-family', 'warn', familyNote, x.hint(NO_IPV4_RELAY));
  return c;
}

async function allocateFailure(x: ServerCheck, a: TurnClient, err: unknown, remote: Endpoint): Promise<void> {
  const { t, o, transport } = x;
  if (!(err instanceof TurnErrorResponse)) {
    const e = toRtcprobeError(err);
    if (transport === 'udp' && e.code === 'STUN_BAD_RESPONSE') {
      // It answered, but not as a TURN server does: reachable, and the answer is the problem.
      x.add('reach', 'pass', `UDP ${addr(remote)} answers`);
      x.add('allocate', 'fail', `Allocate failed: ${e.message}`, 'the server answered, but not as a TURN server: is this port really a TURN server (and not a plain STUN server)?');
    } else if (transport === 'udp') {
      x.add('reach', 'fail', `UDP ${addr(remote)}: ${e.message}`,
        e.code === 'UNREACHABLE'
          ? `ICMP port unreachable: nothing listens on UDP ${remote.port}; is the TURN server running on this port?`
          : `no answer: the server is down, the port is wrong, or a firewall drops UDP ${remote.port}`);
    } else {
      x.add('allocate', 'fail', `Allocate failed: ${e.code}: ${e.message}`, 'the server accepted the connection but did not answer TURN: is this port really a TURN server?');
    }
    return;
  }
  if (transport === 'udp') x.add('reach', 'pass', `UDP ${addr(remote)} answers`);
  const realm = a.auth.realm ?? (err.response ? readString(err.response, Attr.Realm) : undefined);
  const nonce = err.response ? readString(err.response, Attr.Nonce) : a.auth.nonce;
  const challenged = a.auth.realm !== undefined || (err.errorCode === ErrorCodes.Unauthorized && realm !== undefined);
  if (challenged) {
    x.add('auth-challenge', realm !== undefined && (nonce !== undefined || a.auth.nonce !== undefined) ? 'pass' : 'warn',
      `unauthenticated Allocate challenged with 401, REALM "${realm ?? '(none)'}"${nonce !== undefined || a.auth.nonce ? ' and a NONCE' : ', no NONCE'}`);
  } else if (err.errorCode === ErrorCodes.Unauthorized) {
    x.add('auth-challenge', 'fail', `401 without REALM/NONCE: ${err.message}`, 'a TURN server must send REALM and NONCE with 401 (RFC 8656 §7.2)');
  } else {
    x.add('auth-challenge', 'warn', `unauthenticated Allocate answered ${err.errorCode} ${err.reason}`, '');
  }
  if (!t.credentials) {
    if (err.errorCode === ErrorCodes.Unauthorized) {
      x.unverifiedReason = t.origin === 'ice-servers'
        ? 'its iceServers entry has no username and credential, so no allocation or relay was tested'
        : 'no credentials were given, so no allocation or relay was tested';
      x.add('auth', 'skip',
        t.origin === 'ice-servers'
          ? 'the iceServers entry of this URL has no username and credential, and no --user/--password or --secret was given'
          : 'no credentials given (--user/--password, --secret or --ice-servers)',
        'without credentials no allocation can be made, so the relay is not verified: give credentials to test allocations and the relayed path');
    }
    else x.add('allocate', 'fail', err.message, '');
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
      hint = left <= 0 ? `the REST username expired ${-left} s ago: fetch fresh credentials` : x.hint(restRefused(left));
    } else {
      hint = x.hint(wrongUser(realm ?? '?'));
    }
    if (badRequestSigned) {
      x.add('auth', 'fail', `the server refused the first signed request with 400${err.reason ? ` "${err.reason}"` : ''} (user ${maskSecret(t.credentials.username)}, realm "${realm ?? '?'}"): credentials rejected, or the request malformed`,
        t.source === 'rest-secret' ? hint : `a wrong password or an unknown user is the likely cause (some servers answer 400 instead of 401 when MESSAGE-INTEGRITY does not verify): ${hint}`);
    } else {
      x.add('auth', 'fail', `the server rejected these credentials (user ${maskSecret(t.credentials.username)}, realm "${realm ?? '?'}"): 401 again after a signed request`, hint);
    }
    return;
  }
  if (err.errorCode === ErrorCodes.WrongCredentials) {
    x.add('auth', 'fail', `the server rejected these credentials: ${err.message}`, 'the user name or password is wrong');
    return;
  }
  if (err.signed && POST_AUTH_ERRORS.has(err.errorCode)) {
    x.add('auth', 'pass', `credentials accepted (the Allocate failed later, with ${err.errorCode}, an error sent only after authentication)`);
  } else {
    x.add('auth', 'skip', `not established: the ${err.signed ? 'signed ' : ''}Allocate was refused with ${err.errorCode || 'an error without ERROR-CODE'}, which does not tell whether the credentials are accepted`);
  }
  const h = ALLOCATE_ERRORS[err.errorCode];
  x.add('allocate', 'fail', err.message, h ? x.hint(h) : 'see the server log');
}

/** REST credentials made here were refused: does a username that expires a week later pass (the server's clock is ahead)? */
async function skewHint(x: ServerCheck, remote: Endpoint, expiry: number): Promise<string> {
  const { t, o } = x;
  const probeExpiry = expiry + 7 * 24 * 3600;
  let c: TurnClient | undefined;
  try {
    const ch = await openTurnTransport({ remote, family: o.family, transport: x.transport, insecure: true, timeout: o.timeout, ...x.signalOption });
    c = new TurnClient(ch, { credentials: t.resign!(probeExpiry), timeout: o.timeout, ...x.signalOption });
    await c.allocate();
    await c.deallocate().catch(() => {});
    return `credentials signed with the same secret but expiring a week later ARE accepted: the server's clock is ahead of ours by more than the TTL (${o.ttl ?? '?'} s). Fix NTP on the server or this machine, or raise --ttl`;
  } catch (err) {
    if (err instanceof TurnErrorResponse && (err.rejected || (err.signed && err.errorCode === ErrorCodes.BadRequest))) return x.hint(WRONG_SECRET);
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
  const externalHint = pickWording(coturn, relayUnreachable(relayed));
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
    return { status: 'warn', note: `: differs from the address the server was reached on (${serverAddress})`, hint: pickWording(coturn, relayElsewhere(serverAddress)) };
  }
  return { status: 'pass', note: '', hint: '' };
}

function relayRow(x: ServerCheck, relayed: TransportAddress, serverAddress: string, mapped: TransportAddress | undefined, lifetime?: number): void {
  const base = `relayed address ${addr(relayed)}${mapped ? `, our address as the server sees it ${addr(mapped)}` : ''}${lifetime !== undefined ? `, lifetime ${lifetime} s` : ''}`;
  const v = judgeRelayAddress(relayed.address, serverAddress, x.coturn);
  x.add('allocate', v.status, `${base}${v.note}`, v.hint);
}

/** An Allocate that asked for one address family and was granted the other. */
export function familyMismatchRow(x: ServerCheck, mm: NonNullable<TurnClient['familyMismatch']>): void {
  x.add('relay-family', 'warn',
    `an Allocate with REQUESTED-ADDRESS-FAMILY IPv${mm.asked} was granted an IPv${mm.granted.family} relayed address, ${addr(mm.granted)}: the server ignores the family asked for`,
    `RFC 8656 §7.2: a server that cannot allocate an IPv${mm.asked} address must answer 440 (Address Family not Supported); clients that ask for IPv${mm.asked} get a relay that IPv${mm.asked} peers cannot reach`,
    'relay family ignored');
}
