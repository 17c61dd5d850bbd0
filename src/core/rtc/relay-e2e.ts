/**
 * The WebRTC path through one TURN server and transport, end to end: two
 * werift peers in this process, both relay-only through that server (host
 * candidates never leave the SDP), a relay/relay selected pair, DTLS, SCTP,
 * a reliable data channel and probes with their round trip.
 */
import type { RTCPeerConnection } from 'werift';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import type { IceServer } from '../ice/servers.js';
import { runProbes, startEcho } from './channel.js';
import { describeFailure, NO_ANSWER, openTurnAllocation, planGathering } from './gather.js';
import { RtcPeer } from './peer.js';
import type { SelectedPair } from './types.js';

export interface RelayE2eOptions {
  /** exactly one TURN URL with credentials */
  server: IceServer;
  timeoutMs: number;
  signal: AbortSignal;
  probes?: number;
  /** loopback tests: host addresses werift should use */
  additionalHostAddresses?: string[];
  /** TLS options for a turns: URL (a test CA, a server name); default: the system's CAs. */
  tls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
}

export type RelayE2ePhase = 'gathering' | 'ice' | 'dtls' | 'sctp' | 'probes';

export interface RelayE2eResult {
  url: string;
  transport: 'udp' | 'tcp' | 'tls';
  ok: boolean;
  verdict: 'works' | 'failed' | 'not-verified';
  connectMs?: { gathering?: number; ice?: number; dtls?: number; channel?: number; total: number };
  rttMs?: { min: number; p50: number; max: number; samples: number };
  pair?: { local: string; remote: string };
  error?: { code: string; message: string; phase: RelayE2ePhase };
  reason?: string;
  /** Probes sent and echoed. */
  probes?: { sent: number; received: number };
  /** How werift's peers actually reached the TURN server (udp/tcp/tls), read from their TURN clients. */
  relayTransportUsed?: string[];
  /** The TURN error code of the pre-flight allocation, when the server refused it. */
  turnErrorCode?: number;
}

const DEFAULT_PROBES = 10;

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

function describePair(p: SelectedPair['local']): string {
  return `${p.type} ${p.address ?? '?'}:${p.port ?? '?'}${p.protocol ? `/${p.protocol}` : ''}`;
}

/** How werift actually reached the TURN server: it falls back from UDP to TCP without saying so. */
export function turnTransportsInUse(pc: RTCPeerConnection): string[] {
  const out: string[] = [];
  for (const t of pc.iceTransports) {
    for (const p of (t.connection as unknown as { protocols?: unknown[] }).protocols ?? []) {
      const type = (p as { turn?: { transport?: { type?: unknown } } }).turn?.transport?.type;
      if (typeof type === 'string') out.push(type);
    }
  }
  return out;
}

class PhaseError extends Error {
  constructor(readonly phase: RelayE2ePhase, readonly inner: RtcprobeError) {
    super(inner.message);
  }
}

/**
 * Connect two relay-only werift peers through `o.server` and exchange probes.
 * Never throws for a network outcome: a failure is a result with its phase.
 * Throws `USAGE` when the server is not exactly one TURN URL with credentials.
 */
