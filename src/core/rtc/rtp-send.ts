// Synthetic RTP sending: paced audio-like and video-like packets carrying probe headers on a negotiated transceiver.
import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { encodeProbe, PROBE_HEADER_BYTES } from '../bench/probe.js';
import type { Clock } from './channel.js';
import { OPUS_PT, PCMU_PT, VIDEO_PT } from './config.js';
import {
  DEFAULT_VIDEO, PCMU_PROFILE, audioTimestampStep, splitFrame, videoFrameBytes, videoTimestampStep,
  type AudioProfile, type VideoProfile,
} from './media.js';
import type { AudioSendOptions, SendReport, VideoSendOptions, WaitOptions } from './types.js';

/** A stream's running RTP sequence number and timestamp (kept by the peer across sends). */
export interface RtpCounters {
  seq: number;
  ts: number;
}

/** What the senders need from the peer: its clock, a paced sleep and the per-packet checks. */
export interface RtpSendContext {
  clock: Clock;
  sleepUntil(atUs: number, w: WaitOptions, deadlineMs: number): Promise<void>;
  checkSending(w: WaitOptions, deadlineMs: number, kind: string): void;
}

/** Audio-like RTP: `packets` packets every ptime, each carrying a probe header. */
export async function sendAudioRtp(tx: RTCRtpTransceiver, c: RtpCounters, ctx: RtpSendContext, o: AudioSendOptions): Promise<SendReport> {
  // The negotiated codec decides (an answerer sends whatever the offer chose).
  const codec = tx.sender.codec;
  const isOpus = codec?.mimeType.toLowerCase() === 'audio/opus';
  const base = isOpus ? { ...PCMU_PROFILE, clockRate: 48000, payloadBytes: 120 } : PCMU_PROFILE;
  const pt = codec?.payloadType ?? (isOpus ? OPUS_PT : PCMU_PT);
  const p: AudioProfile = { ...base, ...o.profile };
  const step = audioTimestampStep(p);
  const deadline = performance.now() + o.timeoutMs;
  const t0 = ctx.clock.nowUs();
  const r: SendReport = { packets: 0, frames: 0, bytes: 0, durationMs: 0 };
  for (let i = 0; i < o.packets; i++) {
    await ctx.sleepUntil(t0 + i * p.ptimeMs * 1000, o, deadline);
    ctx.checkSending(o, deadline, 'audio');
    const payload = encodeProbe({ kind: 'audio', echo: false, streamId: o.streamId ?? 1, seq: i, sentUs: ctx.clock.nowUs(), sentWallMs: ctx.clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, Math.max(p.payloadBytes, PROBE_HEADER_BYTES));
    const header = new RtpHeader({ payloadType: pt, sequenceNumber: c.seq, timestamp: c.ts >>> 0, marker: i === 0 });
    c.seq = (c.seq + 1) & 0xffff;
    c.ts = (c.ts + step) >>> 0;
    await tx.sender.sendRtp(new RtpPacket(header, payload));
    r.packets++;
    r.frames++;
    r.bytes += payload.length;
  }
  r.durationMs = (ctx.clock.nowUs() - t0) / 1000;
  return r;
}

/** Video-like RTP: frames at `fps`, sized for `kbps`, split into ≤1200-byte packets, marker on each frame's last. */
export async function sendVideoRtp(tx: RTCRtpTransceiver, c: RtpCounters, ctx: RtpSendContext, o: VideoSendOptions): Promise<SendReport> {
  const p: VideoProfile = { ...DEFAULT_VIDEO, ...o.profile };
  const step = videoTimestampStep(p);
  const sizes = splitFrame(videoFrameBytes(p), undefined, PROBE_HEADER_BYTES);
  const deadline = performance.now() + o.timeoutMs;
  const t0 = ctx.clock.nowUs();
  const r: SendReport = { packets: 0, frames: 0, bytes: 0, durationMs: 0 };
  let seq = 0;
  for (let f = 0; f < o.frames; f++) {
    await ctx.sleepUntil(t0 + (f * 1e6) / p.fps, o, deadline);
    ctx.checkSending(o, deadline, 'video');
    for (let k = 0; k < sizes.length; k++) {
      const payload = encodeProbe({ kind: 'video', echo: false, streamId: o.streamId ?? 2, seq: seq++, sentUs: ctx.clock.nowUs(), sentWallMs: ctx.clock.wallMs(), echoRecvUs: 0, echoSendUs: 0 }, sizes[k]!);
      const header = new RtpHeader({ payloadType: VIDEO_PT, sequenceNumber: c.seq, timestamp: c.ts >>> 0, marker: k === sizes.length - 1 });
      c.seq = (c.seq + 1) & 0xffff;
      await tx.sender.sendRtp(new RtpPacket(header, payload));
      r.packets++;
      r.bytes += payload.length;
    }
    c.ts = (c.ts + step) >>> 0;
    r.frames++;
  }
  r.durationMs = (ctx.clock.nowUs() - t0) / 1000;
  return r;
}
