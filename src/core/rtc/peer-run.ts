/**
 * A long-running headless peer (`rtcprobe peer`): one MeshPeer in a room (or
 * `count` of them in this process) until aborted, periodic stats, and a
 * summary of every connection it had. A benchmark coordinator in the room
 * (see src/core/bench/coordinate.ts) steers the measurement window and ends
 * the session once it has this process's report.
 */
import { hostname } from 'node:os';
import { resourceUsage, cpuUsage, pid } from 'node:process';
import { MeshPeer, isObserver, type ConnectionReport, type MeshEvent, type MeshOptions } from './mesh.js';
import { aggregate, type BenchAggregate } from '../bench/report.js';
import { isCoordMessage, splitReport, type CoordMessage, type PeerProcessReport } from '../bench/coordinate.js';

/** MeshOptions' relay, ICE and traffic fields; the timeout required, events widened by `stats`. */
export interface PeerSessionOptions extends Pick<MeshOptions, 'url' | 'room' | 'token' | 'peerId' | 'iceServers' | 'loopback' | 'relayOnly' | 'traffic' | 'signal'> {
  timeoutMs: number;
  /** Periodic `stats` events, ms (0: none). */
  statsIntervalMs: number;
  /** Restart the measurement window this long after joining (0: window from each connection's start). */
  warmupMs: number;
  /** Peers in this process (default 1); `peerIds`, when given, names each. */
  count?: number;
  peerIds?: string[];
  onEvent: (e: MeshEvent | { event: 'stats'; peerId: string; connections: ConnectionReport[] } | CoordEvent) => void;
}

/** What a coordinator made this process do. */
export type CoordEvent =
  | { event: 'bench-start'; coordinator: string; run: string; warmupMs: number; durationMs: number }
  | { event: 'bench-window'; coordinator: string; run: string }
  | { event: 'bench-stop'; coordinator: string; run: string; reportParts: number };

export interface PeerSummary {
  event: 'summary';
  command: 'peer';
  ok: boolean;
  peerId: string;
  peerIds: string[];
  room: string;
  durationMs: number;
  connections: ConnectionReport[];
  aggregate: BenchAggregate;
  failures: { peerId: string; remote: string; code: string; message: string }[];
  process: { pid: number; host: string; cpuMs: number; maxRssBytes: number };
  /** Set when a coordinator ended the session: the run id whose report was sent. */
  coordinatedRun?: string;
}

/** Longest wait for the coordinator's `done` after reporting. */
const DONE_WAIT_MS = 15_000;
/** Between report parts: 25 parts/s, under the relay's default 50 messages/s per connection. */
const PART_GAP_MS = 40;
/**
 * Longest wait for the reliable channel's outstanding echoes after a coordinated stop: on a lossy
 * path the last messages are recovered by SCTP's retransmission timer alone (1 s, backing off 1.5×).
 */
const RELIABLE_WAIT_MS = 10_000;

