import { RtcprobeError } from '../core/errors.js';
import { renderOneWay } from '../core/bench/render.js';
import type { ConnectionReport } from '../core/bench/report.js';
import type { CommandOutcome } from '../output.js';
import type { RunContext } from './context.js';
import { defineCommand, defineOptions, intOption, type OptionValues } from './options.js';
import { ICE_OPTIONS, TRAFFIC_OPTIONS, iceServersFrom, trafficFrom } from './rtc-shared.js';

const peerOptions = defineOptions([
  { flags: '--signal <url>', description: 'the signaling relay (ws:// or wss://)', required: true },
  { flags: '--room <room>', description: 'the room to join', required: true },
  { flags: '--token <token>', description: 'join token for a relay started with --secret (or env RTCPROBE_SIGNAL_TOKEN)' },
  { flags: '--peer-id <id>', description: 'the peerId to ask for (default: the relay picks one); with --count, a comma-separated list of one id per peer' },
  { flags: '--count <m>', description: 'run M peers in this process, each its own room member (default: one, or one per --peer-id in the list)', parse: intOption(1, 64) },
  ...ICE_OPTIONS,
  { flags: '--relay-only', description: 'relay policy: only relay candidates are signalled and the selected pair must be relay' },
  { flags: '--loopback', description: 'gather host candidates on 127.0.0.1 only (peers on this machine, no ICE servers needed)' },
  ...TRAFFIC_OPTIONS,
  { flags: '--stats-interval <ms>', description: 'a "stats" event this often (0: none)', default: 5000, parse: intOption(0, 3_600_000) },
  { flags: '--warmup <ms>', description: 'restart the measurement window this long after joining (0: from each connection\'s start)', default: 0, parse: intOption(0, 3_600_000) },
  { flags: '-t, --timeout <ms>', description: 'limit for joining and for each connection to come up', default: 20_000, parse: intOption(100, 300_000) },
]);

export const peerCommand = defineCommand({
  name: 'peer',
  summary: 'a headless WebRTC peer: joins a room, connects to every other peer (mesh), sends and echoes probes and RTP until stopped',
  jsonLines: true,
  options: peerOptions,
  run: runPeer,
});

async function runPeer(_args: string[], opts: OptionValues<typeof peerOptions>, ctx: RunContext): Promise<CommandOutcome> {
  const url = opts.signal ?? '';
  const room = opts.room ?? '';
  if (!/^wss?:\/\//.test(url)) throw new RtcprobeError('USAGE', `--signal "${url}" is not a ws:// or wss:// URL`);
  const traffic = trafficFrom(opts);
  const iceServers = await iceServersFrom(opts, ctx.env);
  const token = opts.token ?? (ctx.env.RTCPROBE_SIGNAL_TOKEN || undefined);
  const ids = opts.peerId?.split(',').map((x) => x.trim());
  if (ids && ids.some((x) => x === '')) throw new RtcprobeError('USAGE', `--peer-id "${opts.peerId}" has an empty id`);
  if (ids && ids.length > 1 && opts.count !== undefined && opts.count !== ids.length) throw new RtcprobeError('USAGE', `--count ${opts.count} but --peer-id lists ${ids.length} ids`);
  const { runPeerSession } = await import('../core/rtc/peer-run.js');
  const summary = await runPeerSession({
    url,
    room,
    ...(token ? { token } : {}),
    ...(ids && ids.length > 1 ? { peerIds: ids } : ids ? { peerId: ids[0]! } : {}),
    ...(opts.count !== undefined ? { count: opts.count } : {}),
    ...(iceServers ? { iceServers } : opts.loopback ? { iceServers: [] } : {}),
    loopback: opts.loopback,
    relayOnly: opts.relayOnly,
    traffic,
    timeoutMs: opts.timeout,
    statsIntervalMs: opts.statsInterval,
    warmupMs: opts.warmup,
    signal: ctx.signal,
    onEvent: (e) => {
      const { event, ...fields } = e;
      ctx.events.emit(event, fields, (st) => {
        switch (e.event) {
          case 'joined':
            return `${st.ok} joined room "${e.room}" as ${e.peerId} (${e.peers.length} other peer(s)); Ctrl-C or SIGTERM stops with a summary`;
          case 'peer-connected':
            return `  ${st.c.green('+')} ${e.remote} connected (${e.role}, pair ${e.pair.local}/${e.pair.remote}, ${e.connectMs.sinceStart.dataChannelOpen?.toFixed(0) ?? '?'} ms to the data channels)`;
          case 'peer-failed':
            return `  ${st.fail} ${e.remote}: ${e.code}: ${e.message}`;
          case 'peer-left':
            return `  ${st.c.yellow('-')} ${e.remote} left`;
          case 'bench-start':
            return `  benchmark ${e.run} by ${e.coordinator}: warm-up ${e.warmupMs} ms, window ${e.durationMs} ms`;
          case 'bench-window':
            return `  benchmark ${e.run}: measurement window started`;
          case 'bench-stop':
            return `  benchmark ${e.run}: stopped, report sent to ${e.coordinator} (${e.reportParts} part(s))`;
          case 'stats':
            return e.connections.map((c) => [`  ${c.remote}: DC RTT p50 ${c.dc?.reliable.rttMs?.p50.toFixed(2) ?? '-'} ms, audio loss ${c.audio ? (c.audio.stream.lossRatio * 100).toFixed(1) : '-'}%, sent ${c.bytes.sent} B`, oneWayLine(c, '    ')].filter(Boolean).join('\n')).join('\n') || undefined;
        }
      });
    },
  });
  const json = { ...summary, connections: summary.connections };
  return {
    exitCode: summary.ok ? 0 : 1,
    json,
    jsonLines: true,
    human: (st) =>
      [
        `${summary.ok ? st.ok : st.fail} ${st.c.bold(`peer ${summary.peerIds.join(', ')} in room "${summary.room}" stopped`)} after ${(summary.durationMs / 1000).toFixed(1)} s: ${summary.connections.filter((c) => c.state === 'up' || c.state === 'closed').length} connection(s), ${summary.failures.length} failure(s)`,
        ...summary.connections.map((c) => [`    ${summary.peerIds.length > 1 ? `${c.peerId} → ` : ''}${c.remote}  ${c.state}  pair ${c.pair ? `${c.pair.local}/${c.pair.remote}` : '-'}  DC RTT p50 ${c.dc?.reliable.rttMs?.p50.toFixed(2) ?? '-'} ms  echoed ${c.dc?.reliable.echoed ?? 0}/${c.dc?.reliable.sent ?? 0}`, oneWayLine(c, '      ')].filter(Boolean).join('\n')),
        ...summary.failures.map((f) => `    ${st.fail} ${f.remote}: ${f.code}: ${f.message}`),
      ].join('\n'),
  };
}

/** The one-way delay line under a connection's line (none for a side that never came up). */
function oneWayLine(c: ConnectionReport, indent: string): string | undefined {
  const t = renderOneWay(c);
  return t === undefined ? undefined : `${indent}${t}`;
}
