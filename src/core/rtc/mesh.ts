/**
 * A mesh member: joins a room of the signaling relay through SignalClient
 * and keeps one RtcPeer to every other peer there, following peers as they
 * come and go. The lexicographically smaller peerId offers, so two peers
 * never offer to each other at once.
 *
 * Observers: a peer whose join `meta.role` is "coordinator" steers a
 * benchmark (start, window, stop, reports) through the relay; no peer ever
 * opens a connection to it, and its non-SDP signals and broadcasts go to
 * `onAppMessage`.
 *
 * Room servers: a peer whose join `meta.role` is "sfu" or "mcu" is a room
 * server. While one is in the room, a client connects to the room server(s)
 * only (and drops its client-to-client connections when one arrives), and
 * the client always offers to a server. Room servers themselves do not use
 * this class. Over every connection it sends probes
 * on both data channels (reliable ordered and unreliable unordered), echoes
 * the other side's probes, and sends audio-like and video-like RTP; the
 * per-connection figures come from that traffic only.
 *
 * The measurement window is separate from the connection's life: traffic
 * flows from the moment a connection is up, `startWindow()` clears the
 * counters (end of warm-up) and `connections()` reads them.
 */
import { toRtcprobeError } from '../errors.js';
import { SignalClient } from '../signaling/client.js';
import type { JoinedMessage, PeerMeta } from '../signaling/protocol.js';
import type { ConnectionReport } from '../bench/report.js';
export type { ConnectionReport, PairTypes, ProbeStats, RtpStats } from '../bench/report.js';
import { toRtcIceServers } from './ice.js';
import type { IceServer } from '../ice/servers.js';
import { Connection, isSdpSignal, nowMs, type SdpSignal } from './connection.js';
import { DEFAULT_TRAFFIC, type MeshEvent, type MeshOptions, type MeshTraffic } from './mesh-types.js';
export { DEFAULT_TRAFFIC, type MeshChannel, type MeshEvent, type MeshOptions, type MeshTraffic } from './mesh-types.js';

/** One member of a mesh. */
export class MeshPeer {
  readonly options: MeshOptions;
  readonly traffic: MeshTraffic;
  client?: SignalClient;
  peerId = '';
  joinedAtMs?: number;
  iceServers: IceServer[] = [];
  joined?: JoinedMessage;
  private readonly conns = new Map<string, Connection>();
  /** Room servers present in the room, by peerId, with their role. */
  private readonly servers = new Map<string, RoomServerRole>();
  /** Observers in the room (join meta role "coordinator"): never connected to. */
  private readonly observers = new Set<string>();
  /** Connections that ended (peer left), kept for the summary. */
  readonly ended: ConnectionReport[] = [];
  private stopped = false;
  private readonly pending = new Set<Promise<void>>();

  constructor(options: MeshOptions) {
    this.options = options;
    this.traffic = { ...DEFAULT_TRAFFIC, ...options.traffic };
  }

  emit(e: MeshEvent): void {
    try {
      this.options.onEvent?.(e);
    } catch {
      // a listener's failure is not the mesh's
    }
  }

  /** Join the room and start connecting to everyone there. Rejects with the join error. */
  async start(): Promise<JoinedMessage> {
    const o = this.options;
    const client = new SignalClient({
      url: o.url,
      room: o.room,
      reconnect: false,
      timeoutMs: o.timeoutMs ?? 10_000,
      signal: o.signal,
      ...(o.token ? { token: o.token } : {}),
      ...(o.peerId ? { peerId: o.peerId } : {}),
      ...(o.meta ? { meta: o.meta } : {}),
    });
    this.client = client;
    client.on('signal', ({ from, data }) => this.onSignal(from, data));
    client.on('broadcast', ({ from, data }) => this.appMessage('broadcast', from, data));
    client.on('peer-joined', (p) => {
      if (isObserver(p.meta)) this.observers.add(p.peerId);
      const role = roomServerRole(p.meta);
      if (role) {
        this.servers.set(p.peerId, role);
        // A room server arrived: client-to-client connections give way to it.
        for (const remote of [...this.conns.keys()]) if (!this.servers.has(remote)) void this.drop(remote);
      }
      if (this.wants(p.peerId)) this.ensure(p.peerId);
    });
    client.on('peer-left', (p) => {
      this.servers.delete(p.peerId);
      this.observers.delete(p.peerId);
      void this.drop(p.peerId);
    });
    const joined = await client.connect();
    this.joinedAtMs = nowMs();
    this.joined = joined;
    this.peerId = joined.peerId;
    if (o.iceServers) this.iceServers = o.iceServers;
    else if (joined.iceServers?.length) this.iceServers = toRtcIceServers(joined.iceServers as { urls: string | string[]; username?: string; credential?: string }[]);
    this.emit({ event: 'joined', peerId: joined.peerId, room: joined.room, peers: joined.peers.map((p) => p.peerId), iceServers: joined.iceServers?.length ?? 0 });
    for (const p of joined.peers) {
      if (isObserver(p.meta)) this.observers.add(p.peerId);
      const role = roomServerRole(p.meta);
      if (role) this.servers.set(p.peerId, role);
    }
    for (const p of joined.peers) if (this.wants(p.peerId)) this.ensure(p.peerId);
    return joined;
  }

