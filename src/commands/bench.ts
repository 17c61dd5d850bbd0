import { setMaxListeners } from 'node:events';
import { writeFileSync } from 'node:fs';
import { pickCredentials } from './shared-options.js';
import { RtcprobeError, toRtcprobeError } from '../core/errors.js';
import type { CommandOutcome } from '../output.js';
import type { RunContext } from './context.js';
import { defineCommand, defineOptions, intOption, numberOption, type OptionValues } from './options.js';
import { TRAFFIC_OPTIONS, trafficFrom } from './rtc-shared.js';

const benchOptions = defineOptions([
  { flags: '--topology <name>', description: 'mesh: every peer connects to every other on loopback; turn: the same, every peer relay-only through a TURN server; sfu: every peer connects only to an SFU started for the run; mcu: every peer sends PCMU to an audio MCU started for the run and hears the mix; all: mesh, sfu, mcu and turn one after another on one audio workload, compared', default: 'mesh' },
  { flags: '--peers <n>', description: 'number of peers', default: 2, parse: intOption(2, 64) },
  { flags: '--sweep <spec>', description: 'run once per size and compare, e.g. peers=2,4,8' },
  { flags: '--duration <s>', description: 'measurement window, seconds', default: 5, parse: numberOption(0.2, 86_400) },
  { flags: '--warmup <s>', description: 'traffic before the window (not measured), seconds', default: 1, parse: numberOption(0, 3600) },
  ...TRAFFIC_OPTIONS,
  { flags: '--procs <k>', description: 'spread the peers over K child processes ("rtcprobe peer --count M"), coordinated through the in-process relay; none then runs in the bench process', default: 0, parse: intOption(0, 64) },
  { flags: '--signal <url>', description: 'peers on other hosts: coordinate the "rtcprobe peer" processes in --room of this relay instead of starting peers here' },
  { flags: '--room <room>', description: 'with --signal: the room the peers joined' },
  { flags: '--expect <n>', description: 'with --signal: how many peers to wait for (within --timeout)', parse: intOption(2, 1000) },
  { flags: '--token <token>', description: 'with --signal: join token for a relay started with --secret (or env RTCPROBE_SIGNAL_TOKEN)' },
  { flags: '--turn <uri>', description: 'turn topology: this TURN server (turn:host:port?transport=udp) instead of a coturn started for the run' },
  { flags: '-u, --user <name>', description: 'TURN long-term credential user' },
  { flags: '-p, --password <password>', description: 'TURN long-term credential password (or env RTCPROBE_TURN_PASSWORD)' },
  { flags: '--secret <secret>', description: 'coturn REST API shared secret (or env RTCPROBE_TURN_SECRET)' },
  { flags: '--slo <rules>', description: 'service-level objectives, e.g. "dc.rtt.p99<50ms,rtp.loss<1%": exit 1 when one is breached' },
  { flags: '--csv <file>', description: 'write one CSV row per connection side to this file' },
  { flags: '--html <file>', description: 'write a self-contained HTML report (charts, no network requests) to this file' },
  { flags: '--server <url#room>', description: 'sfu, mcu: use the SFU or MCU that has already joined this room of this relay (ws://host:port/#room) instead of starting one (join token: env RTCPROBE_SIGNAL_TOKEN)' },
  { flags: '--jitter-ms <ms>', description: 'mcu: jitter buffer depth of the MCU, ms (whole 20 ms frames)', default: 40, parse: intOption(20, 1000) },
  { flags: '-t, --timeout <ms>', description: 'limit for every connection to come up', default: 20_000, parse: intOption(1000, 300_000) },
]);

type BenchOpts = OptionValues<typeof benchOptions>;

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'latency benchmark on this machine: a relay and N headless peers (mesh, through TURN, an SFU or an MCU, or all four compared), measured, then torn down',
  options: benchOptions,
  run: runBenchCommand,
});

