/**
 * Relayed data path measurement between two allocations of ours: A sends a
 * numbered message to B's relayed address, B echoes it back through its own
 * relay, A records the round trip. Messages are paced at a fixed rate.
 */
import { RtcprobeError } from '../errors.js';
import { sleep } from '../sleep.js';
import { summarize, type RttSummary } from '../stats.js';
import type { TransportAddress } from '../address.js';
import type { TurnClient } from './client.js';
import { encodeChannelData } from './protocol.js';

export type PathMode = 'channel' | 'indication';

export interface PathOptions {
  count: number;
  /** Payload bytes per message (at least 12). */
  size: number;
  /** Messages per second. */
  rate: number;
  /** How long to wait for echoes after the last send, ms. */
  drain: number;
  signal?: AbortSignal;
}

export interface PathResult {
  mode: PathMode;
  sent: number;
  received: number;
  /** Fraction of messages whose echo never came back. */
  loss: number;
  duplicates: number;
  /** Echoes that arrived after an echo of a later message. */
  reordered: number;
  rtt?: RttSummary;
  /** Mean absolute difference of consecutive RTTs, ms. */
  jitter?: number;
  /** Achieved send rate, messages per second. */
  sendRate: number;
  /**
   * Echoed messages per second over the run, payload bits per second each way,
   * and relayed messages per second (both directions: each echo crosses the relay twice).
   */
  throughput: { messagesPerSecond: number; bitsPerSecond: number; relayedMessagesPerSecond: number };
  durationMs: number;
}

export interface PathEnds {
  a: TurnClient;
  b: TurnClient;
  relayA: TransportAddress;
  relayB: TransportAddress;
  /** Channels bound (A toward B's relay, B toward A's relay) for channel mode. */
  channelA?: number;
  channelB?: number;
}

const MAGIC = 0x52504233; // "RPB3"
const HEADER = 12;

const round = (x: number, d = 3) => Math.round(x * 10 ** d) / 10 ** d;

/**
 * Wait up to `ms` for the messages still out; `arm` receives the function
 * that ends the wait early (all came back). An abort rejects with ABORTED:
 * a measurement cut short reports no figure.
 */
function waitForEchoes(ms: number, signal: AbortSignal | undefined, arm: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal.reason }));
    const onAbort = () => {
      clearTimeout(t);
      reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal?.reason }));
    };
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    arm(done);
  });
}

export async function measurePath(ends: PathEnds, mode: PathMode, o: PathOptions): Promise<PathResult> {
  if (o.size < HEADER) throw new RtcprobeError('USAGE', `message size must be at least ${HEADER} bytes`);
  if (mode === 'channel' && (ends.channelA === undefined || ends.channelB === undefined)) {
    throw new RtcprobeError('INTERNAL', 'channel mode without bound channels');
  }
  const runId = (Math.random() * 0xffffffff) >>> 0;
  const sentAt = new Float64Array(o.count);
  const seen = new Uint8Array(o.count);
  const samples: number[] = [];
  let received = 0;
  let receivedB = 0;
  let duplicates = 0;
  let reordered = 0;
  let highest = -1;
  let lastRecv = 0;
  let allIn: (() => void) | undefined;

  // A's frames are prepared in place: one buffer, the sequence number rewritten each time.
  const payload = Buffer.alloc(o.size);
  payload.writeUInt32BE(MAGIC, 0);
  payload.writeUInt32BE(runId, 4);
  const stream = ends.a.stream;
  const sendA =
    mode === 'channel'
      ? (seq: number) => {
          payload.writeUInt32BE(seq, 8);
          ends.a.sendRaw(encodeChannelData(ends.channelA!, payload, stream));
        }
      : (seq: number) => {
          payload.writeUInt32BE(seq, 8);
          ends.a.sendIndication(ends.relayB, payload);
        };
  const echoB =
    mode === 'channel'
      ? (data: Buffer) => ends.b.sendRaw(encodeChannelData(ends.channelB!, data, ends.b.stream))
      : (data: Buffer) => ends.b.sendIndication(ends.relayA, data);

  const ours = (data: Buffer) => data.length >= HEADER && data.readUInt32BE(0) === MAGIC && data.readUInt32BE(4) === runId;
  ends.b.onRelayedData((data) => {
    if (!ours(data)) return;
    receivedB++;
    try {
      echoB(data);
    } catch {
      /* the transport failed; the loss shows it */
    }
  });
  ends.a.onRelayedData((data) => {
    if (!ours(data)) return;
    const now = performance.now();
    const seq = data.readUInt32BE(8);
    if (seq >= o.count) return;
    if (seen[seq]) { duplicates++; return; }
    seen[seq] = 1;
    received++;
    if (seq < highest) reordered++;
    else highest = seq;
    lastRecv = now;
    samples.push(now - sentAt[seq]!);
    if (received === o.count) allIn?.();
  });

  const start = performance.now();
  let sent = 0;
  try {
    while (sent < o.count) {
      if (o.signal?.aborted) throw new RtcprobeError('ABORTED', 'aborted', { cause: o.signal.reason });
      const elapsed = performance.now() - start;
      const due = Math.min(o.count, Math.floor((elapsed * o.rate) / 1000) + 1);
      while (sent < due) {
        sentAt[sent] = performance.now();
        sendA(sent);
        sent++;
      }
      if (sent < o.count) {
        const nextAt = (sent * 1000) / o.rate;
        // At least 1 ms, like a timer: a sender running late still yields, so echoes are timed when they arrive.
        await sleep(Math.max(1, nextAt - (performance.now() - start)), o.signal);
      }
    }
    const lastSend = performance.now();
    if (received < o.count) {
      await waitForEchoes(o.drain, o.signal, (done) => { allIn = done; });
    }
    const sendSpan = Math.max(lastSend - start, 1e-3);
    const span = received > 0 ? Math.max(lastRecv - start, 1e-3) : sendSpan;
    const rtt = summarize(samples);
    return {
      mode,
      sent,
      received,
      loss: sent === 0 ? 1 : round((sent - received) / sent, 4),
      duplicates,
      reordered,
      ...(rtt ? { rtt, jitter: rtt.jitter } : {}),
      sendRate: round(sent > 1 ? ((sent - 1) * 1000) / sendSpan : o.rate, 1),
      throughput: {
        messagesPerSecond: round((received * 1000) / span, 1),
        bitsPerSecond: Math.round((received * o.size * 8 * 1000) / span),
        relayedMessagesPerSecond: round(((received + receivedB) * 1000) / span, 1),
      },
      durationMs: round(performance.now() - start, 1),
    };
  } finally {
    ends.a.onRelayedData(() => {});
    ends.b.onRelayedData(() => {});
  }
}

