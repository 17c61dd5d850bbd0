/**
 * Synthetic media: packet sizes and RTP header fields of audio-like and
 * video-like streams. Pure; the peer adapter sends what these describe.
 */

/** The largest RTP payload we put in one packet (fits a 1280-byte IPv6 path with headers and SRTP). */
export const MAX_RTP_PAYLOAD = 1200;

export interface AudioProfile {
  /** Packet interval, ms (default 20). */
  ptimeMs: number;
  /** Payload bytes per packet (default 160: PCMU at 8 kHz, 20 ms). */
  payloadBytes: number;
  /** RTP clock rate, Hz (8000 for PCMU, 48000 for opus). */
  clockRate: number;
}

export const PCMU_PROFILE: AudioProfile = { ptimeMs: 20, payloadBytes: 160, clockRate: 8000 };

export interface VideoProfile {
  fps: number;
  kbps: number;
  clockRate: number;
}

export const DEFAULT_VIDEO: VideoProfile = { fps: 30, kbps: 1000, clockRate: 90000 };

/** RTP timestamp increment per audio packet. */
export const audioTimestampStep = (p: AudioProfile): number => Math.round((p.clockRate * p.ptimeMs) / 1000);

/** RTP timestamp increment per video frame. */
export const videoTimestampStep = (p: VideoProfile): number => Math.round(p.clockRate / p.fps);

/** Bytes of one video frame at the profile's bitrate (at least one byte). */
export const videoFrameBytes = (p: VideoProfile): number => Math.max(1, Math.round((p.kbps * 1000) / 8 / p.fps));

/**
 * Split a frame of `frameBytes` into payload sizes of at most `maxPayload`
 * bytes, as even as possible; the caller sets the marker bit on the last.
 * Sizes never go below `minPayload` (room for a probe header) unless the
 * frame itself is smaller.
 */
export function splitFrame(frameBytes: number, maxPayload = MAX_RTP_PAYLOAD, minPayload = 0): number[] {
  const total = Math.max(frameBytes, minPayload);
  const n = Math.max(1, Math.ceil(total / maxPayload));
  const base = Math.floor(total / n);
  const extra = total - base * n;
  return Array.from({ length: n }, (_, i) => base + (i < extra ? 1 : 0));
}
