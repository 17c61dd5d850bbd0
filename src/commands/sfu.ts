import { RtcprobeError } from '../core/errors.js';
import type { CommandOutcome, Style } from '../output.js';
import type { RunContext } from './context.js';
import { collect, defineCommand, defineOptions, intOption, numberOption, type OptionValues } from './options.js';
import { ICE_OPTIONS, iceServersFrom } from './rtc-shared.js';

const serveOptions = defineOptions([
  { flags: '--signal <url>', description: 'the signaling relay (ws:// or wss://)', required: true },
  { flags: '--room <room>', description: 'a room to serve (repeatable: one server, several rooms)', parse: collect },
  { flags: '--token <token>', description: 'join token for a relay started with --secret (or env RTCPROBE_SIGNAL_TOKEN)' },
  { flags: '--peer-id <id>', description: 'the peerId to ask for in every room (default: the relay picks one)' },
  { flags: '--listen <host:port>', description: '/healthz and /metrics (Prometheus) on this address (port 0: any free port, printed when ready)', default: '127.0.0.1:0' },
  { flags: '--admin-token <token>', description: '/metrics needs "Authorization: Bearer <token>" (or env RTCPROBE_SFU_ADMIN_TOKEN)', env: 'RTCPROBE_SFU_ADMIN_TOKEN' },
  ...ICE_OPTIONS,
  { flags: '--loopback', description: 'gather host candidates on 127.0.0.1 only (clients on this machine)' },
  { flags: '--max-kbps <n>', description: 'RTP accepted from one participant, kbit/s (beyond: counted and dropped as over_rate)', default: 8000, parse: numberOption(8, 10_000_000) },
  { flags: '--max-queued <bytes>', description: 'data-channel bytes queued towards a subscriber beyond which it gets nothing (slow)', default: 1_048_576, parse: intOption(16_384, 1 << 30) },
  { flags: '--slow-timeout <ms>', description: 'a subscriber slow for this long is removed', default: 5000, parse: intOption(100, 3_600_000) },
  { flags: '-t, --timeout <ms>', description: 'limit for joining and for each participant\'s connection to come up', default: 20_000, parse: intOption(100, 300_000) },
]);

type ServeOpts = OptionValues<typeof serveOptions>;

const sfuServeCommand = defineCommand({
  name: 'serve',
  summary: 'run a selective forwarding unit: joins rooms of a relay as role "sfu", forwards every participant\'s RTP and data to the others',
  jsonLines: true,
  options: serveOptions,
  run: (_args, opts, ctx) => runServe(opts, ctx),
});

export const sfuCommand = defineCommand({
  name: 'sfu',
  summary: 'selective forwarding unit: "sfu serve" runs one on a signaling relay',
  options: [],
  subcommands: [sfuServeCommand],
});

