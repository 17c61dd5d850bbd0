/**
 * The coordination protocol of a benchmark spread over processes or hosts.
 * A coordinator (`rtcprobe bench --signal ... --expect N`, or the local bench
 * with `--procs`) joins the room with `meta.role: "coordinator"`; peers never
 * open a WebRTC connection to it. Everything goes through the relay:
 *
 *   peer → coordinator   status   { up, connecting, failed, peers } whenever it changes, and on request
 *   coordinator → all    start    warm-up begins (traffic already flows; nothing is counted yet)
 *   coordinator → all    window   the measurement window starts now; each peer answers `ack`
 *   coordinator → all    stop     the window ends: stop probes, wait for the last echoes, report
 *   peer → coordinator   report   the peer's connections (with raw samples) and its process usage,
 *                                 as JSON cut into parts that fit the relay's frame limit
 *   coordinator → all    done     every report is in (or the wait is over): peers may leave
 *
 * Pure: validation, cutting a report into parts and putting it together again.
 */
import type { ConnectionReport, ProcessUsage } from './report.js';

export const COORDINATOR_ROLE = 'coordinator';

/** Characters of report JSON per part: escaped inside a signal it stays well under the relay's 64 KiB frames. */
export const REPORT_PART_CHARS = 24_000;

export type CoordMessage =
  | { rtcprobe: 'bench'; type: 'status'; up: number; connecting: number; failed: number; peers: string[] }
  | { rtcprobe: 'bench'; type: 'status?' }
  | { rtcprobe: 'bench'; type: 'start'; run: string; warmupMs: number; durationMs: number }
  | { rtcprobe: 'bench'; type: 'window'; run: string; seq: number }
  | { rtcprobe: 'bench'; type: 'ack'; run: string; seq: number }
  | { rtcprobe: 'bench'; type: 'stop'; run: string }
  | { rtcprobe: 'bench'; type: 'done'; run: string }
  | { rtcprobe: 'bench'; type: 'report'; run: string; part: number; parts: number; text: string };

const TYPES = new Set(['status', 'status?', 'start', 'window', 'ack', 'stop', 'done', 'report']);

export function isCoordMessage(x: unknown): x is CoordMessage {
  const o = x as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || o.rtcprobe !== 'bench' || typeof o.type !== 'string' || !TYPES.has(o.type)) return false;
  const num = (k: string) => typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) >= 0;
  const str = (k: string) => typeof o[k] === 'string';
  switch (o.type) {
    case 'status':
      return num('up') && num('connecting') && num('failed') && Array.isArray(o.peers) && o.peers.every((p) => typeof p === 'string');
    case 'status?':
      return true;
    case 'start':
      return str('run') && num('warmupMs') && num('durationMs');
    case 'window':
    case 'ack':
      return str('run') && num('seq');
    case 'stop':
    case 'done':
      return str('run');
    case 'report':
      return str('run') && num('part') && num('parts') && (o.parts as number) >= 1 && (o.part as number) < (o.parts as number) && str('text');
    default:
      return false;
  }
}

/** What one peer process sends back at the end of a coordinated run. */
export interface PeerProcessReport {
  /** The peerIds this process ran. */
  peerIds: string[];
  host: string;
  process: ProcessUsage;
  /** Every connection side of its peers (raw samples included, for merged percentiles). */
  connections: ConnectionReport[];
  failures: { peerId: string; remote: string; code: string; message: string }[];
  /** Its own view of the window, ms on its clock (for the skew note). */
  windowMs?: number;
}

/** Round the raw samples to microseconds: a report is smaller and loses nothing measurable. */
export function compactReport(r: PeerProcessReport): PeerProcessReport {
  const q = (xs: number[]) => xs.map((x) => Math.round(x * 1000) / 1000);
  return {
    ...r,
    connections: r.connections.map((c) =>
      c.raw
        ? {
            ...c,
            raw: {
              rtt: { reliable: q(c.raw.rtt.reliable), unreliable: q(c.raw.rtt.unreliable) },
              forward: { reliable: q(c.raw.forward.reliable), unreliable: q(c.raw.forward.unreliable) },
              backward: { reliable: q(c.raw.backward.reliable), unreliable: q(c.raw.backward.unreliable) },
              audioOwd: q(c.raw.audioOwd),
              videoOwd: q(c.raw.videoOwd),
            },
          }
        : c,
    ),
  };
}

/** Cut a report into `report` messages of at most `chars` characters of JSON each. */
export function splitReport(run: string, r: PeerProcessReport, chars = REPORT_PART_CHARS): CoordMessage[] {
  const text = JSON.stringify(compactReport(r));
  const parts = Math.max(1, Math.ceil(text.length / chars));
  const out: CoordMessage[] = [];
  for (let i = 0; i < parts; i++) out.push({ rtcprobe: 'bench', type: 'report', run, part: i, parts, text: text.slice(i * chars, (i + 1) * chars) });
  return out;
}

/** Collects the parts of one report (from one sender); `done()` gives the report once every part arrived. */
export class ReportAssembler {
  private parts: (string | undefined)[] = [];
  private count = 0;

  /** Add a part; returns true once complete. Parts of another size or out of range are ignored. */
  add(m: Extract<CoordMessage, { type: 'report' }>): boolean {
    if (this.parts.length === 0) this.parts = new Array<string | undefined>(m.parts).fill(undefined);
    if (m.parts !== this.parts.length || m.part >= m.parts) return this.complete;
    if (this.parts[m.part] === undefined) {
      this.parts[m.part] = m.text;
      this.count++;
    }
    return this.complete;
  }

  get complete(): boolean {
    return this.parts.length > 0 && this.count === this.parts.length;
  }

  get received(): { parts: number; of: number } {
    return { parts: this.count, of: this.parts.length };
  }

  /** The report, or undefined while incomplete or when the JSON is not a report. */
  done(): PeerProcessReport | undefined {
    if (!this.complete) return undefined;
    try {
      const r = JSON.parse(this.parts.join('')) as PeerProcessReport;
      if (!r || !Array.isArray(r.connections) || !Array.isArray(r.peerIds) || typeof r.process !== 'object') return undefined;
      return r;
    } catch {
      return undefined;
    }
  }
}

/**
 * How far apart the peers' windows may start: each peer acts on the `window`
 * broadcast when it arrives, somewhere between the coordinator sending it
 * and receiving that peer's `ack`, so two peers' starts differ by at most the
 * largest of those round trips through the relay.
 */
export function windowSkewBoundMs(sentAtMs: number, ackAtMs: readonly number[]): number | undefined {
  if (ackAtMs.length === 0) return undefined;
  return Math.max(...ackAtMs.map((a) => a - sentAtMs));
}
