/**
 * ICE gathering with werift, as a browser does it with an RTCConfiguration:
 * host candidates, a server-reflexive candidate per STUN URL and host
 * socket, a relay candidate per TURN URL, each with the time it took, and
 * an error row per failing URL (the `icecandidateerror` events).
 *
 * A werift RTCPeerConnection uses only the first STUN and the first TURN URL
 * of its configuration and keeps failures to itself, so this module drives
 * werift's own pieces per URL instead: its ICE `Connection` for the
 * host sockets, its STUN client for the Binding requests, and its TURN client
 * (`TurnProtocol` over `UdpTransport`, `TcpTransport` or `TlsTransport`) for
 * the allocations.
 */
import { isIP } from 'node:net';
import {
  Candidate, Connection, Message, TcpTransport, TlsTransport, TurnProtocol, UdpTransport,
  candidateFoundation, candidatePriority, classes, methods, type StunProtocol,
} from 'werift';
import type { IceServer } from '../ice/servers.js';
import { parseServer, type ServerSpec } from '../uri.js';
import { decodeMessage, getAttribute, stunFrameLength } from '../stun/message.js';
import { decodeErrorCode } from '../stun/attributes.js';
import { Attr, StunClass, StunMethod } from '../stun/constants.js';

export interface GatherOptions {
  iceServers: IceServer[];
  timeoutMs: number;
  signal: AbortSignal;
  /** loopback-only host candidates (tests) */
  loopback?: boolean;
  /** e.g. ['127.0.0.1'] */
  additionalHostAddresses?: string[];
  /** TLS options for turns: URLs (a test CA, or a server name other than the host). Default: the system's CAs. */
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
}

export interface GatheredCandidate {
  type: 'host' | 'srflx' | 'prflx' | 'relay';
  protocol: 'udp' | 'tcp';
  address: string;
  port: number;
  relayProtocol?: 'udp' | 'tcp' | 'tls';
  /** the ICE server URL that produced it (srflx/relay) */
  url?: string;
  /** ms since gathering started */
  atMs: number;
  candidate: string;
  /** raddr/rport of srflx and relay candidates (the host socket, or the address the TURN server saw). */
  relatedAddress?: string;
  relatedPort?: number;
}

export interface GatherError {
  url: string;
  /** STUN/TURN error code or 701 as browsers use for "no answer" */
  errorCode?: number;
  errorText: string;
  atMs: number;
}

export interface GatherReport {
  candidates: GatheredCandidate[];
  errors: GatherError[];
  firstMs?: number;
  lastMs?: number;
  completeMs?: number;
  timedOut: boolean;
  /** true when the signal stopped the gathering (the report holds what arrived until then). */
  aborted?: boolean;
  /** what werift cannot do with this config, e.g. a transport it lacks */
  unsupported: { url: string; reason: string }[];
  /** The URLs a werift RTCPeerConnection given this configuration would use (it takes the first STUN and the first TURN URL only). */
  weriftPeerUses: { stun?: string; turn?: string };
}

/** The "no answer" code browsers put in icecandidateerror (RFC 8445 leaves it to them; 701 is what they use). */
export const NO_ANSWER = 701;

type Address = [string, number];

interface StunTarget { url: string; addr: Address }
interface TurnTarget { url: string; addr: Address; transport: 'udp' | 'tcp' | 'tls'; username: string; credential: string }