export interface DirectResult {
  sent: number;
  received: number;
}

export interface RemotePeerResult {
  /** Our own socket, as a peer outside the server, sends to our relayed address; the server hands it to us in Data indications. */
  peerToRelay: DirectResult;
  /** Then we ask the relay (Send indications) to send to our server-reflexive address; it arrives on our socket from the relayed address. */
  relayToPeer: DirectResult;
  /** The outside address the server saw our peer-to-relay datagrams come from (XOR-PEER-ADDRESS of the Data indications); absent when none came back. */
  seenFrom?: TransportAddress;
}

const DIRECT_MAGIC = 0x52504450; // "RPDP"

/**
 * The path between a relay and a peer outside the server, with the client's
 * own socket as that peer: its server-reflexive address (XOR-MAPPED-ADDRESS)
 * is where the Internet sees it. Needs a UDP transport and a permission
 * toward `peer`'s IP on `a`. Each direction is measured on its own, peer to
 * relay first.
 */
export async function measureRemotePeer(
  a: TurnClient,
  relay: TransportAddress,
  peer: TransportAddress,
  o: { count: number; rate: number; size: number; drain: number; signal?: AbortSignal },
): Promise<RemotePeerResult> {
  const runId = (Math.random() * 0xffffffff) >>> 0;
  const size = Math.max(HEADER, Math.min(o.size, 1200));
  const frame = (dir: number, seq: number) => {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(DIRECT_MAGIC, 0);
    b.writeUInt32BE(runId, 4);
    b.writeUInt32BE((dir << 24) | seq, 8);
    return b;
  };
  const ours = (d: Buffer, dir: number) => d.length >= HEADER && d.readUInt32BE(0) === DIRECT_MAGIC && d.readUInt32BE(4) === runId && d.readUInt32BE(8) >>> 24 === dir;
  const seenIn = new Set<number>();
  const seenOut = new Set<number>();
  let seenFrom: TransportAddress | undefined;
  let allIn: (() => void) | undefined;
  let waiting: Set<number> | undefined;
  const note = (seen: Set<number>, seq: number) => {
    if (seq >= o.count) return;
    seen.add(seq);
    if (seen.size === o.count && seen === waiting) allIn?.();
  };
  a.onRelayedData((d, via) => {
    if (!ours(d, 1)) return;
    if ('peer' in via && !seenFrom) seenFrom = via.peer;
    note(seenIn, d.readUInt32BE(8) & 0xffffff);
  });
  a.onDirectData((d, from) => {
    if (d.length < HEADER || d.readUInt32BE(0) !== DIRECT_MAGIC || d.readUInt32BE(4) !== runId) return false;
    // Late datagrams of an earlier attempt are ours but not counted for this one.
    if (ours(d, 2) && from.address === relay.address && from.port === relay.port) note(seenOut, d.readUInt32BE(8) & 0xffffff);
    return true;
  });
  const run = async (send: (seq: number) => void, seen: Set<number>): Promise<DirectResult> => {
    const gap = 1000 / o.rate;
    for (let i = 0; i < o.count; i++) {
      if (o.signal?.aborted) throw new RtcprobeError('ABORTED', 'aborted', { cause: o.signal.reason });
      try {
        send(i);
      } catch {
        /* a failed send shows as loss */
      }
      if (i < o.count - 1) await sleep(gap, o.signal);
    }
    if (seen.size < o.count) {
      try {
        await waitForEchoes(o.drain, o.signal, (done) => { waiting = seen; allIn = done; });
      } finally {
        allIn = undefined;
      }
    }
    return { sent: o.count, received: seen.size };
  };
  try {
    // Peer to relay first: our datagrams to the relayed address also open this
    // host's NAT for datagrams from it (a hole-punch, as ICE's checks do). The
    // other order would spoil it: a Linux NAT records the relay's unsolicited
    // datagram as a connection of its own, and then gives the hole-punch
    // another outside port.
    const peerToRelay = await run((i) => a.sendDirect(relay, frame(1, i)), seenIn);
    const relayToPeer = await run((i) => a.sendIndication(peer, frame(2, i)), seenOut);
    return { peerToRelay, relayToPeer, ...(seenFrom ? { seenFrom } : {}) };
  } finally {
    a.onRelayedData(() => {});
    a.onDirectData(undefined);
  }
}
