// mesh-types.ts owns the mesh's option and event types and the default traffic.
import type { ConnectBreakdown } from '../bench/connect.js';
import type { PairTypes } from '../bench/report.js';
import type { IceServer } from '../ice/servers.js';
import type { PeerMeta } from '../signaling/protocol.js';

export type MeshChannel = 'data' | 'audio' | 'video';

export interface MeshTraffic {
  channels: readonly MeshChannel[];
  /** Probes per second on each data channel of each connection. */
  dataRate: number;
  /** Bytes per probe message (at least the 48-byte header). */
  dataSize: number;
  videoFps: number;
  videoKbps: number;
}

export const DEFAULT_TRAFFIC: MeshTraffic = { channels: ['data', 'audio', 'video'], dataRate: 50, dataSize: 200, videoFps: 30, videoKbps: 500 };

export interface MeshOptions {
  url: string;
  room: string;
  token?: string;
  peerId?: string;
  /** Sent with the join; `role: "sfu" | "mcu"` marks a room server (see MeshPeer). */
  meta?: PeerMeta;
  /** Explicit ICE servers; undefined: the relay's `joined.iceServers`, else none. */
  iceServers?: IceServer[];
  loopback?: boolean;
  relayOnly?: boolean;
  traffic?: Partial<MeshTraffic>;
  /** Limit for joining, for one connection to come up (gathering, signalling, ICE, DTLS, channels). */
  timeoutMs?: number;
  signal: AbortSignal;
  /** Connect-time `start` mark (ms, performance.now()), e.g. the start of a benchmark run. */
  startedAtMs?: number;
  onEvent?: (e: MeshEvent) => void;
  /** Signals that are not SDP, and broadcasts, from other room members (e.g. a benchmark coordinator). */
  onAppMessage?: (m: { kind: 'signal' | 'broadcast'; from: string; data: unknown }) => void;
}

export type MeshEvent =
  | { event: 'joined'; peerId: string; room: string; peers: string[]; iceServers: number }
  | { event: 'peer-connected'; peerId: string; remote: string; role: 'offerer' | 'answerer'; connectMs: ConnectBreakdown; pair: PairTypes }
  | { event: 'peer-failed'; peerId: string; remote: string; code: string; message: string }
  | { event: 'peer-left'; peerId: string; remote: string };
