import { RtcprobeError } from '../core/errors.js';
import type { CommandOutcome, Style } from '../output.js';
import type { RunContext } from './context.js';
import { defineCommand, defineOptions, intOption, type OptionValues } from './options.js';
import { timeoutOption } from './shared-options.js';

export interface McuServeJson {
  event: 'stopped';
  command: 'mcu';
  action: 'serve';
  ok: boolean;
  peerId: string;
  room: string;
  jitterMs: number;
  listening?: { http: string };
  uptimeSeconds: number;
  participants: { total: number; atEnd: number };
  framesMixed: number;
  /** Decode + mix + encode of one frame period for every participant, ms. */
  mixMs?: { frames: number; p50: number; p99: number; max: number; mean: number };
  packetsSent: number;
  rtpReceived: number;
  dropped: Record<string, number>;
  rtcpReceived: Record<string, number>;
  clockSkipped: number;
  shutdown: { reason: string };
}

const serveOptions = defineOptions([
  { flags: '--signal <url>', description: 'the signaling relay (ws:// or wss://)', required: true },
  { flags: '--room <room>', description: 'the room to serve', required: true },
  { flags: '--token <token>', description: 'join token for a relay started with --secret (or env RTCPROBE_SIGNAL_TOKEN)', env: 'RTCPROBE_SIGNAL_TOKEN' },
  { flags: '--peer-id <id>', description: 'the peerId to ask for (default: the relay picks one)' },
  { flags: '--jitter-ms <ms>', description: 'jitter buffer depth per participant, ms (whole 20 ms frames)', default: 40, parse: intOption(20, 1000) },
  { flags: '--late <mode>', description: 'a participant\'s jitter buffer ran dry: drop (move on; the frame is dropped as late if it comes) or hold (the frame is played when it comes: nothing lost, more delay)', default: 'drop' },
  { flags: '--max-rate <pps>', description: 'RTP packets per second accepted from one participant (more are dropped as "rate")', default: 100, parse: intOption(50, 100_000) },
  { flags: '--max-burst <n>', description: 'packets in a burst above --max-rate', default: 25, parse: intOption(1, 100_000) },
  { flags: '--listen <host:port>', description: 'serve /metrics (Prometheus) and /healthz on this address (port 0: any free port, printed when ready)' },
  { flags: '--admin-token <token>', description: '/metrics needs "Authorization: Bearer <token>" (or env RTCPROBE_MCU_ADMIN_TOKEN)', env: 'RTCPROBE_MCU_ADMIN_TOKEN' },
  { flags: '--loopback', description: 'gather ICE candidates on 127.0.0.1 only (participants on this machine)' },
  timeoutOption('limit for joining the room and for each participant\'s connection to come up', { default: 20_000, min: 1000 }),
]);

type ServeOptions = OptionValues<typeof serveOptions>;

const mcuServeCommand = defineCommand({
  name: 'serve',
  summary: 'run the audio MCU in a relay room: every participant gets the PCMU mix of all the others',
  jsonLines: true,
  options: serveOptions,
  run: (_args, opts, ctx) => runServe(opts, ctx),
});

export const mcuCommand = defineCommand({
  name: 'mcu',
  summary: 'audio MCU (PCMU, N−1 mixing): "mcu serve" joins a room as its room server',
  options: [],
  subcommands: [mcuServeCommand],
});

function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new RtcprobeError('USAGE', `--listen must look like 127.0.0.1:9100 or [::1]:9100, not "${v}"`);
  return { host: (m[1] ?? m[2])!, port };
}

