// Peer configuration: data-channel labels, RTP payload types, PeerOptions and the werift config built from them.
import { RTCRtpCodecParameters, type RTCPeerConnectionConfig } from 'werift';
import type { IceServer } from '../ice/servers.js';
import type { Clock } from './channel.js';

export const RELIABLE_LABEL = 'rtcprobe-reliable';
export const UNRELIABLE_LABEL = 'rtcprobe-unreliable';
export const PCMU_PT = 0;
export const OPUS_PT = 111;
export const VIDEO_PT = 96;

export type AudioCodec = 'pcmu' | 'opus';

export interface PeerOptions {
  /** Explicit ICE servers ([] for none: werift's default would be a public STUN server). */
  iceServers: IceServer[];
  /** Gather host candidates on 127.0.0.1 only (two peers on one machine, no network needed). */
  loopback?: boolean;
  /** iceTransportPolicy "relay", and only relay candidates leave this peer's SDP. */
  relayOnly?: boolean;
  /** Extra host addresses to gather on (e.g. loopback or a tunnel interface). */
  additionalHostAddresses?: string[];
  /** Local UDP port range for ICE, [min, max] with min < max. */
  portRange?: [number, number];
  /** Negotiate an audio transceiver (sendrecv) with this codec. */
  audio?: AudioCodec;
  /** Negotiate a video transceiver (sendrecv, VP8 payload type, synthetic content). */
  video?: boolean;
  clock?: Clock;
  /** TLS options for a turns: server (a test CA, a server name); default: the system's CAs. */
  turnTls?: { ca?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  /** The `start` connect mark (ms, same clock), when the run began before the peer was created. */
  startedAtMs?: number;
}

export function codecs(o: PeerOptions): RTCPeerConnectionConfig['codecs'] {
  // No NACK/PLI/REMB: loss must show as loss, not be repaired behind our back. Both audio codecs are
  // accepted (an answerer takes whichever the offer has); the chosen one comes first.
  const pcmu = new RTCRtpCodecParameters({ mimeType: 'audio/PCMU', clockRate: 8000, channels: 1, payloadType: PCMU_PT, rtcpFeedback: [] });
  const opus = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: OPUS_PT, rtcpFeedback: [] });
  return {
    audio: o.audio === 'opus' ? [opus, pcmu] : [pcmu, opus],
    video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: VIDEO_PT, rtcpFeedback: [] })],
  };
}

/** werift configuration for the options (exported for tests and diagnostics). */
export function weriftConfig(o: PeerOptions): RTCPeerConnectionConfig {
  const extra = [...(o.loopback ? ['127.0.0.1'] : []), ...(o.additionalHostAddresses ?? [])];
  return {
    iceServers: o.iceServers.map((s) => ({ urls: s.urls, ...(s.username !== undefined ? { username: s.username } : {}), ...(s.credential !== undefined ? { credential: s.credential } : {}) })),
    iceTransportPolicy: o.relayOnly ? 'relay' : 'all',
    // Loopback: no interface addresses at all, only 127.0.0.1 (werift skips loopback otherwise).
    iceUseIpv4: !o.loopback,
    iceUseIpv6: !o.loopback,
    iceAdditionalHostAddresses: extra.length ? [...new Set(extra)] : undefined,
    ...(o.portRange ? { icePortRange: o.portRange } : {}),
    ...(o.turnTls ? { turnTlsOptions: { ...o.turnTls } } : {}),
    // One transport for everything: with werift's default (max-compat) the offerer gathers a
    // transport per m-line and the ones bundled away are never closed, so their sockets outlive close().
    bundlePolicy: 'max-bundle',
    codecs: codecs(o),
  };
}

interface IceConnectionLike { stunServer?: unknown; options?: { stunServer?: unknown } }
interface TransportLike { iceTransport?: { connection?: IceConnectionLike; iceGather?: { connection?: IceConnectionLike } } }

/**
 * Keep werift away from its built-in STUN server. werift's ICE `Connection`
 * falls back to stun.l.google.com:19302 whenever its configuration has no
 * `stun:` URL (also with `iceServers: []`, and with TURN URLs only): it
 * resolves that name and sends Binding requests to it from every host socket,
 * and its gathering waits up to 5 s for the answer. Wrapping the instance's
 * transport factory (`secureManager.createTransport` in werift 0.24) clears
 * that fallback on every ICE transport it creates; a configured `stun:` URL
 * is left as it is.
 */
export function withoutDefaultStun<T extends object>(pc: T): T {
  const manager = (pc as unknown as { secureManager?: { createTransport?: (...args: unknown[]) => TransportLike } }).secureManager;
  const create = manager?.createTransport;
  if (!manager || typeof create !== 'function') throw new Error('werift RTCPeerConnection has no secureManager.createTransport: cannot keep it from its default STUN server');
  manager.createTransport = (...args: unknown[]) => {
    const transport = create.apply(manager, args);
    const conn = transport?.iceTransport?.connection ?? transport?.iceTransport?.iceGather?.connection;
    if (conn && !conn.options?.stunServer) conn.stunServer = undefined;
    return transport;
  };
  return pc;
}
