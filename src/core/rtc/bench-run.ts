/**
 * One benchmark run on this machine: a signaling relay in-process on
 * loopback, N mesh peers (in this process, or spread over child processes
 * running `rtcprobe peer`), optionally a coturn on loopback for the TURN
 * path, a warm-up, a measurement window, the report, and a teardown that
 * leaves no socket, child process or coturn behind, also when aborted.
 */
import { sleepUntilAborted } from '../sleep.js';
import { resourceUsage, cpuUsage, execPath } from 'node:process';
import { fileURLToPath } from 'node:url';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SignalRelay } from '../signaling/server.js';
import { MeshPeer, DEFAULT_TRAFFIC, type ConnectionReport, type MeshEvent, type MeshTraffic } from './mesh.js';
import { findOnPath, startLocalCoturn, coturnUsage, type LocalCoturn } from './coturn.js';
import type { IceServer } from '../ice/servers.js';
import {
  aggregate, checkSlos, poolRawSamples, sidesThroughRelayPorts, uploadReport, verdictLine,
  type BenchAggregate, type ProcessUsage, type RoomServerReport, type SloResult, type SloRule, type UploadReport,
} from '../bench/report.js';
import { startRoomServer, type RoomServerChild } from './bench-server.js';
import { dcThroughput, weriftLimit, type DcThroughput, type LimitVerdict } from '../bench/throughput.js';
import { procCpuMs, windowCpu, type WindowCpu } from '../bench/proc-cpu.js';

export const TOPOLOGIES = ['mesh', 'turn', 'sfu', 'mcu'] as const;
export const LATER_TOPOLOGIES = ['all'] as const;
export type Topology = (typeof TOPOLOGIES)[number];

export interface TurnConfig {
  url: string;
  username: string;
  credential: string;
}

export interface BenchOptions {
  topology: Topology;
  peers: number;
  durationMs: number;
  warmupMs: number;
  traffic?: Partial<MeshTraffic>;
  /** turn: an existing TURN server; undefined: start coturn on loopback (needs `turnserver` on PATH). */
  turn?: TurnConfig;
  /** PATH to look for turnserver in. */
  path?: string;
  /** Spread the peers over this many child processes (0: all in this process; otherwise none in this process). */
  procs?: number;
  /** sfu: an SFU that has already joined this room of this relay: no relay nor SFU is started. */
  server?: { url: string; room: string; token?: string };
  /** Peers started elsewhere (`rtcprobe peer`) in a room of this relay: the bench only coordinates them. */
  remote?: { url: string; room: string; token?: string; expect: number };
  /** argv of `rtcprobe` for the child processes ([node, bin]; default: this Node and this package's bin). */
  selfCommand?: string[];
  slo?: SloRule[];
  /** Limit for every connection to come up. */
  connectTimeoutMs?: number;
  signal: AbortSignal;
  onProgress?: (p: { phase: 'starting' | 'connecting' | 'warmup' | 'measuring' | 'stopping'; fraction: number; text: string }) => void;
  onEvent?: (e: MeshEvent) => void;
}