/** Sort the configuration into what werift can gather from and what it cannot. */
export function planGathering(iceServers: readonly IceServer[]): {
  stun: StunTarget[]; turn: TurnTarget[]; unsupported: { url: string; reason: string }[]; invalid: { url: string; reason: string }[];
  weriftPeerUses: { stun?: string; turn?: string };
} {
  const stun: StunTarget[] = [];
  const turn: TurnTarget[] = [];
  const unsupported: { url: string; reason: string }[] = [];
  const invalid: { url: string; reason: string }[] = [];
  const uses: { stun?: string; turn?: string } = {};
  for (const server of iceServers) {
    for (const url of server.urls) {
      let spec: ServerSpec;
      try {
        spec = parseServer(url);
      } catch (err) {
        invalid.push({ url, reason: (err as Error).message });
        continue;
      }
      const family = isIP(spec.host);
      if (spec.scheme === 'stuns') {
        // werift reads stuns: as plain STUN and sends UDP Binding requests to the TLS port.
        unsupported.push({ url, reason: 'werift has no STUN-over-TLS client (it would send plain UDP Binding requests to this port)' });
        continue;
      }
      if (spec.scheme === 'stun') {
        uses.stun ??= url;
        if (family === 6) {
          unsupported.push({ url, reason: 'werift queries STUN servers only from IPv4 host sockets' });
          continue;
        }
        stun.push({ url, addr: [spec.host, spec.port] });
        continue;
      }
      uses.turn ??= url;
      const transport = spec.scheme === 'turns' ? 'tls' : (spec.transport ?? 'udp');
      if (transport === 'udp' && family === 6) {
        unsupported.push({ url, reason: 'werift\'s TURN client opens an IPv4 UDP socket only (udp4)' });
        continue;
      }
      if (server.username === undefined || server.credential === undefined) {
        unsupported.push({ url, reason: 'a TURN URL without username and credential: browsers refuse the configuration, werift ignores the URL' });
        continue;
      }
      turn.push({ url, addr: [spec.host, spec.port], transport, username: server.username, credential: server.credential });
    }
  }
  return { stun, turn, unsupported, invalid, weriftPeerUses: uses };
}

/** Error code and text of whatever werift's STUN/TURN clients threw. */
export function describeFailure(err: unknown): { errorCode?: number; errorText: string } {
  const e = err as { response?: { getAttributeValue?: (k: string) => unknown }; code?: unknown; message?: unknown; constructor?: { name?: string } } | undefined;
  const own = err as { stunErrorCode?: number; stunReason?: string } | undefined;
  if (typeof own?.stunErrorCode === 'number') return { errorCode: own.stunErrorCode, errorText: own.stunReason || `error ${own.stunErrorCode}` };
  const ec = e?.response?.getAttributeValue?.('ERROR-CODE');
  if (Array.isArray(ec) && typeof ec[0] === 'number') {
    return { errorCode: ec[0], errorText: typeof ec[1] === 'string' && ec[1] ? ec[1] : `error ${ec[0]}` };
  }
  if (e?.constructor?.name === 'TransactionTimeout') return { errorCode: NO_ANSWER, errorText: 'no answer from the server (werift gave up after its retransmissions)' };
  const sys = typeof e?.code === 'string' ? e.code : undefined;
  const msg = typeof e?.message === 'string' && e.message ? e.message : String(err);
  if (sys === 'ECONNREFUSED' || sys === 'EHOSTUNREACH' || sys === 'ENETUNREACH' || sys === 'ETIMEDOUT') return { errorCode: NO_ANSWER, errorText: `no answer from the server: ${msg}` };
  if (sys && (sys.startsWith('ERR_TLS') || sys.includes('CERT') || sys.startsWith('ERR_SSL'))) return { errorText: `TLS: ${msg}` };
  return { errorText: msg };
}

function candidateLine(c: Candidate): string {
  const sdp = c.toSdp();
  return sdp.startsWith('candidate:') ? sdp : `candidate:${sdp}`;
}

/** An error response to an Allocate sent with credentials, which werift would drop (see openTurnAllocation). */
function unsignedRefusal(data: Buffer, turn: TurnProtocol): Error | undefined {
  if (!(turn as unknown as { integrityKey?: Buffer }).integrityKey) return undefined;
  let msg;
  try {
    const len = stunFrameLength(data);
    if (len === undefined || len > data.length) return undefined;
    msg = decodeMessage(data.subarray(0, len));
  } catch {
    return undefined;
  }
  if (msg.cls !== StunClass.ErrorResponse || msg.method !== StunMethod.Allocate) return undefined;
  if (getAttribute(msg, Attr.MessageIntegrity)) return undefined; // signed: werift handles it
  const ec = getAttribute(msg, Attr.ErrorCode);
  if (!ec) return undefined;
  const { code, reason } = decodeErrorCode(ec.value);
  return Object.assign(new Error(reason || `error ${code}`), { stunErrorCode: code, stunReason: reason });
}

