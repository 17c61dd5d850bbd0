/**
 * A live session in one room of a signaling relay, built on SignalClient:
 * join, report the room as it changes (peers joining and leaving, messages
 * received, relay errors), measure round trips through the relay with
 * application pings, optionally send one test message, and stop after a
 * duration, on abort, or when the relay drops the connection. Events go to a
 * callback; the result is a summary. No terminal I/O here.
 */
import { RtcprobeError } from '../errors.js';
import { sleep } from '../sleep.js';
import { summarize, type RttSummary } from '../stats.js';
import { SignalClient } from './client.js';
import type { PeerInfo, PeerMeta, WireErrorCode } from './protocol.js';

export interface JoinSessionOptions {
  url: string;
  room: string;
  peerId?: string;
  token?: string;
  meta?: PeerMeta;
  origin?: string;
  ca?: string | Buffer;
  /** Limit for connecting and joining, and for one ping, ms. */
  timeoutMs: number;
  /** Stop by itself after this long, ms; undefined: run until aborted or disconnected. */
  durationMs?: number;
  /** Interval between pings, ms; 0: no pings. */
  pingIntervalMs: number;
  /** One test message: to one peer (`signal`) or to every other peer (`broadcast`), sent as soon as there is a recipient. */
  send?: { text: string; to?: string };
  signal: AbortSignal;
  onEvent?: (e: JoinEvent) => void;
}

/** Events of a session; `elapsedMs` counts from the start of the session. */
export type JoinEvent =
  | { event: 'joined'; elapsedMs: number; url: string; room: string; peerId: string; peers: PeerInfo[]; iceServers: number }
  | { event: 'peer-joined'; elapsedMs: number; peerId: string; meta?: PeerMeta }
  | { event: 'peer-left'; elapsedMs: number; peerId: string }
  | { event: 'message'; elapsedMs: number; kind: 'signal' | 'broadcast'; from: string; data: unknown }
  | { event: 'sent'; elapsedMs: number; kind: 'signal' | 'broadcast'; to?: string; recipients: number }
  | { event: 'ping'; elapsedMs: number; rttMs: number }
  | { event: 'ping-lost'; elapsedMs: number; timeoutMs: number }
  | { event: 'relay-error'; elapsedMs: number; code: WireErrorCode; message: string; ref?: string }
  | { event: 'disconnected'; elapsedMs: number; code: number; reason: string };

export type StopReason = 'duration' | 'signal' | 'disconnected';

export interface JoinSummary {
  url: string;
  room: string;
  peerId: string;
  durationMs: number;
  stoppedBy: StopReason;
  /** Other peers in the room when the session ended. */
  peers: string[];
  peersJoined: number;
  peersLeft: number;
  received: { signal: number; broadcast: number };
  /** The test message: whether it went out (the relay does not acknowledge delivery) and whether the relay refused it. */
  send?: { kind: 'signal' | 'broadcast'; to?: string; sent: boolean; recipients?: number; refused?: WireErrorCode };
  ping: { sent: number; answered: number; lost: number; rttMs?: RttSummary };
  relayErrors: Record<string, number>;
  disconnected?: { code: number; reason: string };
  /** What went wrong, in words; empty when the session was clean. */
  problems: string[];
}

/**
 * Join and run until the duration elapses, `signal` aborts, or the relay
 * closes the connection. Rejects (SIGNAL_REJECTED with the wire code,
 * CONNECTION, TLS, TIMEOUT, ABORTED) only when the join itself fails.
 */