async function runBenchCommand(_args: string[], opts: BenchOpts, ctx: RunContext): Promise<CommandOutcome> {
  const { TOPOLOGIES, runBench } = await import('../core/rtc/bench-run.js');
  const { parseSlo, SloParseError } = await import('../core/bench/report.js');
  const { renderBenchText, renderBenchCsv, renderBenchHtml } = await import('../core/bench/render.js');
  const topology = opts.topology;
  if (topology !== 'all' && !(TOPOLOGIES as readonly string[]).includes(topology)) throw new RtcprobeError('USAGE', `--topology must be mesh, turn, sfu, mcu or all, not "${topology}"`);
  const traffic = trafficFrom(opts);
  let slo;
  try {
    slo = opts.slo !== undefined ? parseSlo(opts.slo) : undefined;
  } catch (err) {
    if (err instanceof SloParseError) throw new RtcprobeError('USAGE', `--slo: ${err.message}`);
    throw err;
  }
  let sizes = [opts.peers];
  if (opts.sweep !== undefined) {
    const m = /^peers=(\d+(?:,\d+)*)$/.exec(opts.sweep.trim());
    if (!m) throw new RtcprobeError('USAGE', '--sweep must look like peers=2,4,8');
    sizes = m[1]!.split(',').map(Number);
    if (sizes.some((n) => n < 2 || n > 64)) throw new RtcprobeError('USAGE', '--sweep: every size must be between 2 and 64');
  }
  if (topology === 'mcu') return runMcuTopology(sizes, opts, ctx);
  if (topology === 'all') return runAllTopologies(sizes, opts, ctx);
  if (ctx.source('jitterMs') === 'cli') throw new RtcprobeError('USAGE', '--jitter-ms goes with --topology mcu');
  if (opts.server !== undefined && topology !== 'sfu') throw new RtcprobeError('USAGE', '--server goes with --topology sfu or mcu');
  const external = parseServer(opts, ctx);
  if (external && (opts.procs > 0 || opts.signal !== undefined)) throw new RtcprobeError('USAGE', '--server excludes --procs and --signal (the peers run here and join that room)');
  let turn;
  if (opts.turn !== undefined) {
    if (topology !== 'turn') throw new RtcprobeError('USAGE', '--turn needs --topology turn');
    turn = await turnCredentials(opts.turn, opts, ctx);
  }
  let remote: { url: string; room: string; token?: string; expect: number } | undefined;
  if (opts.signal !== undefined) {
    if (!/^wss?:\/\//.test(opts.signal)) throw new RtcprobeError('USAGE', `--signal "${opts.signal}" is not a ws:// or wss:// URL`);
    if (opts.room === undefined || opts.expect === undefined) throw new RtcprobeError('USAGE', '--signal needs --room and --expect');
    if (opts.procs > 0 || opts.sweep !== undefined || opts.turn !== undefined) throw new RtcprobeError('USAGE', '--signal excludes --procs, --sweep and --turn (the peers bring their own ICE servers)');
    const token = opts.token ?? (ctx.env.RTCPROBE_SIGNAL_TOKEN || undefined);
    remote = { url: opts.signal, room: opts.room, expect: opts.expect, ...(token ? { token } : {}) };
    sizes = [opts.expect];
  } else if (opts.room !== undefined || opts.expect !== undefined || opts.token !== undefined) throw new RtcprobeError('USAGE', '--room, --expect and --token go with --signal');
  const progress = await ctx.progress('bench: starting');
  const results: Awaited<ReturnType<typeof runBench>>[] = [];
  try {
    for (const n of sizes) {
      if (ctx.signal.aborted) break;
      results.push(
        await runBench({
          topology: topology as 'mesh' | 'turn' | 'sfu',
          peers: n,
          durationMs: opts.duration * 1000,
          warmupMs: opts.warmup * 1000,
          traffic,
          ...(turn ? { turn } : {}),
          path: ctx.env.PATH,
          procs: opts.procs,
          ...(remote ? { remote } : {}),
          ...(external ? { server: external } : {}),
          ...(slo ? { slo } : {}),
          connectTimeoutMs: opts.timeout,
          signal: ctx.signal,
          onProgress: (p) => progress.update(`bench ${topology}, ${n} peers: ${p.text} ${'█'.repeat(Math.round(p.fraction * 20)).padEnd(20, '░')}`),
        }),
      );
    }
  } finally {
    progress.stop();
  }
  const last = results[results.length - 1];
  if (!last) throw new RtcprobeError('ABORTED', 'interrupted before anything was measured');
  const forFiles = last;
  if (opts.csv !== undefined) writeOut(opts.csv, '--csv', results.map((r) => renderBenchCsv(r)).join(''));
  if (opts.html !== undefined) {
    const cdfs: Record<string, number[]> = {};
    cdfs['DC RTT reliable'] = forFiles.samples.rttReliable;
    cdfs['DC RTT unreliable'] = forFiles.samples.rttUnreliable;
    cdfs['audio one-way'] = forFiles.samples.audioOwd;
    cdfs['video one-way'] = forFiles.samples.videoOwd;
    writeOut(opts.html, '--html', renderBenchHtml(forFiles, cdfs));
  }
  const failed = results.some((r) => r.connections.up < r.connections.expected || (r.slo && !r.slo.ok) || r.coordination?.error !== undefined || (r.coordination?.missing.length ?? 0) > 0);
  const exitCode = failed ? 1 : results.some((r) => r.partial) ? 2 : 0;
  const strip = <T extends { samples?: unknown }>(r: T) => {
    const { samples: _s, ...rest } = r;
    return rest;
  };
  const json = sizes.length > 1 || opts.sweep !== undefined
    ? { command: 'bench', ok: !failed, sweep: results.map((r) => ({ peers: r.peers, verdict: r.verdict, dcRttP99Ms: r.aggregate.dc?.reliable.rttMs?.p99, uploadPerPeerBps: r.upload.perPeerBps, uploadRatio: r.upload.ratio, cpuMs: r.processes.reduce((a, p) => a + p.cpuMs, 0) })), runs: results.map(strip) }
    : strip(last);
  return {
    exitCode,
    json,
    human: (st) => {
      const lines: string[] = [];
      for (const r of results) {
        lines.push(`${r.ok ? st.ok : r.partial ? st.warn : st.fail} ${st.c.bold(r.verdict)}`, ...renderBenchText(r));
        if (r.coordination) lines.push(...coordinationLines(r));
        lines.push('');
      }
      if (results.length > 1) {
        lines.push(st.c.bold('sweep'), '    peers  DC RTT p99 ms  upload/peer kbit/s  ratio  CPU ms');
        for (const r of results) lines.push(`    ${String(r.peers).padStart(5)}  ${(r.aggregate.dc?.reliable.rttMs?.p99.toFixed(2) ?? '-').padStart(13)}  ${((r.upload.perPeerBps * 8) / 1000).toFixed(0).padStart(18)}  ${r.upload.ratio.toFixed(2).padStart(5)}  ${r.processes.reduce((a, p) => a + p.cpuMs, 0).toFixed(0).padStart(6)}`);
      }
      return lines.join('\n');
    },
  };
}

/** Who ran where, how well the windows lined up, and the clock offsets (runs spread over processes or hosts). */
function coordinationLines(r: { coordination?: { mode: string; relay: string; room: string; members: string[]; reports: number; left: string[]; missing: string[]; windowSkewBoundMs?: number; error?: { code: string; message: string } }; clock: { offsets?: { peerId: string; remote: string; offsetMs: number; uncertaintyMs: number }[]; maxUncertaintyMs?: number } }): string[] {
  const c = r.coordination!;
  const out = ['', `coordination (${c.mode}): room "${c.room}" on ${c.relay}, ${c.members.length} peer(s), ${c.reports} report(s)`];
  if (c.windowSkewBoundMs !== undefined) out.push(`    windows started within ${c.windowSkewBoundMs.toFixed(1)} ms of each other (largest window→ack round trip through the relay)`);
  if (c.left.length) out.push(`    left during the run: ${c.left.join(', ')}`);
  if (c.missing.length) out.push(`    no report from: ${c.missing.join(', ')}`);
  if (c.error) out.push(`    ${c.error.code}: ${c.error.message}`);
  if (r.clock.offsets?.length) {
    out.push(`    clock offsets (remote minus local; one-way delays are corrected by them), max uncertainty ±${(r.clock.maxUncertaintyMs ?? 0).toFixed(3)} ms:`);
    for (const o of r.clock.offsets) out.push(`      ${o.peerId} → ${o.remote}: ${o.offsetMs.toFixed(3)} ms ± ${o.uncertaintyMs.toFixed(3)} ms`);
  }
  return out;
}

type McuResult = import('../core/rtc/mcu-bench.js').McuBenchResult;

/** The figures of one MCU run under its verdict line. */
function mcuDetailLines(r: McuResult): string[] {
  const f = (v: number | undefined, d = 1) => (v === undefined ? '-' : v.toFixed(d));
  const m = r.mouthToEarMs;
  const lines = [
    `    mouth-to-ear  ${m ? `p50 ${f(m.p50)} / p95 ${f(m.p95)} / p99 ${f(m.p99)} / max ${f(m.max)} ms over ${m.count} bursts (20 ms packetization, jitter buffer ${r.server.jitterMs ?? '?'} ms, mixing clock, path)` : 'not measured: no burst heard'}`,
    `    impulses      ${r.impulses.heard}/${r.impulses.expected} heard with the right source${r.impulses.partial ? ` (${r.impulses.partial} without their first frame: not timed)` : ''}; own burst heard ${r.impulses.selfHeard} time(s); unmatched ${r.impulses.unmatched}`,
    `    bytes/client  up ${f((r.upload.perPeerBps * 8) / 1000, 0)} kbit/s (${f(r.upload.ratio, 2)}x one PCMU stream), down ${f((r.download.perPeerBps * 8) / 1000, 0)} kbit/s (${f(r.download.ratio, 2)}x the upload)`,
  ];
  if (r.server.embedded) lines.push(`    MCU           mixing p50 ${f(r.server.mixMs?.p50, 3)} ms per 20 ms frame period, ${f(r.server.mixCpuPerParticipantPct, 3)} % of a core per participant; drops ${Object.entries(r.server.dropped ?? {}).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  if (r.serverCpu) lines.push(`    MCU process   ${r.serverCpu.pid}: ${f(r.serverCpu.pctOfCore)} % of a core over the window (${f(r.serverCpu.cpuMs, 0)} ms of CPU)`);
  return lines;
}

/** One MCU run as a row of the topology comparison. */
function mcuFigures(r: McuResult): import('../core/bench/compare.js').TopologyFigures {
  const mixPct = r.server.mixCpuPerParticipantPct !== undefined ? r.server.mixCpuPerParticipantPct * r.connections.up : undefined;
  return {
    topology: 'mcu', peers: r.peers, ok: r.ok, verdict: r.verdict, connections: { expected: r.connections.expected, up: r.connections.up },
    uploadPerPeerBps: r.upload.perPeerBps, downloadPerPeerBps: r.download.perPeerBps, streamBps: r.upload.nominalStreamBps,
    ...(r.serverCpu
      ? { serverCpuPct: r.serverCpu.pctOfCore }
      : { serverCpuNote: r.server.embedded ? `the MCU runs in this process with the participants${mixPct !== undefined ? ` (its mixing alone: ${mixPct.toFixed(2)} % of a core)` : ''}` : 'an MCU elsewhere: its CPU is not visible from here (read its /metrics)' }),
    ...(r.mouthToEarMs ? { delayMs: r.mouthToEarMs } : {}),
  };
}

/** `--server ws://host:port/#room`: a room server that has already joined that room (join token: env RTCPROBE_SIGNAL_TOKEN). */
function parseServer(opts: BenchOpts, ctx: RunContext): { url: string; room: string; token?: string } | undefined {
  if (opts.server === undefined) return undefined;
  const m = /^(wss?:\/\/[^#]+)#(.+)$/.exec(opts.server.trim());
  if (!m) throw new RtcprobeError('USAGE', '--server must look like ws://host:port/#room');
  const token = ctx.env.RTCPROBE_SIGNAL_TOKEN;
  return { url: m[1]!, room: decodeURIComponent(m[2]!), ...(token ? { token } : {}) };
}

function writeOut(path: string, flag: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (err) {
    throw new RtcprobeError('USAGE', `cannot write ${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** `--topology mcu`: PCMU participants through an audio MCU, mouth-to-ear from tone bursts. */
async function runMcuTopology(sizes: number[], opts: BenchOpts, ctx: RunContext): Promise<CommandOutcome> {
  const { runMcuBench } = await import('../core/rtc/mcu-bench.js');
  const external = parseServer(opts, ctx);
  if (opts.procs > 0) throw new RtcprobeError('USAGE', '--procs is not supported with --topology mcu (the participants run in this process)');
  if (opts.turn !== undefined || opts.slo !== undefined) throw new RtcprobeError('USAGE', '--turn and --slo are not supported with --topology mcu');
  const progress = await ctx.progress('bench: starting');
  const results: Awaited<ReturnType<typeof runMcuBench>>[] = [];
  try {
    for (const n of sizes) {
      if (ctx.signal.aborted) break;
      results.push(await runMcuBench({
        peers: n, durationMs: opts.duration * 1000, warmupMs: opts.warmup * 1000, jitterMs: opts.jitterMs, ...(external ? { external } : {}), connectTimeoutMs: opts.timeout, signal: ctx.signal,
        onProgress: (p) => progress.update(`bench mcu, ${n} peers: ${p.text} ${'█'.repeat(Math.round(p.fraction * 20)).padEnd(20, '░')}`),
      }));
    }
  } finally {
    progress.stop();
  }
  const last = results[results.length - 1];
  if (!last) throw new RtcprobeError('ABORTED', 'interrupted before anything was measured');
  const failed = results.some((r) => !r.ok && !r.partial);
  const exitCode = failed ? 1 : results.some((r) => r.partial) ? 2 : 0;
  if (opts.csv !== undefined || opts.html !== undefined) {
    const { buildComparison, renderComparisonHtml } = await import('../core/bench/compare.js');
    const { renderMcuCsv } = await import('../core/bench/render.js');
    if (opts.csv !== undefined) writeOut(opts.csv, '--csv', renderMcuCsv(results));
    if (opts.html !== undefined) {
      const rows = buildComparison(results.map(mcuFigures));
      writeOut(opts.html, '--html', renderComparisonHtml({ ok: !failed, verdict: results.map((r) => r.verdict).join('; '), rows, details: results.map((r) => ({ title: `mcu, ${r.peers} peers`, text: [r.verdict, ...mcuDetailLines(r)] })) }));
    }
  }
  const json = results.length > 1 ? { command: 'bench', ok: !failed, sweep: results.map((r) => ({ peers: r.peers, verdict: r.verdict, mouthToEarP50Ms: r.mouthToEarMs?.p50, uploadPerPeerBps: r.upload.perPeerBps, downloadPerPeerBps: r.download.perPeerBps, mixCpuPerParticipantPct: r.server.mixCpuPerParticipantPct })), runs: results } : last;
  return {
    exitCode,
    json,
    human: (st) => {
      const lines: string[] = [];
      for (const r of results) {
        lines.push(`${r.ok ? st.ok : r.partial ? st.warn : st.fail} ${st.c.bold(r.verdict)}`, ...mcuDetailLines(r));
        lines.push('');
      }
      return lines.join('\n');
    },
  };
}

/** The workload of `--topology all`: one audio stream per peer (PCMU-sized: 160 bytes every 20 ms) and light clock probes. */
const ALL_TRAFFIC = { channels: ['data', 'audio'], dataRate: 5, dataSize: 48 } as const;

/** `--topology all`: mesh, sfu, mcu and turn one after another on one workload, and their comparison. */
async function runAllTopologies(sizes: number[], opts: BenchOpts, ctx: RunContext): Promise<CommandOutcome> {
  const { runBench } = await import('../core/rtc/bench-run.js');
  const { runMcuBench } = await import('../core/rtc/mcu-bench.js');
  const { findOnPath } = await import('../core/rtc/coturn.js');
  const { buildComparison, comparisonVerdict, renderComparisonText, renderComparisonCsv, renderComparisonHtml } = await import('../core/bench/compare.js');
  const { renderBenchText } = await import('../core/bench/render.js');
  type Figures = import('../core/bench/compare.js').TopologyFigures;
  for (const k of ['channels', 'rate', 'size', 'videoFps', 'videoKbps'] as const) {
    if (ctx.source(k) === 'cli') throw new RtcprobeError('USAGE', '--topology all runs one fixed audio workload (the MCU carries audio only): --channels, --rate, --size, --video-fps and --video-kbps do not apply');
  }
  if (opts.procs > 0 || opts.signal !== undefined || opts.room !== undefined || opts.expect !== undefined || opts.token !== undefined) throw new RtcprobeError('USAGE', '--topology all runs every peer in this process: --procs, --signal, --room, --expect and --token do not apply');
  if (opts.slo !== undefined || opts.server !== undefined) throw new RtcprobeError('USAGE', '--slo and --server do not apply to --topology all');
  let turn: { url: string; username: string; credential: string } | undefined;
  let turnMissing: string | undefined;
  if (opts.turn !== undefined) {
    turn = await turnCredentials(opts.turn, opts, ctx);
  } else if (!findOnPath('turnserver', ctx.env.PATH)) turnMissing = 'no TURN server: coturn (turnserver) is not installed here and no --turn was given';
  // Four runs (per size) one after another share the interrupt signal: each adds its listeners.
  setMaxListeners(100, ctx.signal);
  const progress = await ctx.progress('bench: starting');
  const figures: Figures[] = [];
  const runs: Record<string, unknown[]> = { mesh: [], sfu: [], mcu: [], turn: [] };
  const details: { title: string; text: string[] }[] = [];
  const bar = (f: number) => '█'.repeat(Math.round(f * 20)).padEnd(20, '░');
  const strip = <T extends { samples?: unknown }>(r: T) => {
    const { samples: _s, ...rest } = r;
    return rest;
  };
  // One topology that cannot run (its server does not start, ...) is a failed row, not the end of the comparison.
  const attempt = async <T>(t: (typeof figures)[number]['topology'], n: number, run: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await run();
    } catch (err) {
      const e = toRtcprobeError(err);
      if (e.code === 'ABORTED' || ctx.signal.aborted) throw e;
      figures.push({ topology: t, peers: n, error: { code: e.code, message: e.message } });
      return undefined;
    }
  };
  try {
    for (const n of sizes) {
      let meshStream: number | undefined;
      for (const t of ['mesh', 'sfu', 'mcu', 'turn'] as const) {
        if (ctx.signal.aborted) break;
        if (t === 'turn' && turnMissing) {
          figures.push({ topology: t, peers: n, notRun: turnMissing });
          continue;
        }
        if (t === 'mcu') {
          if (n > 8) {
            figures.push({ topology: t, peers: n, notRun: 'the MCU run takes 2 to 8 peers (one tone burst each)' });
            continue;
          }
          const r = await attempt(t, n, () => runMcuBench({
            peers: n, durationMs: opts.duration * 1000, warmupMs: opts.warmup * 1000, jitterMs: opts.jitterMs, serverProcess: { self: [] }, connectTimeoutMs: opts.timeout, signal: ctx.signal,
            onProgress: (p) => progress.update(`bench all (${n} peers): mcu: ${p.text} ${bar(p.fraction)}`),
          }));
          if (!r) continue;
          runs.mcu!.push(r);
          details.push({ title: `mcu, ${n} peers`, text: [r.verdict, ...mcuDetailLines(r)] });
          figures.push(mcuFigures(r));
          continue;
        }
        const r = await attempt(t, n, () => runBench({
          topology: t, peers: n, durationMs: opts.duration * 1000, warmupMs: opts.warmup * 1000, traffic: { ...ALL_TRAFFIC, channels: [...ALL_TRAFFIC.channels] },
          ...(t === 'turn' && turn ? { turn } : {}), path: ctx.env.PATH, procs: 0, connectTimeoutMs: opts.timeout, signal: ctx.signal,
          onProgress: (p) => progress.update(`bench all (${n} peers): ${t}: ${p.text} ${bar(p.fraction)}`),
        }));
        if (!r) continue;
        runs[t]!.push(strip(r));
        details.push({ title: `${t}, ${n} peers`, text: [r.verdict, ...renderBenchText(r)] });
        if (t === 'mesh' && r.upload.perConnectionBps > 0) meshStream = r.upload.perConnectionBps;
        const stream = meshStream ?? (t !== 'sfu' && r.upload.perConnectionBps > 0 ? r.upload.perConnectionBps : undefined);
        figures.push({
          topology: t, peers: n, ok: r.ok, verdict: r.verdict, connections: { expected: r.connections.expected, up: r.connections.up },
          uploadPerPeerBps: r.upload.perPeerBps, ...(r.upload.downloadPerPeerBps !== undefined ? { downloadPerPeerBps: r.upload.downloadPerPeerBps } : {}),
          ...(stream !== undefined ? { streamBps: stream } : {}),
          ...(r.serverCpu ? { serverCpuPct: r.serverCpu.pctOfCore } : { serverCpuNote: t === 'turn' ? 'an external TURN server: its CPU is not visible from here' : 'the server process could not be read in /proc' }),
          ...(r.aggregate.audio?.oneWayMs ? { delayMs: r.aggregate.audio.oneWayMs } : {}),
        });
      }
    }
  } finally {
    progress.stop();
  }
  if (ctx.signal.aborted && !figures.some((f) => f.notRun === undefined && !f.error)) throw new RtcprobeError('ABORTED', 'interrupted before anything was measured');
  const rows = buildComparison(figures);
  const v = comparisonVerdict(rows);
  const partial = ctx.signal.aborted;
  if (opts.csv !== undefined) writeOut(opts.csv, '--csv', renderComparisonCsv(rows));
  if (opts.html !== undefined) writeOut(opts.html, '--html', renderComparisonHtml({ ok: v.ok, verdict: v.verdict, rows, details }));
  const exitCode = !v.ok ? 1 : partial ? 2 : 0;
  const single = sizes.length === 1 && opts.sweep === undefined;
  const json = {
    command: 'bench',
    topology: 'all',
    ok: v.ok,
    complete: v.complete,
    verdict: v.verdict,
    partial,
    workload: { channels: ['data', 'audio'], audio: '50 packets/s of 160 bytes (PCMU-sized) per peer', clockProbes: `${ALL_TRAFFIC.dataRate}/s of ${ALL_TRAFFIC.dataSize} bytes per data channel (mesh, sfu, turn)`, mcu: 'PCMU 20 ms frames with one tone burst per second' },
    comparison: rows,
    ...(single ? {} : { sweep: sizes }),
    runs: single ? Object.fromEntries(Object.entries(runs).filter(([, xs]) => xs.length).map(([k, xs]) => [k, xs[0]])) : runs,
  };
  return {
    exitCode,
    json,
    human: (st) => {
      const lines = [`${v.ok && v.complete ? st.ok : v.ok ? st.warn : st.fail} ${st.c.bold(v.verdict)}`, ''];
      lines.push(st.c.bold('comparison') + ' (bytes per peer on the wire; ×stream: in streams of the workload; delay: audio one-way, for the MCU mouth-to-ear)');
      lines.push(...renderComparisonText(rows), '');
      for (const d of details) lines.push(st.c.bold(d.title), ...d.text, '');
      return lines.join('\n');
    },
  };
}

/** --turn with --user/--password, or --secret (coturn REST credentials, an hour long). */
async function turnCredentials(url: string, opts: BenchOpts, ctx: RunContext): Promise<{ url: string; username: string; credential: string }> {
  const { password, secret } = pickCredentials(opts, ctx.env, false);
  if (secret !== undefined) {
    const { restCredentials } = await import('../core/ice/rest.js');
    const c = restCredentials(secret, { ...(opts.user ? { user: opts.user } : {}), ttl: 3600, now: Date.now() });
    return { url, username: c.username, credential: c.password };
  }
  if (opts.user !== undefined && password !== undefined) return { url, username: opts.user, credential: password };
  throw new RtcprobeError('USAGE', '--turn needs --user and --password, or --secret');
}
