/**
 * The benchmark report: aggregation of per-connection figures, the upload
 * check of a mesh (each client's upload grows with N-1), the SLO rules and
 * the verdict line. Pure: the runner hands in what it measured.
 */
import { summarizeExact, type Summary } from './summary.js';
import type { ConnectBreakdown } from './connect.js';
import type { StreamReport } from './tracker.js';

export interface PairTypes {
  local: string;
  remote: string;
  protocol?: string;
  localAddress?: string;
  remoteAddress?: string;
}

/** What one side of one connection measured in the current window. */
export interface ConnectionReport {
  peerId: string;
  remote: string;
  role: 'offerer' | 'answerer';
  state: 'connecting' | 'up' | 'failed' | 'closed';
  error?: { code: string; message: string };
  connectMs?: ConnectBreakdown;
  pair?: PairTypes;
  windowMs: number;
  /**
   * Set when the senders of what this side receives run in this process: one clock, so the one-way
   * delays use offset 0 exactly (otherwise they use `dc.clock`, an estimate with an uncertainty).
   */
  sameClock?: true;
  dc?: {
    reliable: ProbeStats;
    unreliable: ProbeStats;
    /** Clock offset of the remote (its clock minus ours, ms) from the probe round trips. */
    clock?: { offsetMs: number; uncertaintyMs: number; exchanges: number };
  };
  audio?: RtpStats;
  video?: RtpStats;
  /** Bytes on the wire of this connection's ICE pair in the window (SRTP, DTLS/SCTP, STUN, TURN framing excluded). */
  bytes: { sent: number; received: number };
  /** Raw samples for merged percentiles (the runner removes them from reports). */
  raw?: RawSamples;
}

export interface ProbeStats {
  sent: number;
  echoed: number;
  lossRatio: number;
  rttMs?: Summary;
  /** One-way delays derived from the echo timestamps and the clock offset. */
  forwardMs?: Summary;
  backwardMs?: Summary;
  /** Probes of the remote side received here (before echoing). */
  received: StreamReport;
}

export interface RtpStats {
  stream: StreamReport;
  /** One-way delay (receive time minus the sender's send time, corrected by the clock offset). */
  oneWayMs?: Summary;
  /** Why there is no oneWayMs although packets arrived (the senders' clock offset is unknown). */
  oneWayUnknown?: string;
  packetsReceived: number;
  /** Distinct sources received on the connection (more than one through a room server). */
  sources?: number;
}

/** Older names of the same shapes. */
export type ConnSide = ConnectionReport;
export type ProbeSide = ProbeStats;
export type RtpSide = RtpStats;

/** The room server of an sfu (or mcu) run, from its own summary. */
export interface RoomServerReport {
  role: 'sfu' | 'mcu';
  pid?: number;
  cpuMs: number;
  maxRssBytes: number;
  /** RTP packets and payload bytes it sent to subscribers over the whole run. */
  forwardedPackets: number;
  forwardedBytes: number;
  /** Mean time from receiving a packet to having sent it to every subscriber. */
  forwardMeanMs?: number;
  drops: Record<string, number>;
  /** Event-loop delay of the server process over the run, ms. */
  loopDelayMs?: { p99: number; max: number };
}

export interface ProcessUsage {
  role: 'bench' | 'peer' | 'coturn' | 'sfu';
  pid?: number;
  /** Host name, in runs spread over hosts. */
  host?: string;
  peers: number;
  cpuMs: number;
  maxRssBytes: number;
}

export interface PathAggregate {
  /** Every RTT sample merged is not kept; percentiles over per-connection summaries are not exact, so we keep the samples. */
  rttMs?: Summary;
  forwardMs?: Summary;
  backwardMs?: Summary;
  sent: number;
  echoed: number;
  lossRatio: number;
  reordered: number;
}

export interface RtpAggregate {
  packetsReceived: number;
  expected: number;
  lost: number;
  lossRatio: number;
  reordered: number;
  duplicates: number;
  /** RFC 3550 jitter: mean and max over the receiving sides. */
  jitterMs?: { mean: number; max: number };
  oneWayMs?: Summary;
}