export async function runPeerSession(o: PeerSessionOptions): Promise<PeerSummary> {
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  const failures: PeerSummary['failures'] = [];
  const count = o.peerIds?.length ?? o.count ?? 1;
  const meshes: MeshPeer[] = [];
  let stopRun: { coordinator: string; run: string; via: MeshPeer } | undefined;
  let ended!: () => void;
  const endedByCoordinator = new Promise<void>((res) => (ended = res));
  let finished!: () => void;
  const doneByCoordinator = new Promise<void>((res) => (finished = res));
  const windowsSeen = new Set<string>();
  let windowAt: number | undefined;
  const sendStatus = (m: MeshPeer, to?: string) => {
    if (!m.client || !m.peerId) return;
    const s = m.states();
    const msg: CoordMessage = { rtcprobe: 'bench', type: 'status', ...s, peers: m.remotes };
    for (const c of to ? [to] : [...m.roomObservers]) {
      try {
        m.client.signal(c, msg);
      } catch {
        // the relay connection is gone: the coordinator sees this peer leave
      }
    }
  };
  const onApp = (m: MeshPeer, from: string, data: unknown) => {
    if (!isCoordMessage(data) || !m.roomObservers.has(from)) return;
    switch (data.type) {
      case 'status?':
        sendStatus(m, from);
        break;
      case 'start':
        if (windowsSeen.has(`start:${data.run}`)) return;
        windowsSeen.add(`start:${data.run}`);
        o.onEvent({ event: 'bench-start', coordinator: from, run: data.run, warmupMs: data.warmupMs, durationMs: data.durationMs });
        break;
      case 'window': {
        const key = `window:${data.run}:${data.seq}`;
        if (!windowsSeen.has(key)) {
          windowsSeen.add(key);
          for (const x of meshes) x.startWindow();
          windowAt = performance.now();
          o.onEvent({ event: 'bench-window', coordinator: from, run: data.run });
        }
        m.client?.signal(from, { rtcprobe: 'bench', type: 'ack', run: data.run, seq: data.seq } satisfies CoordMessage);
        break;
      }
      case 'stop':
        if (stopRun) return;
        stopRun = { coordinator: from, run: data.run, via: m };
        ended();
        break;
      case 'done':
        if (stopRun && data.run === stopRun.run) finished();
        break;
      default:
        break;
    }
  };
  for (let i = 0; i < count; i++) {
    const id = o.peerIds?.[i] ?? (count === 1 ? o.peerId : o.peerId ? `${o.peerId}-${i}` : undefined);
    const mesh: MeshPeer = new MeshPeer({
      url: o.url,
      room: o.room,
      ...(o.token ? { token: o.token } : {}),
      ...(id ? { peerId: id } : {}),
      ...(o.iceServers ? { iceServers: o.iceServers } : {}),
      ...(o.loopback ? { loopback: true } : {}),
      ...(o.relayOnly ? { relayOnly: true } : {}),
      ...(o.traffic ? { traffic: o.traffic } : {}),
      timeoutMs: o.timeoutMs,
      signal: o.signal,
      // Connect times count from the start of this session (join included).
      startedAtMs: t0,
      onEvent: (e) => {
        if (e.event === 'peer-failed') failures.push({ peerId: e.peerId, remote: e.remote, code: e.code, message: e.message });
        o.onEvent(e);
        if (e.event !== 'joined') sendStatus(mesh);
      },
      onAppMessage: ({ from, data }) => onApp(mesh, from, data),
    });
    meshes.push(mesh);
  }
  const timers: NodeJS.Timeout[] = [];
  try {
    for (const m of meshes) {
      await m.start();
      // A coordinator already in the room learns about this peer from its status.
      sendStatus(m);
      m.client?.on('peer-joined', (p) => {
        if (isObserver(p.meta)) sendStatus(m, p.peerId);
      });
    }
    if (o.warmupMs > 0) timers.push(setTimeout(() => { for (const m of meshes) m.startWindow(); }, o.warmupMs));
    if (o.statsIntervalMs > 0) {
      const tick = async () => {
        for (const m of meshes) {
          const conns = (await m.connections()).map(({ raw: _r, ...rest }) => rest);
          o.onEvent({ event: 'stats', peerId: m.peerId, connections: conns });
        }
      };
      timers.push(setInterval(() => void tick(), o.statsIntervalMs));
    }
    await new Promise<void>((resolve) => {
      if (o.signal.aborted) resolve();
      else o.signal.addEventListener('abort', () => resolve(), { once: true });
      void endedByCoordinator.then(resolve);
    });
    for (const t of timers) clearTimeout(t);
    for (const m of meshes) m.quiesce();
    // Echoes of the last probes are still on their way. In a coordinated run the reliable channel's
    // last probes may need SCTP retransmissions on a lossy path: wait for them too (bounded).
    await new Promise((res) => setTimeout(res, 300));
    const conns: ConnectionReport[] = [];
    for (const m of meshes) conns.push(...(await m.connections()), ...m.ended);
    if (stopRun && !o.signal.aborted) {
      // Only the reliable channel's echo counts are taken later: media and bytes stay those of the window.
      const outstanding = (rs: ConnectionReport[]) => rs.some((r) => r.state === 'up' && r.dc && r.dc.reliable.echoed < r.dc.reliable.sent);
      const until = performance.now() + RELIABLE_WAIT_MS;
      let late: ConnectionReport[] | undefined;
      while (outstanding(late ?? conns) && performance.now() < until && !o.signal.aborted) {
        await new Promise((res) => setTimeout(res, 100));
        late = (await Promise.all(meshes.map((m) => m.connections()))).flat();
      }
      for (const l of late ?? []) {
        const i = conns.findIndex((c) => c.peerId === l.peerId && c.remote === l.remote);
        const c = conns[i];
        if (!c?.dc || !l.dc || !c.raw || !l.raw) continue;
        conns[i] = {
          ...c,
          dc: { ...c.dc, reliable: l.dc.reliable },
          raw: {
            ...c.raw,
            rtt: { ...c.raw.rtt, reliable: l.raw.rtt.reliable },
            forward: { ...c.raw.forward, reliable: l.raw.forward.reliable },
            backward: { ...c.raw.backward, reliable: l.raw.backward.reliable },
          },
        };
      }
    }
    const agg = aggregate(conns.map(({ raw: _r, ...rest }) => rest), undefined);
    const cpu = cpuUsage(cpu0);
    const usage = { pid, host: hostname(), cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: resourceUsage().maxRSS * 1024 };
    let coordinatedRun: string | undefined;
    const stop = stopRun as { coordinator: string; run: string; via: MeshPeer } | undefined;
    if (stop && !o.signal.aborted) {
      const report: PeerProcessReport = {
        peerIds: meshes.map((m) => m.peerId),
        host: usage.host,
        process: { role: 'peer', pid: usage.pid, host: usage.host, peers: meshes.length, cpuMs: usage.cpuMs, maxRssBytes: usage.maxRssBytes },
        connections: conns,
        failures,
        ...(windowAt !== undefined ? { windowMs: performance.now() - windowAt } : {}),
      };
      const parts = splitReport(stop.run, report);
      for (const [i, part] of parts.entries()) {
        if (i > 0) await new Promise((res) => setTimeout(res, PART_GAP_MS));
        stop.via.client?.signal(stop.coordinator, part);
      }
      coordinatedRun = stop.run;
      o.onEvent({ event: 'bench-stop', coordinator: stop.coordinator, run: stop.run, reportParts: parts.length });
      // Stay in the room until every peer has reported: leaving earlier would close connections others still count.
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, DONE_WAIT_MS);
        const fin = () => {
          clearTimeout(t);
          resolve();
        };
        void doneByCoordinator.then(fin);
        o.signal.addEventListener('abort', fin, { once: true });
      });
    }
    return {
      event: 'summary',
      command: 'peer',
      ok: failures.length === 0,
      peerId: meshes[0]!.peerId,
      peerIds: meshes.map((m) => m.peerId),
      room: o.room,
      durationMs: performance.now() - t0,
      // Raw samples stay in: a benchmark that started this process may merge them.
      connections: conns,
      aggregate: agg,
      failures,
      process: usage,
      ...(coordinatedRun ? { coordinatedRun } : {}),
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    await Promise.all(meshes.map((m) => m.stop()));
  }
}
