/**
 * A benchmark whose peers run in other processes or on other hosts: the
 * bench joins the room as a coordinator (never a WebRTC peer), waits for the
 * expected peers and their connections, starts the warm-up and the window,
 * stops it, collects every peer process's report through the relay and
 * merges them into one BenchResult. `--procs` uses the same path with child
 * processes on this machine and the in-process relay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { resourceUsage, cpuUsage, pid as ownPid } from 'node:process';
import { SignalClient } from '../signaling/client.js';
import type { PeerInfo } from '../signaling/protocol.js';
import {
  COORDINATOR_ROLE, ReportAssembler, isCoordMessage, windowSkewBoundMs,
  type CoordMessage, type PeerProcessReport,
} from '../bench/coordinate.js';
import {
  aggregate, checkSlos, poolRawSamples, sidesThroughRelayPorts, uploadReport, verdictLine,
  type ConnectionReport, type ProcessUsage,
} from '../bench/report.js';
import { dcThroughput, weriftLimit } from '../bench/throughput.js';
import { isObserver, roomServerRole } from './mesh.js';
import type { IceServer } from '../ice/servers.js';
import type { BenchOptions, BenchResult } from './bench-run.js';
import { DEFAULT_TRAFFIC, type MeshTraffic } from './mesh-types.js';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export interface CoordinateOptions {
  url: string;
  room: string;
  token?: string;
  expect: number;
  warmupMs: number;
  durationMs: number;
  /** Limit for the expected peers to join and for their connections to come up, ms. */
  connectTimeoutMs: number;
  signal: AbortSignal;
  onProgress?: BenchOptions['onProgress'];
  /** Called while waiting: a reason to stop waiting early (e.g. a child process exited). */
  gone?: () => string | undefined;
}

export interface CoordinateOutcome {
  coordinator: string;
  run: string;
  /** Peers (not observers) seen in the room before the run started. */
  members: string[];
  reports: PeerProcessReport[];
  /** Peers that left between the start and the reports. */
  left: string[];
  /** Members with no report. */
  missing: string[];
  windowMs: number;
  windowSkewBoundMs?: number;
  partial: boolean;
  error?: { code: string; message: string };
}

interface Status { up: number; connecting: number; failed: number; peers: string[] }