  send(to: string, data: SdpSignal): void {
    this.client?.signal(to, data);
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private ensure(remote: string, role?: 'offerer' | 'answerer'): Connection | undefined {
    if (this.stopped || remote === this.peerId) return undefined;
    const have = this.conns.get(remote);
    if (have) return have;
    const r = role ?? (this.servers.has(remote) || this.peerId < remote ? 'offerer' : 'answerer');
    let c: Connection;
    try {
      c = new Connection(this, remote, r);
    } catch (err) {
      const e = toRtcprobeError(err);
      this.emit({ event: 'peer-failed', peerId: this.peerId, remote, code: e.code, message: e.message });
      return undefined;
    }
    this.conns.set(remote, c);
    if (r === 'offerer') this.track(c.runOffer());
    return c;
  }

  private appMessage(kind: 'signal' | 'broadcast', from: string, data: unknown): void {
    try {
      this.options.onAppMessage?.({ kind, from, data });
    } catch {
      // a listener's failure is not the mesh's
    }
  }

  private onSignal(from: string, data: unknown): void {
    if (!isSdpSignal(data)) return this.appMessage('signal', from, data);
    if (data.type === 'offer') {
      if (!this.wants(from)) return; // a client-to-client offer while a room server is here
      const existing = this.conns.get(from);
      if (existing && existing.role === 'offerer') return; // the rule says we offer; ignore
      if (existing && existing.state !== 'connecting') {
        // The remote restarted: start over.
        void this.drop(from).then(() => {
          const c = this.ensure(from, 'answerer');
          if (c) this.track(c.runAnswer(data.sdp));
        });
        return;
      }
      const c = this.ensure(from, 'answerer');
      if (c) this.track(c.runAnswer(data.sdp));
    } else this.conns.get(from)?.onAnswer(data.sdp);
  }

  private async drop(remote: string): Promise<void> {
    const c = this.conns.get(remote);
    if (!c) return;
    this.conns.delete(remote);
    const r = await c.report();
    this.ended.push(r.state === 'up' ? { ...r, state: 'closed' } : r);
    await c.stop();
    this.emit({ event: 'peer-left', peerId: this.peerId, remote });
  }

  /** Whether this peer keeps a connection to `remote`: room servers always; other clients only while no room server is in the room. */
  wants(remote: string): boolean {
    if (this.observers.has(remote)) return false;
    return this.servers.has(remote) || this.servers.size === 0;
  }

  /** Observers (coordinators) in the room. */
  get roomObservers(): ReadonlySet<string> {
    return this.observers;
  }

  /** The room servers in the room (peerId → role). */
  get roomServers(): ReadonlyMap<string, RoomServerRole> {
    return this.servers;
  }

  /** Remote peers with a connection (any state). */
  get remotes(): string[] {
    return [...this.conns.keys()];
  }

  states(): { up: number; connecting: number; failed: number } {
    const s = { up: 0, connecting: 0, failed: 0 };
    for (const c of this.conns.values()) if (c.state === 'up' || c.state === 'connecting' || c.state === 'failed') s[c.state]++;
    return s;
  }

  /** Restart every connection's measurement window. */
  startWindow(): void {
    for (const c of this.conns.values()) if (c.state === 'up') c.startWindow();
  }

  /** Stop sending new probes (media keeps flowing); echoes still come back. */
  quiesce(): void {
    for (const c of this.conns.values()) c.quiet = true;
  }

  async connections(): Promise<ConnectionReport[]> {
    return Promise.all([...this.conns.values()].map((c) => c.report()));
  }

  /** Leave the room, close every connection and the relay connection. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([...this.conns.values()].map((c) => c.stop()));
    await Promise.allSettled([...this.pending]);
    await this.client?.close();
  }
}

export type RoomServerRole = 'sfu' | 'mcu';

/** An observer announces `meta.role: "coordinator"`: it joins the room to steer a benchmark and no peer connects to it. */
export function isObserver(meta: PeerMeta | undefined): boolean {
  return meta?.['role'] === 'coordinator';
}

/** The room-server role a peer announced in its join meta, if any. */
export function roomServerRole(meta: PeerMeta | undefined): RoomServerRole | undefined {
  const r = meta?.['role'];
  return r === 'sfu' || r === 'mcu' ? r : undefined;
}
