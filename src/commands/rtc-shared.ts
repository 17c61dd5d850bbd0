import { readFileSync } from 'node:fs';
import { RtcprobeError } from '../core/errors.js';
import type { IceServer } from '../core/ice/servers.js';
import { pickCredentials } from './shared-options.js';
import { collect, defineOptions, intOption, numberOption } from './options.js';

/** Traffic options of `peer` and `bench`. */
export const TRAFFIC_OPTIONS = defineOptions([
  { flags: '--channels <list>', description: 'traffic per connection: data (probes on a reliable and an unreliable data channel), audio (RTP every 20 ms), video', default: 'data,audio,video' },
  { flags: '--rate <n>', description: 'data-channel probes per second, per channel and connection', default: 50, parse: intOption(1, 2000) },
  { flags: '--size <bytes>', description: 'bytes per data-channel probe (at least the 48-byte header)', default: 200, parse: intOption(48, 16_000) },
  { flags: '--video-fps <n>', description: 'video-like RTP frame rate', default: 30, parse: intOption(1, 120) },
  { flags: '--video-kbps <n>', description: 'video-like RTP bitrate, kbit/s', default: 500, parse: intOption(8, 50_000) },
]);

/** ICE server options of `peer`. */
export const ICE_OPTIONS = defineOptions([
  { flags: '--ice-servers <file>', description: 'iceServers JSON (array of RTCIceServer, or {"iceServers": [...]}), parsed as "turn" parses it' },
  { flags: '--stun <uri>', description: 'a STUN server (stun:host:port; repeatable)', parse: collect },
  { flags: '--turn <uri>', description: 'a TURN server (turn:host:port?transport=udp; repeatable), with --user/--password or --secret', parse: collect },
  { flags: '-u, --user <name>', description: 'TURN long-term credential user (with --secret: the user part of the REST username)' },
  { flags: '-p, --password <password>', description: 'TURN long-term credential password (or env RTCPROBE_TURN_PASSWORD)' },
  { flags: '--secret <secret>', description: 'coturn REST API shared secret (static-auth-secret; or env RTCPROBE_TURN_SECRET)' },
]);

export function parseChannels(text: string): ('data' | 'audio' | 'video')[] {
  const out = new Set<'data' | 'audio' | 'video'>();
  for (const c of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (c !== 'data' && c !== 'audio' && c !== 'video') throw new RtcprobeError('USAGE', `--channels: "${c}" is not one of data, audio, video`);
    out.add(c);
  }
  if (out.size === 0) throw new RtcprobeError('USAGE', '--channels needs at least one of data, audio, video');
  return [...out];
}

export function trafficFrom(o: { channels: string; rate: number; size: number; videoFps: number; videoKbps: number }) {
  return { channels: parseChannels(o.channels), dataRate: o.rate, dataSize: o.size, videoFps: o.videoFps, videoKbps: o.videoKbps };
}

/**
 * ICE servers from the options: --ice-servers FILE, else --stun/--turn with
 * credentials; undefined when none was given (the relay's list is then used).
 */
export async function iceServersFrom(
  o: { iceServers?: string | undefined; stun?: string[] | undefined; turn?: string[] | undefined; user?: string | undefined; password?: string | undefined; secret?: string | undefined },
  env: Record<string, string | undefined>,
): Promise<IceServer[] | undefined> {
  const { toRtcIceServers } = await import('../core/rtc/ice.js');
  const { parseIceServers } = await import('../core/ice/servers.js');
  const { restCredentials } = await import('../core/ice/rest.js');
  if (o.iceServers !== undefined) {
    if (o.stun?.length || o.turn?.length) throw new RtcprobeError('USAGE', '--ice-servers excludes --stun and --turn');
    let text: string;
    try {
      text = readFileSync(o.iceServers, 'utf8');
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot read --ice-servers ${o.iceServers}: ${(err as Error).message}`, { cause: err });
    }
    const entries = parseIceServers(text);
    if (entries.length === 0) throw new RtcprobeError('USAGE', `${o.iceServers} lists no ICE server`);
    return toRtcIceServers(entries);
  }
  if (!o.stun?.length && !o.turn?.length) return undefined;
  const list: { urls: string[]; username?: string; credential?: string }[] = [];
  if (o.stun?.length) list.push({ urls: o.stun });
  if (o.turn?.length) {
    const { password, secret } = pickCredentials(o, env, false);
    if (secret !== undefined) {
      const c = restCredentials(secret, { ...(o.user ? { user: o.user } : {}), ttl: 3600, now: Date.now() });
      list.push({ urls: o.turn, username: c.username, credential: c.password });
    } else {
      if (o.user === undefined || password === undefined) throw new RtcprobeError('USAGE', '--turn needs --user and --password, or --secret');
      list.push({ urls: o.turn, username: o.user, credential: password });
    }
  }
  return toRtcIceServers(list);
}

export const durationOption = (description: string, dflt: number) => ({ flags: '--duration <s>', description, default: dflt, parse: numberOption(0.1, 86_400) }) as const;