export interface BenchResult {
  command: 'bench';
  ok: boolean;
  verdict: string;
  /** Stopped by a signal before the window ended: figures cover what was measured. */
  partial: boolean;
  topology: Topology;
  peers: number;
  durationMs: number;
  warmupMs: number;
  /** Length of the measurement window actually measured. */
  windowMs: number;
  traffic: MeshTraffic;
  connections: { expected: number; up: number; failed: number; failures: { peerId: string; remote: string; code: string; message: string }[] };
  aggregate: BenchAggregate;
  upload: UploadReport;
  clock: { note: string; maxUncertaintyMs?: number; offsets?: { peerId: string; remote: string; offsetMs: number; uncertaintyMs: number }[] };
  /** Peers in other processes or on other hosts, coordinated through the relay (see bench-remote.ts). */
  coordination?: {
    mode: 'procs' | 'hosts';
    relay: string;
    room: string;
    run: string;
    expect: number;
    members: string[];
    reports: number;
    left: string[];
    missing: string[];
    /** The peers' windows started within this many ms of each other (largest window→ack round trip). */
    windowSkewBoundMs?: number;
    error?: { code: string; message: string };
  };
  /** Reliable data-channel throughput of the window (src/core/bench/throughput.ts). */
  dcThroughput?: DcThroughput;
  /** Whether werift in this process, rather than the network, held the traffic back. */
  limit: LimitVerdict;
  turn?: {
    server: string;
    startedHere: boolean;
    /** From the log of the coturn started for the run. */
    allocations?: number;
    channelBinds?: number;
    relayedBytes?: number;
    /** Process id of that coturn (gone once the run is over). */
    pid?: number;
    /** Connection sides whose selected local candidate is one of that coturn's relay ports. */
    sidesThroughIt?: number;
  };
  processes: ProcessUsage[];
  /** sfu: the server started for the run (its own process), from its summary. */
  server?: RoomServerReport;
  /** The SFU or coturn process started for the run: its CPU over the window (from /proc). */
  serverCpu?: WindowCpu;
  slo?: { ok: boolean; rules: SloResult[] };
  /** Both sides of every connection. */
  perConnection: ConnectionReport[];
  /** Merged latency samples (ms) for charts; not part of the JSON document. */
  samples: { rttReliable: number[]; rttUnreliable: number[]; audioOwd: number[]; videoOwd: number[] };
}