/** Run the coordinator's side of one benchmark. Rejects only when the relay cannot be joined. */
export async function coordinate(o: CoordinateOptions): Promise<CoordinateOutcome> {
  const progress = o.onProgress ?? (() => {});
  const run = randomBytes(6).toString('hex');
  const coordinator = `coordinator-${run}`;
  // The client outlives an interrupt: the stop and the reports still go through it.
  const own = new AbortController();
  const client = new SignalClient({
    url: o.url,
    room: o.room,
    peerId: coordinator,
    meta: { role: COORDINATOR_ROLE },
    reconnect: false,
    timeoutMs: Math.min(o.connectTimeoutMs, 15_000),
    signal: own.signal,
    ...(o.token ? { token: o.token } : {}),
  });
  const members = new Map<string, Status | undefined>();
  const left: string[] = [];
  let started = false;
  let stopped = false;
  const acks = new Map<string, number>();
  let windowSentAt = 0;
  const assemblers = new Map<string, ReportAssembler>();
  const reports: PeerProcessReport[] = [];
  const isPeer = (p: PeerInfo) => !isObserver(p.meta) && !roomServerRole(p.meta);
  client.on('peer-joined', (p) => {
    if (isPeer(p) && !started) members.set(p.peerId, members.get(p.peerId));
  });
  client.on('peer-left', (p) => {
    if (!members.has(p.peerId)) return;
    if (started && !stopped) left.push(p.peerId);
    else members.delete(p.peerId);
  });
  client.on('signal', ({ from, data }) => {
    if (!isCoordMessage(data)) return;
    if (data.type === 'status' && members.has(from)) members.set(from, { up: data.up, connecting: data.connecting, failed: data.failed, peers: data.peers });
    else if (data.type === 'ack' && data.run === run && !acks.has(from)) acks.set(from, performance.now());
    else if (data.type === 'report' && data.run === run) {
      const a = assemblers.get(from) ?? new ReportAssembler();
      assemblers.set(from, a);
      if (a.add(data)) {
        const r = a.done();
        if (r && !reports.some((x) => x.process.pid === r.process.pid && x.host === r.host)) reports.push(r);
      }
    }
  });
  const broadcast = (m: CoordMessage) => client.broadcast(m);
  try {
    progress({ phase: 'starting', fraction: 0, text: `joining ${o.url} room "${o.room}" as coordinator` });
    const joined = await client.connect();
    for (const p of joined.peers) if (isPeer(p)) members.set(p.peerId, undefined);
    broadcast({ rtcprobe: 'bench', type: 'status?' });
    // Wait for the expected peers, then for every connection among them to be up (or failed).
    const deadline = performance.now() + o.connectTimeoutMs;
    let error: CoordinateOutcome['error'];
    let lastAsk = performance.now();
    while (!o.signal.aborted) {
      const n = members.size;
      const statuses = [...members.values()];
      const settled = statuses.filter((s) => s && s.connecting === 0 && s.up + s.failed >= n - 1).length;
      const up = statuses.reduce((a, s) => a + (s?.up ?? 0), 0);
      progress({
        phase: 'connecting',
        fraction: n < o.expect ? n / o.expect / 2 : 0.5 + settled / n / 2,
        text: n < o.expect ? `waiting for peers: ${n} of ${o.expect} joined` : `connecting: ${up / 2} of ${(n * (n - 1)) / 2} connections up`,
      });
      if (n >= o.expect && settled === n) break;
      const why = o.gone?.();
      if (why) {
        error = { code: 'PEER_LEFT', message: why };
        break;
      }
      if (performance.now() > deadline) {
        error = n < o.expect
          ? { code: 'PEERS_MISSING', message: `${n} of ${o.expect} expected peer(s) joined room "${o.room}" within ${o.connectTimeoutMs} ms${n ? ` (${[...members.keys()].join(', ')})` : ''}` }
          : { code: 'TIMEOUT', message: `the peers' connections were not all up or failed within ${o.connectTimeoutMs} ms` };
        break;
      }
      if (performance.now() - lastAsk > 2000) {
        // A status may have been lost to a join race: ask again.
        broadcast({ rtcprobe: 'bench', type: 'status?' });
        lastAsk = performance.now();
      }
      await sleep(50, o.signal);
    }
    started = true;
    const runMembers = [...members.keys()].sort();
    const anyUp = [...members.values()].some((s) => (s?.up ?? 0) > 0);
    let windowMs = 0;
    if (anyUp && !o.signal.aborted) {
      broadcast({ rtcprobe: 'bench', type: 'start', run, warmupMs: o.warmupMs, durationMs: o.durationMs });
      const t0 = performance.now();
      while (!o.signal.aborted && performance.now() - t0 < o.warmupMs) {
        progress({ phase: 'warmup', fraction: (performance.now() - t0) / o.warmupMs, text: 'warming up' });
        await sleep(Math.min(200, o.warmupMs), o.signal);
      }
      windowSentAt = performance.now();
      broadcast({ rtcprobe: 'bench', type: 'window', run, seq: 1 });
      while (!o.signal.aborted && performance.now() - windowSentAt < o.durationMs) {
        const el = performance.now() - windowSentAt;
        progress({ phase: 'measuring', fraction: el / o.durationMs, text: `measuring ${(el / 1000).toFixed(1)} / ${(o.durationMs / 1000).toFixed(1)} s (${runMembers.length} peers)` });
        await sleep(Math.min(250, o.durationMs - el), o.signal);
      }
      windowMs = performance.now() - windowSentAt;
    }
    const partial = o.signal.aborted;
    // Stop (also after an interrupt: the peers still report what they measured) and collect.
    broadcast({ rtcprobe: 'bench', type: 'stop', run });
    stopped = true;
    const covered = () => new Set(reports.flatMap((r) => r.peerIds));
    // Peers may wait up to 10 s for reliable echoes still being retransmitted (SCTP RTO backs off 1.5× from 1 s).
    const waitUntil = performance.now() + (partial ? 3000 : 25_000);
    while (performance.now() < waitUntil) {
      const c = covered();
      if (runMembers.every((m) => c.has(m) || left.includes(m))) break;
      progress({ phase: 'stopping', fraction: c.size / (runMembers.length || 1), text: `collecting reports: ${c.size} of ${runMembers.length} peers` });
      await sleep(50);
    }
    broadcast({ rtcprobe: 'bench', type: 'done', run });
    const c = covered();
    const skew = windowSentAt ? windowSkewBoundMs(windowSentAt, [...acks.values()]) : undefined;
    if (!error && left.length) error = { code: 'PEER_LEFT', message: `${left.join(', ')} left the room during the run; the figures cover what was measured before` };
    return {
      coordinator,
      run,
      members: runMembers,
      reports,
      left,
      missing: runMembers.filter((m) => !c.has(m)),
      windowMs,
      ...(skew !== undefined ? { windowSkewBoundMs: skew } : {}),
      partial,
      ...(error ? { error } : {}),
    };
  } finally {
    // Let the last broadcast leave before closing.
    await sleep(50);
    own.abort();
    await client.close().catch(() => {});
  }
}