async function runServe(opts: ServeOptions, ctx: RunContext): Promise<CommandOutcome> {
  const signalUrl = opts.signal ?? '';
  const room = opts.room ?? '';
  if (!room) throw new RtcprobeError('USAGE', '"mcu serve" needs --room');
  let url: URL;
  try {
    url = new URL(signalUrl);
  } catch {
    throw new RtcprobeError('USAGE', `--signal "${opts.signal}" is not a ws:// or wss:// URL`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new RtcprobeError('USAGE', `--signal "${opts.signal}" is not a ws:// or wss:// URL`);
  const listen = opts.listen !== undefined ? parseListen(opts.listen) : undefined;
  if (opts.late !== 'hold' && opts.late !== 'drop') throw new RtcprobeError('USAGE', `--late must be hold or drop, not "${opts.late}"`);
  if (opts.adminToken === '') throw new RtcprobeError('USAGE', '--admin-token must not be empty');
  const { McuServer } = await import('../core/rtc/mcu-server.js');
  const { serveServiceHttp } = await import('../core/signaling/service-http.js');
  const started = Date.now();
  let stopping = false;
  const server = new McuServer({
    url: signalUrl,
    room,
    ...(opts.token ? { token: opts.token } : {}),
    ...(opts.peerId ? { peerId: opts.peerId } : {}),
    iceServers: [],
    ...(opts.loopback ? { loopback: true } : {}),
    jitterMs: opts.jitterMs,
    late: opts.late,
    maxPacketsPerSecond: opts.maxRate,
    maxBurst: opts.maxBurst,
    timeoutMs: opts.timeout,
    signal: ctx.signal,
    onEvent: (e) => {
      const { event, ...fields } = e;
      ctx.events.emit(event, fields, (st) => {
        if (e.event === 'participant-up') return `${st.ok} ${e.remote} joined the mix (${e.participants} participant(s))`;
        if (e.event === 'participant-left') return `${st.warn} ${e.remote} left the mix: ${e.reason} (${e.participants} participant(s))`;
        if (e.event === 'participant-failed') return `${st.fail} ${e.remote}: ${e.code}: ${e.message}`;
        return undefined;
      });
    },
  });
  if (ctx.signal.aborted) throw new RtcprobeError('ABORTED', 'aborted before the MCU started');
  const admin = opts.adminToken;
  const listeners = listen
    ? await serveServiceHttp({
      realm: 'rtcprobe-mcu',
      host: listen.host,
      port: listen.port,
      ...(admin ? { adminToken: admin } : {}),
      metrics: server.metrics,
      health: () => ({ ok: !!server.joined && !stopping, room, peerId: server.peerId, participants: server.participants().length, framesMixed: server.totals.framesMixed, uptimeSeconds: Math.round((Date.now() - started) / 1000) }),
    })
    : undefined;
  try {
    await server.start();
  } catch (err) {
    await server.stop();
    await listeners?.close();
    throw err;
  }
  const snapshot = (reason: string, ok: boolean): McuServeJson => ({
    event: 'stopped',
    command: 'mcu',
    action: 'serve',
    ok,
    peerId: server.peerId,
    room,
    jitterMs: server.depth * 20,
    ...(listeners ? { listening: { http: listeners.addresses.http } } : {}),
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    participants: { total: server.totals.participants, atEnd: server.participants().length },
    framesMixed: server.totals.framesMixed,
    ...(server.mixTiming() ? { mixMs: server.mixTiming()! } : {}),
    packetsSent: server.totals.packetsSent,
    rtpReceived: server.totals.rtpIn,
    dropped: server.dropCounts(),
    rtcpReceived: server.rtcpCounts(),
    clockSkipped: server.totals.clockSkipped,
    shutdown: { reason },
  });
  ctx.onForcedStop?.(() => ({ ...snapshot('forced', false) }));
  const ready = { peerId: server.peerId, room, jitterMs: server.depth * 20, ...(listeners ? { http: listeners.addresses.http } : {}) };
  ctx.events.emit('listening', ready, (st) => [
    `${st.ok} ${st.c.bold(`audio MCU ${server.peerId} serving room "${room}"`)}`,
    `    relay      ${signalUrl}`,
    `    mixing     PCMU 8 kHz, 20 ms frames, N−1 per participant; jitter buffer ${server.depth * 20} ms`,
    `    http       ${listeners ? `${listeners.addresses.http}  (/healthz /metrics${admin ? ', /metrics needs the admin token' : ''})` : 'none (no --listen)'}`,
    '    Ctrl-C or SIGTERM stops it with a summary',
  ].join('\n'));
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopping = true;
  const reason = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted';
  await server.stop();
  const json = snapshot(reason, true);
  await listeners?.close();
  return { exitCode: 0, json, jsonLines: true, human: (st) => renderServeHuman(json, st) };
}

function renderServeHuman(j: McuServeJson, st: Style): string {
  const drops = Object.entries(j.dropped);
  const lines = [
    `${st.ok} ${st.c.bold(`audio MCU ${j.peerId} stopped`)} (${j.shutdown.reason}) after ${j.uptimeSeconds} s`,
    `    participants  ${j.participants.total} served, ${j.participants.atEnd} at the end`,
    `    frames        ${j.framesMixed} mixed, ${j.packetsSent} packets sent, ${j.rtpReceived} received${j.clockSkipped ? `, ${j.clockSkipped} frame period(s) skipped after stalls` : ''}`,
    `    mixing        ${j.mixMs ? `p50 ${j.mixMs.p50.toFixed(3)} ms, p99 ${j.mixMs.p99.toFixed(3)} ms per frame period` : 'nothing mixed'}`,
    `    dropped       ${drops.length ? drops.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`,
  ];
  return lines.join('\n');
}