export async function relayEndToEnd(o: RelayE2eOptions): Promise<RelayE2eResult> {
  if (o.server.urls.length !== 1) throw new RtcprobeError('USAGE', `relay end to end takes exactly one TURN URL (got ${o.server.urls.length})`);
  const url = o.server.urls[0]!;
  const plan = planGathering([o.server]);
  if (plan.invalid.length) throw new RtcprobeError('USAGE', plan.invalid[0]!.reason);
  const target = plan.turn[0];
  const unsupported = plan.unsupported[0];
  if (!target) {
    if (!/^turns?:/i.test(url)) throw new RtcprobeError('USAGE', `"${url}" is not a turn: or turns: URL`);
    const transport = /^turns:/i.test(url) ? 'tls' : /transport=tcp/i.test(url) ? 'tcp' : 'udp';
    return { url, transport, ok: false, verdict: 'not-verified', reason: unsupported?.reason ?? 'werift cannot use this URL' };
  }
  const base = { url, transport: target.transport };
  const deadline = performance.now() + o.timeoutMs;
  const left = () => Math.max(1, deadline - performance.now());
  const failed = (phase: RelayE2ePhase, err: unknown, extra: Partial<RelayE2eResult> = {}): RelayE2eResult => {
    const e = toRtcprobeError(err);
    if (e.code === 'ABORTED') return { ...base, ...extra, ok: false, verdict: 'not-verified', reason: 'aborted', error: { code: e.code, message: e.message, phase } };
    return { ...base, ...extra, ok: false, verdict: 'failed', error: { code: e.code, message: e.message, phase } };
  };

  // Pre-flight: one allocation with werift's TURN client on this transport. A refusal gives its code at
  // once; werift's peer would only time out (after ~13 s) and report no relay candidate.
  let closeTransport: (() => Promise<void>) | undefined;
  try {
    const allocation = openTurnAllocation(target, { ...(o.tls ? { tls: o.tls } : {}), onTransport: (c) => (closeTransport = c) });
    allocation.catch(() => undefined);
    const turn = await withLimit(allocation, left(), o.signal, 'the TURN allocation did not complete');
    await turn.close().catch(() => undefined);
  } catch (err) {
    await closeTransport?.().catch(() => undefined);
    if (err instanceof RtcprobeError) return failed('gathering', err);
    const d = describeFailure(err);
    const code = d.errorCode === NO_ANSWER ? (/ECONNREFUSED/.test(d.errorText) ? 'UNREACHABLE' : 'TIMEOUT') : d.errorCode !== undefined ? 'STUN_ERROR_RESPONSE' : d.errorText.startsWith('TLS') ? 'TLS' : 'CONNECTION';
    return {
      ...base, ok: false, verdict: 'failed', ...(d.errorCode !== undefined && d.errorCode !== NO_ANSWER ? { turnErrorCode: d.errorCode } : {}),
      error: { code, message: `${d.errorCode !== undefined ? `${d.errorCode} ` : ''}${d.errorText}`, phase: 'gathering' },
    };
  }

  const peerOptions = {
    iceServers: [{ urls: [url], username: target.username, credential: target.credential }],
    relayOnly: true,
    ...(o.additionalHostAddresses?.length ? { additionalHostAddresses: o.additionalHostAddresses } : {}),
    ...(o.tls ? { turnTls: o.tls } : {}),
  };
  const t0 = performance.now();
  const since = (at: number | undefined) => (at === undefined ? undefined : round(at - t0));
  let offerer: RtcPeer | undefined;
  let answerer: RtcPeer | undefined;
  try {
    offerer = new RtcPeer({ ...peerOptions, startedAtMs: t0 });
    answerer = new RtcPeer({ ...peerOptions, startedAtMs: t0 });
    const a = offerer;
    const b = answerer;
    const w = () => ({ timeoutMs: left(), signal: o.signal });
    const phase = async <T>(p: RelayE2ePhase, f: () => Promise<T>): Promise<T> => {
      try {
        return await f();
      } catch (err) {
        throw new PhaseError(p, toRtcprobeError(err));
      }
    };
    const answer = await phase('gathering', async () => {
      const offer = await a.offer(w());
      const ans = await b.answer(offer, w());
      await a.accept(ans);
      return ans;
    });
    void answer;
    const gathered = performance.now();
    await phase('ice', () => Promise.all([a.connected(w()), b.connected(w())]).then(() => undefined)).catch((err: PhaseError) => {
      // connected() covers ICE and DTLS: it was DTLS when ICE itself came up.
      if (a.marks.iceConnected !== undefined && b.marks.iceConnected !== undefined) throw new PhaseError('dtls', err.inner);
      throw err;
    });
    const sel = await a.selectedPair();
    const pair = sel ? { local: describePair(sel.local), remote: describePair(sel.remote) } : undefined;
    if (sel?.local.type !== 'relay' || sel.remote.type !== 'relay') {
      throw new PhaseError('ice', new RtcprobeError('NO_RELAY_CANDIDATE', `the selected pair is not relay/relay (${pair ? `${pair.local} -> ${pair.remote}` : 'none'})`));
    }
    const used = [...new Set([...turnTransportsInUse(a.pc), ...turnTransportsInUse(b.pc)])];
    if (used.length === 0) throw new PhaseError('ice', new RtcprobeError('INTERNAL', 'connected, but werift shows no TURN client'));
    const [ca, cb] = await phase('sctp', () => Promise.all([a.dataChannels(w()), b.dataChannels(w())]));
    const connectMs = {
      gathering: round(gathered - t0),
      ice: since(Math.max(a.marks.iceConnected ?? NaN, b.marks.iceConnected ?? NaN)),
      dtls: since(Math.max(a.marks.dtlsConnected ?? NaN, b.marks.dtlsConnected ?? NaN)),
      channel: round(performance.now() - t0),
      total: round(performance.now() - t0),
    };
    const stop = startEcho(cb.reliable);
    const count = Math.max(1, o.probes ?? DEFAULT_PROBES);
    const r = await phase('probes', () => runProbes(ca.reliable, { count, sequential: true, timeoutMs: left(), signal: o.signal }));
    stop();
    const probes = { sent: r.sent, received: r.received };
    if (r.received === 0) {
      return failed('probes', new RtcprobeError('TIMEOUT', `none of ${r.sent} probes came back through the relay`), { connectMs: clean(connectMs), ...(pair ? { pair } : {}), probes });
    }
    const sorted = [...r.rttMs].sort((x, y) => x - y);
    const rttMs = { min: round(sorted[0]!), p50: round(sorted[Math.ceil(sorted.length / 2) - 1]!), max: round(sorted.at(-1)!), samples: sorted.length };
    const wrongTransport = used.find((t) => t !== target.transport);
    if (wrongTransport) {
      return {
        ...base, ok: false, verdict: 'not-verified', connectMs: clean(connectMs), rttMs, ...(pair ? { pair } : {}), probes, relayTransportUsed: used,
        reason: `werift reached the TURN server over ${wrongTransport.toUpperCase()}, not ${target.transport.toUpperCase()} (it falls back from UDP to TCP when the UDP allocation fails)`,
      };
    }
    return { ...base, ok: r.received === r.sent, verdict: r.received === r.sent ? 'works' : 'failed', connectMs: clean(connectMs), rttMs, ...(pair ? { pair } : {}), probes, relayTransportUsed: used,
      ...(r.received === r.sent ? {} : { error: { code: 'TIMEOUT', message: `${r.sent - r.received} of ${r.sent} probes did not come back`, phase: 'probes' as const } }) };
  } catch (err) {
    if (err instanceof PhaseError) return failed(err.phase, err.inner);
    return failed('gathering', err);
  } finally {
    await Promise.all([offerer?.close(), answerer?.close()]);
  }
}

function clean<T extends Record<string, number | undefined>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !Number.isNaN(v))) as T;
}

function withLimit<T>(p: Promise<T>, timeoutMs: number, signal: AbortSignal, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal.reason }));
    const onAbort = () => done(() => reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal.reason })));
    const timer = setTimeout(() => done(() => reject(new RtcprobeError('TIMEOUT', `${what} within ${Math.round(timeoutMs)} ms`))), timeoutMs);
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      f();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => done(() => resolve(v)), (e: unknown) => done(() => reject(e)));
  });
}