export interface ChildPeers {
  children: { child: ChildProcess; ids: string[]; summary?: Record<string, unknown>; exited: Promise<void> }[];
  /** A reason when a child ended before the run did. */
  gone(): string | undefined;
  stop(): Promise<void>;
}

/** Start `procs` child processes running `rtcprobe peer --count M`, the ids spread over them in blocks. */
export function spawnPeerProcesses(o: {
  self: string[];
  url: string;
  room: string;
  ids: string[];
  procs: number;
  traffic: MeshTraffic;
  relayOnly: boolean;
  iceServers: IceServer[];
  connectTimeoutMs: number;
  env?: Record<string, string | undefined>;
}): ChildPeers {
  const out: ChildPeers['children'] = [];
  const per = Math.floor(o.ids.length / o.procs);
  const extra = o.ids.length % o.procs;
  let at = 0;
  for (let k = 0; k < o.procs; k++) {
    const n = per + (k < extra ? 1 : 0);
    const ids = o.ids.slice(at, at + n);
    at += n;
    if (ids.length === 0) continue;
    const t = o.traffic;
    const args = [...o.self.slice(1), 'peer', '--signal', o.url, '--room', o.room, '--peer-id', ids.join(','), '--count', String(ids.length), '--loopback', '--json',
      '--channels', t.channels.join(','), '--rate', String(t.dataRate), '--size', String(t.dataSize),
      '--video-fps', String(t.videoFps), '--video-kbps', String(t.videoKbps), '--stats-interval', '0', '--timeout', String(o.connectTimeoutMs)];
    const env: Record<string, string | undefined> = { ...(o.env ?? {}) };
    if (o.relayOnly) {
      const s = o.iceServers[0]!;
      args.push('--relay-only', '--turn', s.urls[0]!, '--user', s.username!);
      // The password goes through the environment, not the command line (visible in ps).
      env.RTCPROBE_TURN_PASSWORD = s.credential!;
    }
    const child = spawn(o.self[0]!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env as NodeJS.ProcessEnv });
    const entry: ChildPeers['children'][number] = { child, ids, exited: new Promise((res) => child.once('exit', () => res())) };
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.event === 'summary') entry.summary = j;
      } catch {
        // not JSON: ignore
      }
    });
    child.stderr?.resume();
    out.push(entry);
  }
  return {
    children: out,
    gone() {
      const dead = out.find((c) => c.child.exitCode !== null || c.child.signalCode !== null);
      return dead ? `the peer process running ${dead.ids.join(', ')} ended (exit ${dead.child.exitCode ?? dead.child.signalCode}) before the run` : undefined;
    },
    async stop() {
      await Promise.all(out.map(async (c) => {
        if (c.child.exitCode === null && c.child.signalCode === null) {
          c.child.kill('SIGTERM');
          const t = setTimeout(() => c.child.kill('SIGKILL'), 5000);
          await c.exited;
          clearTimeout(t);
        }
      }));
    },
  };
}