export async function runJoinSession(o: JoinSessionOptions): Promise<JoinSummary> {
  const t0 = performance.now();
  const elapsed = () => Math.round((performance.now() - t0) * 1000) / 1000;
  const emit = (e: JoinEvent) => o.onEvent?.(e);
  if (o.signal.aborted) throw new RtcprobeError('ABORTED', 'aborted before joining');

  const client = new SignalClient({
    url: o.url,
    room: o.room,
    reconnect: false,
    timeoutMs: o.timeoutMs,
    ...(o.peerId ? { peerId: o.peerId } : {}),
    ...(o.token ? { token: o.token } : {}),
    ...(o.meta ? { meta: o.meta } : {}),
    ...(o.origin ? { origin: o.origin } : {}),
    ...(o.ca ? { ca: o.ca } : {}),
  });
  const onAbortEarly = () => void client.close();
  o.signal.addEventListener('abort', onAbortEarly, { once: true });
  let joined;
  try {
    joined = await client.connect();
  } catch (err) {
    await client.close();
    if (o.signal.aborted) throw new RtcprobeError('ABORTED', 'aborted while joining', { cause: err });
    throw err;
  } finally {
    o.signal.removeEventListener('abort', onAbortEarly);
  }

  const summary: JoinSummary = {
    url: o.url,
    room: joined.room,
    peerId: joined.peerId,
    durationMs: 0,
    stoppedBy: 'signal',
    peers: [],
    peersJoined: 0,
    peersLeft: 0,
    received: { signal: 0, broadcast: 0 },
    ping: { sent: 0, answered: 0, lost: 0 },
    relayErrors: {},
    problems: [],
  };
  emit({ event: 'joined', elapsedMs: elapsed(), url: o.url, room: joined.room, peerId: joined.peerId, peers: joined.peers, iceServers: joined.iceServers?.length ?? 0 });

  // The session ends on the first of: duration, abort, disconnection.
  const stop = new AbortController();
  let stopReason: StopReason | undefined;
  const end = (why: StopReason) => {
    if (stopReason) return;
    stopReason = why;
    stop.abort();
  };
  const onAbort = () => end('signal');
  if (o.signal.aborted) end('signal');
  o.signal.addEventListener('abort', onAbort, { once: true });
  const timer = o.durationMs !== undefined ? setTimeout(() => end('duration'), o.durationMs) : undefined;

  let sentAt: 'signal' | 'broadcast' | undefined;
  if (o.send) summary.send = { kind: o.send.to ? 'signal' : 'broadcast', ...(o.send.to ? { to: o.send.to } : {}), sent: false };
  const trySend = () => {
    const s = o.send;
    if (!s || sentAt || stopReason || !client.connected) return;
    if (s.to) {
      if (!client.peers.has(s.to) && s.to !== client.peerId) return;
      client.signal(s.to, s.text);
      sentAt = 'signal';
      summary.send = { kind: 'signal', to: s.to, sent: true, recipients: 1 };
      emit({ event: 'sent', elapsedMs: elapsed(), kind: 'signal', to: s.to, recipients: 1 });
    } else {
      if (client.peers.size === 0) return;
      client.broadcast(s.text);
      sentAt = 'broadcast';
      summary.send = { kind: 'broadcast', sent: true, recipients: client.peers.size };
      emit({ event: 'sent', elapsedMs: elapsed(), kind: 'broadcast', recipients: client.peers.size });
    }
  };

  client.on('peer-joined', (p) => {
    summary.peersJoined++;
    emit({ event: 'peer-joined', elapsedMs: elapsed(), peerId: p.peerId, ...(p.meta ? { meta: p.meta } : {}) });
    trySend();
  });
  client.on('peer-left', (p) => {
    summary.peersLeft++;
    emit({ event: 'peer-left', elapsedMs: elapsed(), peerId: p.peerId });
  });
  client.on('signal', (m) => {
    summary.received.signal++;
    emit({ event: 'message', elapsedMs: elapsed(), kind: 'signal', from: m.from, data: m.data });
  });
  client.on('broadcast', (m) => {
    summary.received.broadcast++;
    emit({ event: 'message', elapsedMs: elapsed(), kind: 'broadcast', from: m.from, data: m.data });
  });
  client.on('relay-error', (m) => {
    summary.relayErrors[m.code] = (summary.relayErrors[m.code] ?? 0) + 1;
    if (sentAt && m.ref === sentAt && summary.send && !summary.send.refused) summary.send.refused = m.code;
    emit({ event: 'relay-error', elapsedMs: elapsed(), code: m.code, message: m.message, ...(m.ref ? { ref: m.ref } : {}) });
  });
  client.on('disconnected', (d) => {
    if (stopReason) return;
    summary.disconnected = d;
    emit({ event: 'disconnected', elapsedMs: elapsed(), code: d.code, reason: d.reason });
    end('disconnected');
  });
  trySend();

  // Pings one after another, one per interval; a ping cut short by the end of the session is not counted.
  const pinging = (async () => {
    if (o.pingIntervalMs <= 0) return;
    const rtts: number[] = [];
    while (!stopReason) {
      const started = performance.now();
      summary.ping.sent++;
      const timeoutMs = Math.max(o.pingIntervalMs, Math.min(o.timeoutMs, 5000));
      try {
        const rtt = await client.ping(timeoutMs);
        rtts.push(rtt);
        summary.ping.answered++;
        summary.ping.rttMs = summarize(rtts);
        emit({ event: 'ping', elapsedMs: elapsed(), rttMs: Math.round(rtt * 1000) / 1000 });
      } catch (err) {
        if (stopReason || !client.connected) {
          summary.ping.sent--;
          break;
        }
        if (err instanceof RtcprobeError && err.code === 'TIMEOUT') {
          summary.ping.lost++;
          emit({ event: 'ping-lost', elapsedMs: elapsed(), timeoutMs });
        } else throw err;
      }
      await sleep(o.pingIntervalMs - (performance.now() - started), stop.signal).catch(() => {});
    }
  })();

  await new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    else stop.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  clearTimeout(timer);
  o.signal.removeEventListener('abort', onAbort);
  summary.peers = [...client.peers.keys()];
  await client.close();
  await pinging.catch(() => {});
  summary.durationMs = Math.round(performance.now() - t0);
  summary.stoppedBy = stopReason ?? 'signal';

  const p = summary.problems;
  if (summary.disconnected) p.push(`the relay closed the connection (${summary.disconnected.code}${summary.disconnected.reason ? ` ${summary.disconnected.reason}` : ''})`);
  if (summary.send && !summary.send.sent) p.push(summary.send.to ? `the test message was not sent: "${summary.send.to}" never was in the room` : 'the test message was not sent: no other peer was in the room');
  if (summary.send?.refused) p.push(`the relay refused the test message (${summary.send.refused})`);
  if (summary.ping.lost > 0) p.push(`${summary.ping.lost} of ${summary.ping.sent} ping(s) got no pong within the timeout`);
  return summary;
}