export interface PeerUpload {
  peerId: string;
  connections: number;
  bytesSent: number;
  bytesReceived: number;
  /** Upload, bytes per second of the window. */
  sendBps: number;
  /** Download, bytes per second of the window. */
  receiveBps?: number;
}

export interface UploadReport {
  peers: PeerUpload[];
  /** Mean upload of a peer, bytes/s. */
  perPeerBps: number;
  /** Mean upload of one connection side, bytes/s. */
  perConnectionBps: number;
  /** perPeerBps / perConnectionBps: N-1 in a mesh. */
  ratio: number;
  expectedRatio: number;
  /** Payload bytes/s one connection side is configured to send (probes, echoes, audio, video), without headers. */
  nominalPerConnectionBps: number;
  /** Mean download of a peer, bytes/s. */
  downloadPerPeerBps?: number;
}

export interface BenchAggregate {
  connectMs: Partial<Record<'total' | 'join' | 'offerToAnswer' | 'iceGathering' | 'iceConnected' | 'dtlsConnected' | 'dataChannelOpen', Summary>>;
  dc?: { reliable: PathAggregate; unreliable: PathAggregate };
  audio?: RtpAggregate;
  video?: RtpAggregate;
  clock?: { maxUncertaintyMs: number; maxAbsOffsetMs: number };
  pairs: Record<string, number>;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** Percentiles over per-connection summaries are not those of the merged samples: the runner passes the raw samples. */
export interface RawSamples {
  rtt: { reliable: number[]; unreliable: number[] };
  forward: { reliable: number[]; unreliable: number[] };
  backward: { reliable: number[]; unreliable: number[] };
  audioOwd: number[];
  videoOwd: number[];
}

/**
 * Pool the raw samples of every side, and return the sides without them (the JSON carries
 * summaries only), sorted by peer and remote.
 */
export function poolRawSamples(sides: readonly ConnectionReport[]): { raw: RawSamples; sides: ConnectionReport[] } {
  const raw: RawSamples = { rtt: { reliable: [], unreliable: [] }, forward: { reliable: [], unreliable: [] }, backward: { reliable: [], unreliable: [] }, audioOwd: [], videoOwd: [] };
  for (const s of sides) {
    if (!s.raw) continue;
    for (const k of ['reliable', 'unreliable'] as const) {
      raw.rtt[k].push(...s.raw.rtt[k]);
      raw.forward[k].push(...s.raw.forward[k]);
      raw.backward[k].push(...s.raw.backward[k]);
    }
    raw.audioOwd.push(...s.raw.audioOwd);
    raw.videoOwd.push(...s.raw.videoOwd);
  }
  const stripped = sides.map(({ raw: _r, ...rest }) => rest).sort((a, b) => (a.peerId + a.remote < b.peerId + b.remote ? -1 : 1));
  return { raw, sides: stripped };
}

/** Connection sides that are up with a local relay candidate on one of these relay ports (a coturn started for the run). */
export function sidesThroughRelayPorts(sides: readonly ConnectionReport[], [lo, hi]: readonly [number, number]): number {
  return sides.filter((s) => {
    const port = Number(s.pair?.localAddress?.split(':').pop());
    return s.state === 'up' && s.pair?.local === 'relay' && port >= lo && port <= hi;
  }).length;
}

export function aggregate(sides: readonly ConnSide[], raw?: RawSamples): BenchAggregate {
  const up = sides.filter((s) => s.state === 'up');
  const out: BenchAggregate = { connectMs: {}, pairs: {} };
  const cm = (pick: (b: ConnectBreakdown) => number | undefined) => summarizeExact(sides.map((s) => (s.connectMs ? pick(s.connectMs) : undefined)).filter((x): x is number => x !== undefined));
  const phases: [keyof BenchAggregate['connectMs'], (b: ConnectBreakdown) => number | undefined][] = [
    ['total', (b) => b.sinceStart.dataChannelOpen],
    ['join', (b) => b.join],
    ['offerToAnswer', (b) => b.offerToAnswer],
    ['iceGathering', (b) => b.iceGathering],
    ['iceConnected', (b) => b.iceConnected],
    ['dtlsConnected', (b) => b.dtlsConnected],
    ['dataChannelOpen', (b) => b.dataChannelOpen],
  ];
  for (const [k, f] of phases) {
    const s = cm(f);
    if (s) out.connectMs[k] = s;
  }
  for (const s of up) if (s.pair) out.pairs[`${s.pair.local}/${s.pair.remote}`] = (out.pairs[`${s.pair.local}/${s.pair.remote}`] ?? 0) + 1;
  const withDc = up.filter((s) => s.dc);
  if (withDc.length) {
    const path = (name: 'reliable' | 'unreliable'): PathAggregate => {
      const ps = withDc.map((s) => s.dc![name]);
      const sent = sum(ps.map((p) => p.sent));
      const echoed = sum(ps.map((p) => p.echoed));
      const agg: PathAggregate = { sent, echoed, lossRatio: sent ? (sent - echoed) / sent : 0, reordered: sum(ps.map((p) => p.received.reordered)) };
      const r = raw ? summarizeExact(raw.rtt[name]) : undefined;
      if (r) agg.rttMs = r;
      const f = raw ? summarizeExact(raw.forward[name]) : undefined;
      if (f) agg.forwardMs = f;
      const b = raw ? summarizeExact(raw.backward[name]) : undefined;
      if (b) agg.backwardMs = b;
      return agg;
    };
    out.dc = { reliable: path('reliable'), unreliable: path('unreliable') };
    const clocks = withDc.map((s) => s.dc!.clock).filter((c): c is NonNullable<typeof c> => !!c);
    if (clocks.length) out.clock = { maxUncertaintyMs: Math.max(...clocks.map((c) => c.uncertaintyMs)), maxAbsOffsetMs: Math.max(...clocks.map((c) => Math.abs(c.offsetMs))) };
  }
  const rtp = (kind: 'audio' | 'video'): RtpAggregate | undefined => {
    const rs = up.map((s) => s[kind]).filter((r): r is RtpSide => !!r);
    if (!rs.length) return undefined;
    const expected = sum(rs.map((r) => r.stream.expected));
    const lost = sum(rs.map((r) => r.stream.lost));
    const a: RtpAggregate = {
      packetsReceived: sum(rs.map((r) => r.packetsReceived)),
      expected,
      lost,
      lossRatio: expected ? lost / expected : 0,
      reordered: sum(rs.map((r) => r.stream.reordered)),
      duplicates: sum(rs.map((r) => r.stream.duplicates)),
    };
    const j = rs.map((r) => r.stream.jitterMs).filter((x): x is number => x !== undefined);
    if (j.length) a.jitterMs = { mean: sum(j) / j.length, max: Math.max(...j) };
    const o = raw ? summarizeExact(kind === 'audio' ? raw.audioOwd : raw.videoOwd) : undefined;
    if (o) a.oneWayMs = o;
    return a;
  };
  const a = rtp('audio');
  if (a) out.audio = a;
  const v = rtp('video');
  if (v) out.video = v;
  return out;
}

export interface TrafficShape {
  channels: readonly string[];
  dataRate: number;
  dataSize: number;
  videoKbps: number;
}

/** Payload bytes/s one side of one connection sends: its probes and the echoes of the other's, on both channels, plus media. */
export function nominalBps(t: TrafficShape): number {
  let b = 0;
  if (t.channels.includes('data')) b += 2 * 2 * t.dataRate * t.dataSize;
  if (t.channels.includes('audio')) b += 50 * 160;
  if (t.channels.includes('video')) b += (t.videoKbps * 1000) / 8;
  return b;
}

export function uploadReport(sides: readonly ConnSide[], nPeers: number, traffic: TrafficShape): UploadReport {
  const up = sides.filter((s) => s.state === 'up' && s.windowMs > 0);
  const byPeer = new Map<string, PeerUpload>();
  for (const s of up) {
    const p = byPeer.get(s.peerId) ?? { peerId: s.peerId, connections: 0, bytesSent: 0, bytesReceived: 0, sendBps: 0 };
    p.connections++;
    p.bytesSent += s.bytes.sent;
    p.bytesReceived += s.bytes.received;
    p.sendBps += (s.bytes.sent * 1000) / s.windowMs;
    p.receiveBps = (p.receiveBps ?? 0) + (s.bytes.received * 1000) / s.windowMs;
    byPeer.set(s.peerId, p);
  }
  const peers = [...byPeer.values()].sort((a, b) => (a.peerId < b.peerId ? -1 : 1));
  const perPeerBps = peers.length ? sum(peers.map((p) => p.sendBps)) / peers.length : 0;
  const perConnectionBps = up.length ? sum(up.map((s) => (s.bytes.sent * 1000) / s.windowMs)) / up.length : 0;
  return {
    peers,
    perPeerBps,
    perConnectionBps,
    ratio: perConnectionBps ? perPeerBps / perConnectionBps : 0,
    expectedRatio: nPeers - 1,
    nominalPerConnectionBps: nominalBps(traffic),
    downloadPerPeerBps: peers.length ? sum(peers.map((p) => p.receiveBps ?? 0)) / peers.length : 0,
  };
}

// ---- SLOs ----

export interface SloRule {
  text: string;
  metric: string;
  op: '<' | '<=' | '>' | '>=';
  /** Threshold in the metric's base unit: ms for times, a ratio (0..1) for loss, bytes/s for rates. */
  threshold: number;
}

export interface SloResult extends SloRule {
  /** undefined: the run did not measure it (the rule then counts as breached: not shown to hold). */
  value?: number;
  ok: boolean;
}

/** Metric names an SLO may use, with their unit. */
export const SLO_METRICS: Record<string, 'ms' | 'ratio'> = {
  'dc.rtt.p50': 'ms', 'dc.rtt.p95': 'ms', 'dc.rtt.p99': 'ms', 'dc.rtt.max': 'ms',
  'dc.unreliable.rtt.p50': 'ms', 'dc.unreliable.rtt.p99': 'ms',
  'dc.loss': 'ratio', 'dc.unreliable.loss': 'ratio',
  'dc.owd.p99': 'ms',
  'rtp.loss': 'ratio', 'audio.loss': 'ratio', 'video.loss': 'ratio',
  'audio.jitter': 'ms', 'video.jitter': 'ms',
  'audio.owd.p99': 'ms', 'video.owd.p99': 'ms',
  'connect.p99': 'ms', 'connect.max': 'ms',
};

export class SloParseError extends Error {}

/** Parse "dc.rtt.p99<50ms,rtp.loss<1%". Units: ms, s, us, % (or a bare number in the metric's unit). */
export function parseSlo(text: string): SloRule[] {
  const rules: SloRule[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (part === '') throw new SloParseError(`empty rule in "${text}"`);
    const m = /^([a-z0-9_.]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(ms|s|us|µs|%)?$/i.exec(part);
    if (!m) throw new SloParseError(`"${part}" is not metric<value (e.g. dc.rtt.p99<50ms, rtp.loss<1%)`);
    const metric = m[1]!.toLowerCase();
    const unit = SLO_METRICS[metric];
    if (!unit) throw new SloParseError(`unknown metric "${metric}"; known: ${Object.keys(SLO_METRICS).join(', ')}`);
    const n = Number(m[3]);
    const u = m[4]?.toLowerCase();
    let threshold: number;
    if (unit === 'ms') {
      if (u === '%') throw new SloParseError(`"${part}": ${metric} is a time (ms, s, us)`);
      threshold = u === 's' ? n * 1000 : u === 'us' || u === 'µs' ? n / 1000 : n;
    } else {
      if (u && u !== '%') throw new SloParseError(`"${part}": ${metric} is a ratio (use %, or a number from 0 to 1)`);
      threshold = u === '%' ? n / 100 : n;
      if (threshold > 1) throw new SloParseError(`"${part}": a loss ratio above 1 (write 1% or 0.01)`);
    }
    rules.push({ text: part, metric, op: m[2] as SloRule['op'], threshold });
  }
  return rules;
}

/** The value of an SLO metric in an aggregate; undefined when the run did not measure it. */
export function metricValue(a: BenchAggregate, metric: string): number | undefined {
  const rtpLoss = () => {
    const parts = [a.audio, a.video].filter((x): x is RtpAggregate => !!x);
    const exp = sum(parts.map((p) => p.expected));
    return parts.length && exp ? sum(parts.map((p) => p.lost)) / exp : undefined;
  };
  switch (metric) {
    case 'dc.rtt.p50': return a.dc?.reliable.rttMs?.p50;
    case 'dc.rtt.p95': return a.dc?.reliable.rttMs?.p95;
    case 'dc.rtt.p99': return a.dc?.reliable.rttMs?.p99;
    case 'dc.rtt.max': return a.dc?.reliable.rttMs?.max;
    case 'dc.unreliable.rtt.p50': return a.dc?.unreliable.rttMs?.p50;
    case 'dc.unreliable.rtt.p99': return a.dc?.unreliable.rttMs?.p99;
    case 'dc.loss': return a.dc && a.dc.reliable.sent ? a.dc.reliable.lossRatio : undefined;
    case 'dc.unreliable.loss': return a.dc && a.dc.unreliable.sent ? a.dc.unreliable.lossRatio : undefined;
    case 'dc.owd.p99': return a.dc?.reliable.forwardMs?.p99;
    case 'rtp.loss': return rtpLoss();
    case 'audio.loss': return a.audio?.expected ? a.audio.lossRatio : undefined;
    case 'video.loss': return a.video?.expected ? a.video.lossRatio : undefined;
    case 'audio.jitter': return a.audio?.jitterMs?.max;
    case 'video.jitter': return a.video?.jitterMs?.max;
    case 'audio.owd.p99': return a.audio?.oneWayMs?.p99;
    case 'video.owd.p99': return a.video?.oneWayMs?.p99;
    case 'connect.p99': return a.connectMs.total?.p99;
    case 'connect.max': return a.connectMs.total?.max;
    default: return undefined;
  }
}

export function checkSlos(rules: readonly SloRule[], a: BenchAggregate): SloResult[] {
  return rules.map((r) => {
    const value = metricValue(a, r.metric);
    const ok =
      value !== undefined &&
      (r.op === '<' ? value < r.threshold : r.op === '<=' ? value <= r.threshold : r.op === '>' ? value > r.threshold : value >= r.threshold);
    return { ...r, ...(value !== undefined ? { value } : {}), ok };
  });
}

const f = (x: number | undefined, d = 1) => (x === undefined ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(d));
const pct = (x: number) => `${(x * 100).toFixed(x === 0 ? 0 : 2)}%`;

/** One line: what ran, whether every connection came up, and the headline figures. */
export function verdictLine(o: { topology: string; peers: number; expected: number; up: number; failed: number; partial: boolean }, a: BenchAggregate, slos?: readonly SloResult[]): string {
  const conns = o.up === o.expected ? (o.expected === 1 ? 'the connection is up' : `all ${o.expected} connections up`) : `${o.up} of ${o.expected} connections up${o.failed ? `, ${o.failed} failed` : ''}`;
  const bits = [`${o.topology}, ${o.peers} peers: ${conns}`];
  if (a.dc?.reliable.rttMs) bits.push(`DC RTT p99 ${f(a.dc.reliable.rttMs.p99)} ms`);
  if (a.audio) bits.push(`audio loss ${pct(a.audio.lossRatio)}`);
  if (a.video) bits.push(`video loss ${pct(a.video.lossRatio)}`);
  const breached = slos?.filter((s) => !s.ok) ?? [];
  if (slos?.length) bits.push(breached.length ? `SLO breached: ${breached.map((s) => s.text).join(', ')}` : 'SLOs met');
  if (o.partial) bits.push('interrupted: partial figures');
  return bits.join('; ');
}