/** A child's stdout summary as a report (when its report did not come through the relay, e.g. after Ctrl-C). */
export function reportFromSummary(s: Record<string, unknown>): PeerProcessReport | undefined {
  const conns = s.connections as ConnectionReport[] | undefined;
  const p = s.process as { pid?: number; host?: string; cpuMs?: number; maxRssBytes?: number } | undefined;
  const ids = (s.peerIds as string[] | undefined) ?? (typeof s.peerId === 'string' ? [s.peerId] : []);
  if (!Array.isArray(conns) || !p) return undefined;
  return {
    peerIds: ids,
    host: p.host ?? hostname(),
    process: { role: 'peer', ...(p.pid ? { pid: p.pid } : {}), ...(p.host ? { host: p.host } : {}), peers: ids.length, cpuMs: p.cpuMs ?? 0, maxRssBytes: p.maxRssBytes ?? 0 },
    connections: conns,
    failures: ((s.failures as PeerProcessReport['failures'] | undefined) ?? []).map((f) => ({ ...f, peerId: f.peerId ?? ids[0] ?? '' })),
  };
}

/** Merge a coordinated run into the bench's result shape. */
export function coordinatedResult(
  o: Pick<BenchOptions, 'topology' | 'durationMs' | 'warmupMs' | 'slo'> & { traffic: MeshTraffic; expect: number; mode: 'procs' | 'hosts'; relay: string; room: string },
  c: CoordinateOutcome,
  cpu0: NodeJS.CpuUsage,
  turn?: { info: NonNullable<BenchResult['turn']>; relayPorts?: [number, number] },
): BenchResult {
  const failures: BenchResult['connections']['failures'] = [];
  const processes: ProcessUsage[] = [];
  let sides: ConnectionReport[] = [];
  for (const r of [...c.reports].sort((x, y) => ((x.peerIds[0] ?? '') < (y.peerIds[0] ?? '') ? -1 : 1))) {
    sides.push(...r.connections);
    failures.push(...r.failures);
    processes.push(r.process);
  }
  for (const l of c.left) failures.push({ peerId: l, remote: '', code: 'PEER_LEFT', message: `${l} left the room during the run` });
  if (c.error?.code === 'PEERS_MISSING' || c.error?.code === 'TIMEOUT') failures.push({ peerId: '', remote: '', code: c.error.code, message: c.error.message });
  for (const m of c.missing) if (!c.left.includes(m)) failures.push({ peerId: m, remote: '', code: 'NO_REPORT', message: `no report from ${m} reached the coordinator` });
  const pooled = poolRawSamples(sides);
  const raw = pooled.raw;
  sides = pooled.sides;
  // A side closed because its remote left mid-window still carries what it measured until then: count its figures.
  const measured = sides.map((s) => (s.state === 'closed' && s.dc && c.left.includes(s.remote) ? { ...s, state: 'up' as const } : s));
  const agg = aggregate(measured, raw);
  const n = Math.max(o.expect, c.members.length);
  const expected = (n * (n - 1)) / 2;
  const upSides = new Set(sides.filter((s) => s.state === 'up').map((s) => `${s.peerId}|${s.remote}`));
  let up = 0;
  for (const s of sides) if (s.peerId < s.remote && upSides.has(`${s.peerId}|${s.remote}`) && upSides.has(`${s.remote}|${s.peerId}`)) up++;
  const failedPairs = new Set(failures.filter((f) => f.remote).map((f) => [f.peerId, f.remote].sort().join('|')));
  const cpu = cpuUsage(cpu0);
  processes.unshift({ role: 'bench', pid: ownPid, host: hostname(), peers: 0, cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: resourceUsage().maxRSS * 1024 });
  let turnInfo = turn?.info;
  if (turnInfo && turn?.relayPorts) turnInfo = { ...turnInfo, sidesThroughIt: sidesThroughRelayPorts(sides, turn.relayPorts) };
  const slos = o.slo?.length ? checkSlos(o.slo, agg) : undefined;
  const upload = uploadReport(measured, n, o.traffic);
  // Each peer sends for its own window of durationMs; their CPU is in processes, not attributable here.
  const dcT = dcThroughput(measured, o.traffic, o.durationMs);
  const limit = weriftLimit({ ...(dcT ? { throughput: dcT } : {}), windowMs: o.durationMs, localPath: o.mode === 'procs' });
  const ok = up === expected && !c.partial && !c.error && c.missing.length === 0 && (slos ? slos.every((s) => s.ok) : true);
  const offsets = sides
    .filter((s) => s.dc?.clock)
    .map((s) => ({ peerId: s.peerId, remote: s.remote, offsetMs: s.dc!.clock!.offsetMs, uncertaintyMs: s.dc!.clock!.uncertaintyMs }));
  const hosts = new Set(processes.filter((p) => p.role === 'peer').map((p) => p.host));
  const note =
    `peers in ${processes.length - 1} process(es) on ${hosts.size} host(s), each with its own clock: one-way delays are offset-corrected per connection ` +
    (o.traffic.channels.includes('data')
      ? '(offset estimated NTP-style from the data-channel round trips; uncertainty = half the smallest round trip + half the spread of the kept offsets, per connection in clock.offsets)'
      : '— but without a data channel (--channels data) there are no round trips to estimate an offset from: one-way delays are known only between peers of the same process (offset 0), not across processes');
  let verdict = verdictLine({ topology: o.topology, peers: n, expected, up, failed: failedPairs.size, partial: c.partial }, agg, slos);
  if (c.error) verdict = `${verdict}; ${c.error.code}: ${c.error.message}`;
  return {
    command: 'bench',
    ok,
    verdict,
    partial: c.partial,
    topology: o.topology,
    peers: n,
    durationMs: o.durationMs,
    warmupMs: o.warmupMs,
    windowMs: c.windowMs,
    traffic: o.traffic,
    connections: { expected, up, failed: failedPairs.size, failures },
    aggregate: agg,
    upload,
    ...(dcT ? { dcThroughput: dcT } : {}),
    limit,
    clock: { note, ...(agg.clock ? { maxUncertaintyMs: agg.clock.maxUncertaintyMs } : {}), offsets },
    ...(turnInfo ? { turn: turnInfo } : {}),
    processes,
    ...(slos ? { slo: { ok: slos.every((s) => s.ok), rules: slos } } : {}),
    coordination: {
      mode: o.mode,
      relay: o.relay,
      room: o.room,
      run: c.run,
      expect: o.expect,
      members: c.members,
      reports: c.reports.length,
      left: c.left,
      missing: c.missing,
      ...(c.windowSkewBoundMs !== undefined ? { windowSkewBoundMs: c.windowSkewBoundMs } : {}),
      ...(c.error ? { error: c.error } : {}),
    },
    perConnection: sides,
    samples: { rttReliable: raw.rtt.reliable, rttUnreliable: raw.rtt.unreliable, audioOwd: raw.audioOwd, videoOwd: raw.videoOwd },
  };
}

/** `rtcprobe bench --signal URL --room R --expect N`: peers started elsewhere, coordinated through their relay. */
export async function runRemoteBench(o: BenchOptions & { remote: NonNullable<BenchOptions['remote']> }): Promise<BenchResult> {
  const cpu0 = cpuUsage();
  const traffic: MeshTraffic = { ...DEFAULT_TRAFFIC, ...o.traffic };
  const c = await coordinate({
      url: o.remote.url,
      room: o.remote.room,
      ...(o.remote.token ? { token: o.remote.token } : {}),
      expect: o.remote.expect,
      warmupMs: o.warmupMs,
      durationMs: o.durationMs,
      connectTimeoutMs: o.connectTimeoutMs ?? 20_000,
      signal: o.signal,
      ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    });
  return coordinatedResult({ ...o, traffic, expect: o.remote.expect, mode: 'hosts', relay: o.remote.url, room: o.remote.room }, c, cpu0);
}