/** Open werift's TURN client on the transport and allocate; the caller closes the returned protocol. */
export async function openTurnAllocation(t: TurnTarget, o: { tls?: GatherOptions['tls']; onTransport?: (close: () => Promise<void>) => void }): Promise<TurnProtocol> {
  const transport = t.transport === 'udp'
    ? await UdpTransport.init('udp4')
    : t.transport === 'tcp'
      ? await TcpTransport.init(t.addr)
      : await TlsTransport.init(t.addr, { ...(o.tls ?? {}) });
  const turn = new TurnProtocol(t.addr, t.username, t.credential, 600, transport);
  // Closing ends werift's pending transactions too: their retransmission timers would otherwise keep
  // the process alive for up to ~6 s after the answer is no longer wanted.
  o.onTransport?.(async () => {
    const pending = (turn as unknown as { transactions?: Record<string, { failWithTimeout?: () => void }> }).transactions ?? {};
    for (const tr of Object.values(pending)) tr.failWithTimeout?.();
    await transport.close();
  });
  // werift verifies MESSAGE-INTEGRITY on every answer to an authenticated request, so the 401 a server
  // sends for a wrong password (unsigned: it has no key to sign with) is dropped and the allocation
  // ends in a timeout. Watch the answers on the way in and stop at such a refusal, with its code.
  let refuse!: (e: Error) => void;
  const refused = new Promise<never>((_, reject) => (refuse = reject));
  const allocating = turn.connectionMade();
  const inner = transport.onData;
  transport.onData = (data, addr) => {
    const err = unsignedRefusal(data, turn);
    if (err) refuse(err);
    inner(data, addr);
  };
  try {
    await Promise.race([allocating, refused]);
  } catch (err) {
    allocating.catch(() => undefined);
    await turn.close().catch(() => undefined);
    throw err;
  }
  return turn;
}

/**
 * Gather every candidate the configuration gives, with werift, the way a
 * browser would. Never throws for a failing server: that is an error row.
 * Resolves at the latest at `timeoutMs` (or on abort, with what it has), and
 * only once every socket it opened is closed.
 */
