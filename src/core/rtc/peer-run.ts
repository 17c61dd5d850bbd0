/**
 * A long-running headless peer (`rtcprobe peer`): one MeshPeer in a room
 * until aborted, periodic stats, and a summary of every connection it had.
 */
import { resourceUsage, cpuUsage } from 'node:process';
import { MeshPeer, type ConnectionReport, type MeshEvent, type MeshOptions } from './mesh.js';
import { aggregate, type BenchAggregate } from '../bench/report.js';

/** MeshOptions' relay, ICE and traffic fields; the timeout required, events widened by `stats`. */
export interface PeerSessionOptions extends Pick<MeshOptions, 'url' | 'room' | 'token' | 'peerId' | 'iceServers' | 'loopback' | 'relayOnly' | 'traffic' | 'signal'> {
  timeoutMs: number;
  /** Periodic `stats` events, ms (0: none). */
  statsIntervalMs: number;
  /** Restart the measurement window this long after joining (0: window from each connection's start). */
  warmupMs: number;
  onEvent: (e: MeshEvent | { event: 'stats'; peerId: string; connections: ConnectionReport[] }) => void;
}

export interface PeerSummary {
  event: 'summary';
  command: 'peer';
  ok: boolean;
  peerId: string;
  room: string;
  durationMs: number;
  connections: ConnectionReport[];
  aggregate: BenchAggregate;
  failures: { remote: string; code: string; message: string }[];
  process: { cpuMs: number; maxRssBytes: number };
}

export async function runPeerSession(o: PeerSessionOptions): Promise<PeerSummary> {
  const cpu0 = cpuUsage();
  const t0 = performance.now();
  const failures: PeerSummary['failures'] = [];
  const mesh = new MeshPeer({
    url: o.url,
    room: o.room,
    ...(o.token ? { token: o.token } : {}),
    ...(o.peerId ? { peerId: o.peerId } : {}),
    ...(o.iceServers ? { iceServers: o.iceServers } : {}),
    ...(o.loopback ? { loopback: true } : {}),
    ...(o.relayOnly ? { relayOnly: true } : {}),
    ...(o.traffic ? { traffic: o.traffic } : {}),
    timeoutMs: o.timeoutMs,
    signal: o.signal,
    onEvent: (e) => {
      if (e.event === 'peer-failed') failures.push({ remote: e.remote, code: e.code, message: e.message });
      o.onEvent(e);
    },
  });
  const timers: NodeJS.Timeout[] = [];
  try {
    await mesh.start();
    if (o.warmupMs > 0) timers.push(setTimeout(() => mesh.startWindow(), o.warmupMs));
    if (o.statsIntervalMs > 0) {
      const tick = async () => {
        const conns = (await mesh.connections()).map(({ raw: _r, ...rest }) => rest);
        o.onEvent({ event: 'stats', peerId: mesh.peerId, connections: conns });
      };
      timers.push(setInterval(() => void tick(), o.statsIntervalMs));
    }
    await new Promise<void>((resolve) => {
      if (o.signal.aborted) resolve();
      else o.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    for (const t of timers) clearTimeout(t);
    mesh.quiesce();
    // Echoes of the last probes are still on their way.
    await new Promise((res) => setTimeout(res, 300));
    const conns = [...(await mesh.connections()), ...mesh.ended];
    const agg = aggregate(conns.map(({ raw: _r, ...rest }) => rest), undefined);
    const cpu = cpuUsage(cpu0);
    return {
      event: 'summary',
      command: 'peer',
      ok: failures.length === 0,
      peerId: mesh.peerId,
      room: o.room,
      durationMs: performance.now() - t0,
      // Raw samples stay in: a benchmark that started this process merges them.
      connections: conns,
      aggregate: agg,
      failures,
      process: { cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: resourceUsage().maxRSS * 1024 },
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    await mesh.stop();
  }
}