const sleep = sleepUntilAborted;

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  if (o.remote) {
    const { runRemoteBench } = await import('./bench-remote.js');
    return runRemoteBench({ ...o, remote: o.remote });
  }
  const traffic: MeshTraffic = { ...DEFAULT_TRAFFIC, ...o.traffic };
  const procs = Math.min(o.procs ?? 0, o.peers);
  const progress = o.onProgress ?? (() => {});
  const cpu0 = cpuUsage();
  const cleanups: (() => Promise<void>)[] = [];
  let relay: SignalRelay | undefined;
  let coturn: LocalCoturn | undefined;
  const peers: MeshPeer[] = [];
  const failures: BenchResult['connections']['failures'] = [];
  const onEvent = (e: MeshEvent) => {
    if (e.event === 'peer-failed') failures.push({ peerId: e.peerId, remote: e.remote, code: e.code, message: e.message });
    o.onEvent?.(e);
  };
  const teardown = async () => {
    progress({ phase: 'stopping', fraction: 1, text: 'stopping' });
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch {
        // keep tearing down
      }
    }
  };
  try {
    let addr: { ws: string };
    if (o.server) addr = { ws: o.server.url };
    else {
      progress({ phase: 'starting', fraction: 0, text: 'starting the relay' });
      relay = new SignalRelay({
        host: '127.0.0.1',
        port: 0,
        limits: { messagesPerSecond: 100_000, messageBurst: 100_000, maxPeersPerRoom: 10_000, maxStrikes: 1000, drainTimeoutMs: 500 },
      });
      addr = await relay.listen();
      const r = relay;
      cleanups.push(async () => {
        await r.close('benchmark over');
      });
    }
    let iceServers: IceServer[] = [];
    let turnInfo: BenchResult['turn'];
    if (o.topology === 'turn') {
      let t = o.turn;
      if (!t) {
        const bin = findOnPath('turnserver', o.path);
        if (!bin) throw new RtcprobeError('USAGE', '--topology turn needs a TURN server: give --turn with --user/--password (or --secret), or install coturn (Debian package "coturn", which provides turnserver) so the benchmark can start one on loopback');
        progress({ phase: 'starting', fraction: 0, text: 'starting coturn on loopback' });
        coturn = await startLocalCoturn({ binary: bin, timeoutMs: 10_000, signal: o.signal });
        const c = coturn;
        cleanups.push(() => c.stop());
        t = { url: c.url, username: c.username, credential: c.credential };
      }
      iceServers = [{ urls: [t.url], username: t.username, credential: t.credential }];
      turnInfo = { server: t.url, startedHere: !o.turn, ...(coturn?.pid ? { pid: coturn.pid } : {}) };
    }
    const room = o.server?.room ?? `bench-${Math.random().toString(36).slice(2, 10)}`;
    let roomServer: RoomServerChild | undefined;
    const viaServer = o.topology === 'sfu';
    // Through an external relay, peers gather on 127.0.0.1 only when that relay is on loopback.
    const host = new URL(addr.ws).hostname;
    const loopback = !o.server || host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
    if (o.topology === 'sfu' && !o.server) {
      progress({ phase: 'starting', fraction: 0, text: 'starting the SFU' });
      const self = o.selfCommand?.length ? o.selfCommand : [execPath, fileURLToPath(new URL('../../../bin/rtcprobe.js', import.meta.url))];
      roomServer = await startRoomServer({ self, role: 'sfu', url: addr.ws, room, timeoutMs: 15_000, signal: o.signal });
      const rs = roomServer;
      cleanups.push(async () => {
        await rs.stop();
      });
    }
    const startedAtMs = performance.now();
    const relayOnly = o.topology === 'turn';
    // With --procs every peer runs in a child process: the bench only coordinates.
    const inProc = procs > 0 ? 0 : o.peers;
    // Peer ids sort in creation order, so offer roles are predictable: p00 offers to p01, ...
    const ids = Array.from({ length: o.peers }, (_, i) => `p${String(i).padStart(3, '0')}`);
    progress({ phase: 'connecting', fraction: 0, text: `connecting ${o.peers} peers` });
    cleanups.push(async () => {
      await Promise.all(peers.map((p) => p.stop()));
    });
    for (let i = 0; i < inProc; i++) {
      const p = new MeshPeer({
        url: addr.ws, room, peerId: ids[i]!, ...(o.server?.token ? { token: o.server.token } : {}), iceServers, loopback, relayOnly, traffic, timeoutMs: o.connectTimeoutMs ?? 20_000,
        signal: o.signal, startedAtMs, onEvent,
      });
      peers.push(p);
      await p.start();
      if (o.server && i === 0 && ![...p.roomServers.values()].includes('sfu')) {
        throw new RtcprobeError('CONNECTION', `no SFU in room "${room}" of ${addr.ws}: start one there first ("rtcprobe sfu serve --signal ${addr.ws} --room ${room}")`);
      }
    }
    const serverPeerId = roomServer?.peerId ?? (o.server ? [...(peers[0]?.roomServers.entries() ?? [])].find(([, r]) => r === 'sfu')?.[0] : undefined);
    if (procs > 0) {
      const self = o.selfCommand?.length ? o.selfCommand : [execPath, fileURLToPath(new URL('../../../bin/rtcprobe.js', import.meta.url))];
      const { coordinate, coordinatedResult, reportFromSummary, spawnPeerProcesses } = await import('./bench-remote.js');
      const kids = spawnPeerProcesses({ self, url: addr.ws, room, ids, procs, traffic, relayOnly, iceServers, connectTimeoutMs: o.connectTimeoutMs ?? 20_000 });
      cleanups.push(() => kids.stop());
      const c = await coordinate({
        url: addr.ws, room, expect: o.peers, warmupMs: o.warmupMs, durationMs: o.durationMs,
        connectTimeoutMs: (o.connectTimeoutMs ?? 20_000) + 10_000, signal: o.signal, onProgress: progress, gone: () => kids.gone(),
      });
      // A child interrupted with the bench (Ctrl-C reaches the whole process group) prints its summary instead.
      if (c.missing.length) {
        await Promise.race([Promise.all(kids.children.map((k) => k.exited)), new Promise((res) => setTimeout(res, 5000))]);
        for (const k of kids.children) {
          const r = k.summary && k.ids.some((id) => c.missing.includes(id)) ? reportFromSummary(k.summary) : undefined;
          if (r) {
            c.reports.push(r);
            c.missing = c.missing.filter((m) => !r.peerIds.includes(m));
          }
        }
      }
      const result = coordinatedResult(
        { ...o, traffic, expect: o.peers, mode: 'procs', relay: addr.ws, room },
        c,
        cpu0,
        turnInfo ? { info: turnInfo, ...(coturn ? { relayPorts: coturn.relayPorts } : {}) } : undefined,
      );
      await teardown();
      if (coturn && result.turn) {
        const u = coturnUsage(coturn.log());
        result.turn = { ...result.turn, allocations: u.allocations, channelBinds: u.channelBinds, ...(u.relayedBytes !== undefined ? { relayedBytes: u.relayedBytes } : {}) };
      }
      return result;
    }
    // Every peer connected to every other (or a failure, or the limit).
    // Through a room server every peer has one connection, to it.
    const need = viaServer ? 1 : o.peers - 1;
    const deadline = performance.now() + (o.connectTimeoutMs ?? 20_000) + 5000;
    while (!o.signal.aborted && performance.now() < deadline) {
      const total = peers.reduce((a, p) => a + p.states().up, 0);
      progress({ phase: 'connecting', fraction: total / (o.peers * need || 1), text: `connecting: ${total / 2} of ${(o.peers * need) / 2} connections up` });
      if (total >= o.peers * need) break;
      // A failure, and nothing still trying: waiting longer shows nothing more.
      if (failures.length > 0 && peers.every((p) => p.states().connecting === 0)) break;
      await sleep(50, o.signal);
    }
    // Warm-up, then the window (none when no connection came up: there is nothing to measure).
    const anyUp = peers.some((p) => p.states().up > 0);
    if (o.warmupMs > 0 && anyUp) {
      const t0 = performance.now();
      while (!o.signal.aborted && performance.now() - t0 < o.warmupMs) {
        progress({ phase: 'warmup', fraction: (performance.now() - t0) / o.warmupMs, text: 'warming up' });
        await sleep(Math.min(200, o.warmupMs), o.signal);
      }
    }
    for (const p of peers) p.startWindow();
    const w0 = performance.now();
    const cpuW0 = cpuUsage();
    const serverPid = roomServer?.pid ?? coturn?.pid;
    const serverCpu0 = await procCpuMs(serverPid);
    while (anyUp && !o.signal.aborted && performance.now() - w0 < o.durationMs) {
      const el = performance.now() - w0;
      progress({ phase: 'measuring', fraction: el / o.durationMs, text: `measuring ${(el / 1000).toFixed(1)} / ${(o.durationMs / 1000).toFixed(1)} s` });
      await sleep(Math.min(250, o.durationMs - el), o.signal);
    }
    const partial = o.signal.aborted;
    const sendMs = performance.now() - w0;
    for (const p of peers) p.quiesce();
    // Echoes of the last probes are still on their way: give them a moment (not when interrupted).
    if (!partial) await new Promise((res) => setTimeout(res, 300));
    const windowMs = performance.now() - w0;
    const cpuW = cpuUsage(cpuW0);
    const serverCpu = serverPid !== undefined ? windowCpu(roomServer ? 'sfu' : 'coturn', serverPid, serverCpu0, await procCpuMs(serverPid), windowMs) : undefined;
    let sides: ConnectionReport[] = [];
    for (const p of peers) sides.push(...(await p.connections()), ...p.ended);
    const processes: ProcessUsage[] = [];
    const pooled = poolRawSamples(sides);
    const raw = pooled.raw;
    sides = pooled.sides;
    const agg = aggregate(sides, raw);
    const expected = viaServer ? o.peers : (o.peers * (o.peers - 1)) / 2;
    // A connection is up when both of its sides are.
    const upSides = new Set(sides.filter((s) => s.state === 'up').map((s) => `${s.peerId}|${s.remote}`));
    let up = 0;
    for (const s of sides) if (s.peerId < s.remote && upSides.has(`${s.peerId}|${s.remote}`) && upSides.has(`${s.remote}|${s.peerId}`)) up++;
    // The server's side is not in `sides`: a client's connection to it counts when the client's side is up.
    if (viaServer) up = sides.filter((s) => s.state === 'up' && s.remote === serverPeerId).length;
    const failedPairs = new Set(failures.map((f) => [f.peerId, f.remote].sort().join('|')));
    const cpu = cpuUsage(cpu0);
    processes.unshift({ role: 'bench', peers: inProc, cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: resourceUsage().maxRSS * 1024 });
    if (coturn && turnInfo) turnInfo = { ...turnInfo, sidesThroughIt: sidesThroughRelayPorts(sides, coturn.relayPorts) };
    const slos = o.slo?.length ? checkSlos(o.slo, agg) : undefined;
    const upload = uploadReport(sides, o.peers, traffic);
    if (viaServer) upload.expectedRatio = 1;
    let server: RoomServerReport | undefined;
    if (roomServer) {
      server = await roomServer.stop();
      if (server) processes.push({ role: 'sfu', ...(server.pid ? { pid: server.pid } : {}), peers: 0, cpuMs: server.cpuMs, maxRssBytes: server.maxRssBytes });
    }
    const dcT = dcThroughput(sides, traffic, sendMs);
    const limit = weriftLimit({ throughput: dcT, windowMs, localPath: o.topology === 'mesh' || !!coturn, ...(procs === 0 ? { windowCpuMs: (cpuW.user + cpuW.system) / 1000 } : {}) });
    const ok = up === expected && !partial && (slos ? slos.every((s) => s.ok) : true);
    const clockNote =
      procs === 0
        ? 'all peers share one clock (one process): offsets are ~0; one-way delays are exact up to the event-loop delay'
        : traffic.channels.includes('data')
          ? 'one-way delays are corrected by a clock offset estimated from the data-channel round trips (NTP-style); see maxUncertaintyMs'
          : 'no one-way delay: the peers run in separate processes (separate clocks) and without a data channel (--channels data) there are no round trips to estimate their clock offsets from';
    const result: BenchResult = {
      command: 'bench',
      ok,
      verdict: verdictLine({ topology: o.topology, peers: o.peers, expected, up, failed: failedPairs.size, partial }, agg, slos),
      partial,
      topology: o.topology,
      peers: o.peers,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs,
      windowMs,
      traffic,
      connections: { expected, up, failed: failedPairs.size, failures },
      aggregate: agg,
      upload,
      ...(dcT ? { dcThroughput: dcT } : {}),
      limit,
      clock: { note: clockNote, ...(agg.clock ? { maxUncertaintyMs: agg.clock.maxUncertaintyMs } : {}) },
      ...(turnInfo ? { turn: turnInfo } : {}),
      processes,
      ...(server ? { server } : {}),
      ...(serverCpu ? { serverCpu } : {}),
      ...(slos ? { slo: { ok: slos.every((s) => s.ok), rules: slos } } : {}),
      perConnection: sides,
      samples: { rttReliable: raw.rtt.reliable, rttUnreliable: raw.rtt.unreliable, audioOwd: raw.audioOwd, videoOwd: raw.videoOwd },
    };
    await teardown();
    if (coturn && result.turn) {
      // coturn logs the bytes of each session when the allocation ends, i.e. during teardown.
      const u = coturnUsage(coturn.log());
      result.turn = { ...result.turn, allocations: u.allocations, channelBinds: u.channelBinds, ...(u.relayedBytes !== undefined ? { relayedBytes: u.relayedBytes } : {}) };
    }
    return result;
  } catch (err) {
    await teardown();
    throw toRtcprobeError(err);
  }
}