export async function gatherCandidates(o: GatherOptions): Promise<GatherReport> {
  const t0 = performance.now();
  const at = () => Math.round((performance.now() - t0) * 1000) / 1000;
  const plan = planGathering(o.iceServers);
  const report: GatherReport = {
    candidates: [], errors: [], timedOut: false, unsupported: plan.unsupported, weriftPeerUses: plan.weriftPeerUses,
  };
  for (const i of plan.invalid) report.errors.push({ url: i.url, errorText: i.reason, atMs: 0 });
  const add = (c: GatheredCandidate) => {
    report.candidates.push(c);
    report.firstMs ??= c.atMs;
    report.lastMs = c.atMs;
  };
  const closers = new Set<() => Promise<unknown>>();
  const pending = new Set<string>();
  let finished = false;
  const fail = (url: string, err: unknown) => {
    if (finished) return;
    pending.delete(url);
    report.errors.push({ url, ...describeFailure(err), atMs: at() });
  };

  const extra = [...(o.loopback ? ['127.0.0.1'] : []), ...(o.additionalHostAddresses ?? [])];
  // werift's ICE Connection for the host sockets: the same address selection as its RTCPeerConnection.
  const ice = new Connection(true, {
    useIpv4: !o.loopback, useIpv6: !o.loopback, iceLite: false, useTcp: false,
    ...(extra.length ? { additionalHostAddresses: [...new Set(extra)] } : {}),
  });
  // With no STUN server in its options werift's Connection falls back to a public one (stun.l.google.com:19302):
  // it resolves that name and queries it from every host socket, and its gathering waits up to 5 s for the
  // answer. This module queries each configured STUN URL itself, so the Connection must query none.
  ice.stunServer = undefined;
  closers.add(() => ice.close());
  ice.onIceCandidate.subscribe((c) => {
    if (finished || !c) return;
    add({ type: 'host', protocol: c.transport.toLowerCase() === 'tcp' ? 'tcp' : 'udp', address: c.host, port: c.port, atMs: at(), candidate: candidateLine(c) });
  });

  const work: Promise<void>[] = [];
  // Ends werift's STUN transactions still retransmitting when the gathering stops.
  const stunAbort = new AbortController();
  closers.add(async () => stunAbort.abort());
  const hostsDone = ice.gatherCandidates();

  for (const s of plan.stun) {
    pending.add(s.url);
    work.push((async () => {
      await hostsDone.catch(() => undefined);
      const sockets = (ice as unknown as { protocols: StunProtocol[] }).protocols.filter((p) => p.localCandidate?.type === 'host' && isIP(p.localCandidate.host) === 4 && p.localCandidate.transport.toLowerCase() === 'udp');
      if (sockets.length === 0) return fail(s.url, new Error('no IPv4 host socket to send the STUN request from'));
      let lastErr: unknown;
      let got = 0;
      await Promise.all(sockets.map(async (p) => {
        try {
          const [res] = await p.request(new Message(methods.BINDING, classes.REQUEST), s.addr, undefined, { signal: stunAbort.signal });
          const mapped = res.getAttributeValue('XOR-MAPPED-ADDRESS') as Address | undefined;
          const host = p.localCandidate!;
          if (!mapped) throw new Error('the Binding response has no XOR-MAPPED-ADDRESS');
          if (finished) return;
          got++;
          const c = new Candidate(candidateFoundation('srflx', 'udp', host.host), 1, 'udp', candidatePriority('srflx', { transport: 'udp' }), mapped[0], mapped[1], 'srflx', host.host, host.port);
          add({ type: 'srflx', protocol: 'udp', address: mapped[0], port: mapped[1], url: s.url, atMs: at(), candidate: candidateLine(c), relatedAddress: host.host, relatedPort: host.port });
        } catch (err) {
          lastErr = err;
        }
      }));
      if (got === 0) fail(s.url, lastErr);
      else pending.delete(s.url);
    })());
  }

  for (const t of plan.turn) {
    pending.add(t.url);
    work.push((async () => {
      let closeTransport: (() => Promise<void>) | undefined;
      const closer = () => closeTransport?.() ?? Promise.resolve();
      closers.add(closer);
      try {
        const turn = await openTurnAllocation(t, { tls: o.tls, onTransport: (c) => (closeTransport = c) });
        closeTransport = () => turn.close();
        if (finished) {
          await turn.close().catch(() => undefined);
          return;
        }
        const relayed = turn.relayedAddress;
        const mapped = turn.mappedAddress;
        const c = new Candidate(candidateFoundation('relay', 'udp', relayed[0]), 1, 'udp', candidatePriority('relay'), relayed[0], relayed[1], 'relay', mapped?.[0], mapped?.[1]);
        pending.delete(t.url);
        add({
          type: 'relay', protocol: 'udp', address: relayed[0], port: relayed[1], relayProtocol: t.transport, url: t.url, atMs: at(), candidate: candidateLine(c),
          ...(mapped ? { relatedAddress: mapped[0], relatedPort: mapped[1] } : {}),
        });
      } catch (err) {
        fail(t.url, err);
      }
    })());
  }

  const all = Promise.all([hostsDone.catch((err) => fail('host', err)), ...work]).then(() => 'done' as const);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), o.timeoutMs);
    onAbort = () => resolve('aborted');
    if (o.signal.aborted) onAbort();
    else o.signal.addEventListener('abort', onAbort, { once: true });
  });
  const outcome = await Promise.race([all, stop]);
  clearTimeout(timer);
  if (onAbort) o.signal.removeEventListener('abort', onAbort);
  if (outcome === 'done') report.completeMs = at();
  else {
    if (outcome === 'timeout') report.timedOut = true;
    else report.aborted = true;
    const now = at();
    const why = outcome === 'timeout' ? `no answer before the gathering timeout (${o.timeoutMs} ms)` : 'gathering was aborted before the server answered';
    for (const url of pending) report.errors.push({ url, errorCode: NO_ANSWER, errorText: why, atMs: now });
  }
  finished = true;
  // Release every allocation and socket (a TURN client still waiting is closed under its transaction).
  // werift's transactions still retrying then fail on their closed transport and release nothing else.
  await Promise.all([...closers].map((c) => c().catch(() => undefined)));
  report.errors.sort((a, b) => a.atMs - b.atMs);
  return report;
}