export interface SfuServeJson {
  event: 'stopped';
  command: 'sfu';
  action: 'serve';
  ok: boolean;
  rooms: string[];
  uptimeSeconds: number;
  totals: {
    rtpIn: { packets: number; bytes: number };
    rtpOut: { packets: number; bytes: number };
    dcIn: { messages: number; bytes: number };
    dcOut: { messages: number; bytes: number };
    drops: Record<string, number>;
    removed: Record<string, number>;
    rtcpForwarded: Record<string, number>;
    forwardMs?: { mean: number; count: number };
    /** Event-loop delay of the server process, ms. */
    loopDelayMs: { p99: number; max: number };
  };
  process: { cpuMs: number; maxRssBytes: number };
  participants: unknown[];
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RtcprobeError('USAGE', `--listen "${v}" must be host:port (e.g. 127.0.0.1:9464)`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

async function runServe(opts: ServeOpts, ctx: RunContext): Promise<CommandOutcome> {
  const url = opts.signal ?? '';
  if (!/^wss?:\/\//.test(url)) throw new RtcprobeError('USAGE', `--signal "${url}" is not a ws:// or wss:// URL`);
  const rooms = [...new Set(opts.room ?? [])];
  if (rooms.length === 0) throw new RtcprobeError('USAGE', '"sfu serve" needs at least one --room');
  if (opts.adminToken === '') throw new RtcprobeError('USAGE', '--admin-token must not be empty');
  const listen = parseListen(opts.listen);
  const iceServers = (await iceServersFrom(opts, ctx.env)) ?? [];
  const token = opts.token ?? (ctx.env.RTCPROBE_SIGNAL_TOKEN || undefined);
  const { SfuServer } = await import('../core/rtc/sfu-server.js');
  const { serveServiceHttp } = await import('../core/signaling/service-http.js');
  const server = new SfuServer({
    url,
    rooms,
    ...(token ? { token } : {}),
    ...(opts.peerId ? { peerId: opts.peerId } : {}),
    iceServers,
    loopback: opts.loopback,
    timeoutMs: opts.timeout,
    maxBytesPerSecond: (opts.maxKbps * 1000) / 8,
    maxQueuedBytes: opts.maxQueued,
    slowTimeoutMs: opts.slowTimeout,
    signal: ctx.signal,
    onEvent: (e) => {
      const { event, ...fields } = e;
      ctx.events.emit(event, fields, (st) => {
        switch (e.event) {
          case 'joined':
            return `${st.ok} joined room "${e.room}" as ${e.peerId} (role sfu)`;
          case 'participant-joined':
            return `  ${st.c.green('+')} ${e.room}: ${e.participant} connected`;
          case 'participant-removed':
            return `  ${st.c.yellow('-')} ${e.room}: ${e.participant} removed (${e.reason})`;
          case 'participant-failed':
            return `  ${st.fail} ${e.room}: ${e.participant}: ${e.code}: ${e.message}`;
        }
      });
    },
  });
  const started = Date.now();
  const summary = (ok: boolean): SfuServeJson => {
    const h = server.forwardHistogram();
    return {
      event: 'stopped',
      command: 'sfu',
      action: 'serve',
      ok,
      rooms,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      totals: {
        ...server.totals,
        drops: server.drops(),
        removed: server.removals(),
        rtcpForwarded: server.rtcp(),
        loopDelayMs: server.loopDelayMs(),
        ...(h.count ? { forwardMs: { mean: (h.sum / h.count) * 1000, count: h.count } } : {}),
      },
      process: server.usage(),
      participants: server.participants(),
    };
  };
  ctx.onForcedStop(() => ({ ...summary(false) }));
  let http: Awaited<ReturnType<typeof serveServiceHttp>> | undefined;
  try {
    http = await serveServiceHttp({
      realm: 'rtcprobe-sfu',
      host: listen.host,
      port: listen.port,
      ...(opts.adminToken ? { adminToken: opts.adminToken } : {}),
      metrics: server.metrics,
      health: () => ({ ok: !ctx.signal.aborted, rooms: server.rooms.size, participants: server.participantCount(), uptimeSeconds: Math.round((Date.now() - started) / 1000) }),
    });
    await server.start();
    const addr = http.addresses;
    ctx.events.emit('listening', { http: addr.http, port: addr.port, rooms }, (st) =>
      [`${st.ok} ${st.c.bold(`sfu serving ${rooms.length} room(s) on ${url}`)}`, `    http  ${addr.http}  (/healthz /metrics)`, '    Ctrl-C or SIGTERM stops it'].join('\n'));
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await server.stop();
    await http?.close();
  }
  const json = summary(true);
  return { exitCode: 0, json, jsonLines: true, human: (st) => renderStopped(json, st) };
}

function renderStopped(j: SfuServeJson, st: Style): string {
  const t = j.totals;
  const use = j['process'];
  const drops = Object.entries(t.drops).map(([k, v]) => `${k} ${v}`).join(', ') || 'none';
  return [
    `${st.ok} ${st.c.bold(`sfu stopped after ${j.uptimeSeconds} s`)}`,
    `    rtp       ${t.rtpIn.packets} packets in, ${t.rtpOut.packets} forwarded (${t.rtpOut.bytes} B)${t.forwardMs ? `, ${(t.forwardMs.mean * 1000).toFixed(0)} µs mean receive-to-send` : ''}`,
    `    data      ${t.dcIn.messages} messages in, ${t.dcOut.messages} sent`,
    `    dropped   ${drops}`,
    `    process   ${use.cpuMs.toFixed(0)} ms CPU, ${(use.maxRssBytes / 1048576).toFixed(0)} MiB max RSS`,
  ].join('\n');
}
