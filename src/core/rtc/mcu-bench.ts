/**
 * `bench --topology mcu`: a relay on loopback, the audio MCU (started here,
 * or one that has already joined the given room), N impulse participants
 * sending PCMU with their own tone burst every second (staggered), a
 * warm-up, a measurement window, then the analysis: every burst looked for
 * in every participant's mix (mouth-to-ear delay per source → listener, and
 * whether anyone heard itself), client upload and download, and the
 * server's mixing time.
 */
import { sleepUntilAborted } from '../sleep.js';
import { cpuUsage, execPath, resourceUsage } from 'node:process';
import { fileURLToPath } from 'node:url';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { SignalRelay } from '../signaling/server.js';
import { summarizeExact, type Summary } from '../bench/summary.js';
import type { ProcessUsage } from '../bench/report.js';
import { analyseListener, type Heard } from '../mcu/mouth-to-ear.js';
import { BURST_IDS } from '../mcu/impulse.js';
import { FRAME_SAMPLES } from '../mcu/mixer.js';
import { McuServer, type MixTiming } from './mcu-server.js';
import { ImpulseClient } from './mcu-client.js';
import { startRoomServer, type RoomServerChild } from './bench-server.js';
import { procCpuMs, windowCpu, type WindowCpu } from '../bench/proc-cpu.js';

/** Frames between one participant's bursts (1 s). */
export const BURST_PERIOD_FRAMES = 50;
/** One PCMU stream on the wire, nominal: 50 packets/s of 160 bytes + 12 RTP header + 10 SRTP tag. */
export const PCMU_STREAM_BPS = 50 * (FRAME_SAMPLES + 12 + 10);

export interface McuBenchOptions {
  peers: number;
  durationMs: number;
  warmupMs: number;
  jitterMs?: number;
  /** A room server that has joined this room already: use it instead of starting one. */
  external?: { url: string; room: string; token?: string };
  /** Start the MCU as its own process (`rtcprobe mcu serve`, argv of rtcprobe given) so that its CPU is its own. */
  serverProcess?: { self: string[] };
  connectTimeoutMs?: number;
  signal: AbortSignal;
  onProgress?: (p: { phase: 'starting' | 'connecting' | 'warmup' | 'measuring' | 'stopping'; fraction: number; text: string }) => void;
}

export interface McuPair {
  source: string;
  listener: string;
  expected: number;
  heard: number;
  mouthToEarMs?: Summary;
}

export interface McuBenchResult {
  command: 'bench';
  ok: boolean;
  verdict: string;
  partial: boolean;
  topology: 'mcu';
  peers: number;
  durationMs: number;
  warmupMs: number;
  windowMs: number;
  connections: { expected: number; up: number; failed: number; failures: { peerId: string; remote: string; code: string; message: string }[] };
  /** Mouth-to-ear delay of every burst heard, ms: packetization (20 ms) + path + jitter buffer + mixing clock + path back. */
  mouthToEarMs?: Summary;
  /** `partial`: heard, but the frame with their first samples was played as silence (not in the delay figures). */
  impulses: { sent: number; expected: number; heard: number; partial: number; selfHeard: number; unmatched: number; pairs: McuPair[] };
  /** Client wire bytes/s (SRTP, RTCP, DTLS), mean over the participants; ratio: to one nominal PCMU stream. */
  upload: { perPeerBps: number; ratio: number; nominalStreamBps: number };
  /** ratio: download / upload of the same participants (1 for an MCU: one mixed stream back). */
  download: { perPeerBps: number; ratio: number };
  server: {
    embedded: boolean;
    jitterMs?: number;
    framesMixed?: number;
    /** Decode + mix + encode per frame period (all participants), ms, over the MCU's whole run. */
    mixMs?: MixTiming;
    /** Share of one core the mixing took per participant over the window, %. */
    mixCpuPerParticipantPct?: number;
    dropped?: Record<string, number>;
    clockSkipped?: number;
  };
  /** The MCU process started for the run (serverProcess): its CPU over the window (from /proc). */
  serverCpu?: WindowCpu;
  processes: ProcessUsage[];
}

const sleep = sleepUntilAborted;

export async function runMcuBench(o: McuBenchOptions): Promise<McuBenchResult> {
  if (o.peers < 2 || o.peers > BURST_IDS) throw new RtcprobeError('USAGE', `--topology mcu takes 2 to ${BURST_IDS} peers (one tone burst each), not ${o.peers}`);
  const progress = o.onProgress ?? (() => {});
  const cpu0 = cpuUsage();
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async () => {
    progress({ phase: 'stopping', fraction: 1, text: 'stopping' });
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  const failures: McuBenchResult['connections']['failures'] = [];
  try {
    progress({ phase: 'starting', fraction: 0, text: 'starting the relay and the MCU' });
    let url: string;
    let room: string;
    let token: string | undefined;
    let server: McuServer | undefined;
    let child: RoomServerChild | undefined;
    if (o.external) {
      ({ url, room } = o.external);
      token = o.external.token;
    } else {
      const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { messagesPerSecond: 100_000, messageBurst: 100_000, maxPeersPerRoom: 10_000, maxStrikes: 1000, drainTimeoutMs: 500 } });
      const addr = await relay.listen();
      cleanups.push(async () => {
        await relay.close('benchmark over');
      });
      url = addr.ws;
      room = `bench-mcu-${Math.random().toString(36).slice(2, 10)}`;
    }
    if (!o.external && o.serverProcess) {
      const self = o.serverProcess.self.length ? o.serverProcess.self : [execPath, fileURLToPath(new URL('../../../bin/rtcprobe.js', import.meta.url))];
      const c = await startRoomServer({ self, role: 'mcu', url, room, timeoutMs: 15_000, signal: o.signal, args: o.jitterMs !== undefined ? ['--jitter-ms', String(o.jitterMs)] : [] });
      child = c;
      cleanups.push(async () => {
        await c.stop();
      });
    } else if (!o.external) {
      const s = new McuServer({ url, room, iceServers: [], loopback: true, signal: o.signal, timeoutMs: o.connectTimeoutMs ?? 20_000, ...(o.jitterMs !== undefined ? { jitterMs: o.jitterMs } : {}), onEvent: (e) => {
        if (e.event === 'participant-failed') failures.push({ peerId: e.remote, remote: 'mcu', code: e.code, message: e.message });
      } });
      server = s;
      cleanups.push(() => s.stop());
      await s.start();
    }
    const ids = Array.from({ length: o.peers }, (_, i) => `p${String(i).padStart(3, '0')}`);
    // Participants gather on 127.0.0.1 only when the relay is on loopback (always, for the embedded MCU).
    const host = new URL(url).hostname;
    const loopback = !o.external || host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
    const clients = ids.map((id, i) => new ImpulseClient({ url, room, peerId: id, ...(token ? { token } : {}), iceServers: [], loopback, burstId: i, timeoutMs: o.connectTimeoutMs ?? 20_000, signal: o.signal }));
    cleanups.push(async () => {
      await Promise.all(clients.map((c) => c.stop()));
    });
    progress({ phase: 'connecting', fraction: 0, text: `connecting ${o.peers} participants to the MCU` });
    const started = await Promise.allSettled(clients.map((c) => c.start()));
    started.forEach((r, i) => {
      if (r.status === 'rejected') {
        const e = toRtcprobeError(r.reason);
        failures.push({ peerId: ids[i]!, remote: clients[i]!.server ?? 'mcu', code: e.code, message: e.message });
      }
    });
    const live = clients.filter((_, i) => started[i]!.status === 'fulfilled');
    // Stagger the bursts evenly over the period so that they never overlap in a mix.
    const gap = Math.floor(BURST_PERIOD_FRAMES / o.peers);
    live.forEach((c) => c.startSending({ periodFrames: BURST_PERIOD_FRAMES, phaseFrames: c.options.burstId * gap }));
    if (live.length > 0 && o.warmupMs > 0) {
      const t0 = performance.now();
      while (!o.signal.aborted && performance.now() - t0 < o.warmupMs) {
        progress({ phase: 'warmup', fraction: (performance.now() - t0) / o.warmupMs, text: 'warming up' });
        await sleep(Math.min(200, o.warmupMs), o.signal);
      }
    }
    const w0 = performance.now();
    const childCpu0 = await procCpuMs(child?.pid);
    const wire0 = live.map((c) => c.wireBytes());
    const mix0 = server ? server.totals.framesMixed : 0;
    const mixSum0 = server ? mixTotalMs(server) : 0;
    while (live.length > 0 && !o.signal.aborted && performance.now() - w0 < o.durationMs) {
      const el = performance.now() - w0;
      progress({ phase: 'measuring', fraction: el / o.durationMs, text: `measuring ${(el / 1000).toFixed(1)} / ${(o.durationMs / 1000).toFixed(1)} s` });
      await sleep(Math.min(250, o.durationMs - el), o.signal);
    }
    const partial = o.signal.aborted;
    const w1 = performance.now();
    const windowMs = w1 - w0;
    const serverCpu = child?.pid !== undefined ? windowCpu('mcu', child.pid, childCpu0, await procCpuMs(child.pid), windowMs) : undefined;
    const wire1 = live.map((c) => c.wireBytes());
    const mixMsWindow = server ? mixTotalMs(server) - mixSum0 : 0;
    const framesWindow = server ? server.totals.framesMixed - mix0 : 0;
    for (const c of live) c.stopSending();
    // The last bursts of the window are still in the jitter buffer and on the way back.
    if (!partial) await sleep(400, o.signal);
    const sent = live.flatMap((c) => c.sent);
    const inWindow = (t: number) => t >= w0 && t <= w1 - 300;
    const heard: Heard[] = [];
    const pairs: McuPair[] = [];
    let selfHeard = 0;
    let unmatched = 0;
    const allIds = clients.map((c) => c.options.burstId);
    for (const c of live) {
      const a = analyseListener(c.options.peerId, c.frames, sent, { ownId: c.options.burstId, ids: allIds, expectFrom: w0, expectTo: w1 - 300 });
      selfHeard += a.self;
      unmatched += a.unmatched;
      const mine = a.heard.filter((h) => inWindow(h.mouthMs));
      heard.push(...mine);
      for (const [source, s] of Object.entries(a.perSource)) {
        const d = summarizeExact(mine.filter((h) => h.source === source && h.intact).map((h) => h.delayMs));
        pairs.push({ source, listener: c.options.peerId, expected: s.expected, heard: s.heard, ...(d ? { mouthToEarMs: d } : {}) });
      }
    }
    const expected = pairs.reduce((x, p) => x + p.expected, 0);
    const heardN = pairs.reduce((x, p) => x + p.heard, 0);
    const up = live.length;
    const upBps = live.length ? live.reduce((x, _c, i) => x + ((wire1[i]!.sent - wire0[i]!.sent) * 1000) / windowMs, 0) / live.length : 0;
    const downBps = live.length ? live.reduce((x, _c, i) => x + ((wire1[i]!.received - wire0[i]!.received) * 1000) / windowMs, 0) / live.length : 0;
    const m2e = summarizeExact(heard.filter((h) => h.intact).map((h) => h.delayMs));
    const mixT = server?.mixTiming();
    const cpu = cpuUsage(cpu0);
    const processes: ProcessUsage[] = [{ role: 'bench', peers: live.length, cpuMs: (cpu.user + cpu.system) / 1000, maxRssBytes: resourceUsage().maxRSS * 1024 }];
    // Every pair hears (nearly) every burst: one may fall on the window's edge.
    const pairsOk = pairs.length === up * (up - 1) && pairs.every((p) => p.expected > 0 && p.heard >= p.expected - 1);
    const ok = up === o.peers && pairsOk && selfHeard === 0 && !partial;
    const verdict = up < o.peers
      ? `mcu, ${o.peers} peers: ${up} of ${o.peers} participants connected to the MCU`
      : !m2e
        ? `mcu, ${o.peers} peers: no burst was heard (mouth-to-ear not measured)`
        : `mcu, ${o.peers} peers: ${heardN} of ${expected} bursts heard, mouth-to-ear p50 ${m2e.p50.toFixed(1)} ms (p95 ${m2e.p95.toFixed(1)} ms), ${selfHeard === 0 ? 'nobody heard itself' : `${selfHeard} burst(s) heard by their own sender`}${partial ? ' (interrupted)' : ''}`;
    const result: McuBenchResult = {
      command: 'bench',
      ok,
      verdict,
      partial,
      topology: 'mcu',
      peers: o.peers,
      durationMs: o.durationMs,
      warmupMs: o.warmupMs,
      windowMs,
      connections: { expected: o.peers, up, failed: o.peers - up, failures },
      ...(m2e ? { mouthToEarMs: m2e } : {}),
      impulses: { sent: sent.filter((s) => inWindow(s.mouthMs)).length, expected, heard: heardN, partial: heard.filter((h) => !h.intact).length, selfHeard, unmatched, pairs },
      upload: { perPeerBps: upBps, ratio: upBps / PCMU_STREAM_BPS, nominalStreamBps: PCMU_STREAM_BPS },
      download: { perPeerBps: downBps, ratio: upBps > 0 ? downBps / upBps : 0 },
      server: server
        ? {
            embedded: true,
            jitterMs: server.depth * 20,
            framesMixed: framesWindow,
            ...(mixT ? { mixMs: mixT } : {}),
            ...(framesWindow > 0 && up > 0 ? { mixCpuPerParticipantPct: (mixMsWindow / windowMs / up) * 100 } : {}),
            dropped: server.dropCounts(),
            clockSkipped: server.totals.clockSkipped,
          }
        : { embedded: false },
      ...(serverCpu ? { serverCpu } : {}),
      processes,
    };
    await teardown();
    return result;
  } catch (err) {
    await teardown();
    throw toRtcprobeError(err);
  }
}

function mixTotalMs(s: McuServer): number {
  return s.mixTotalMs();
}
