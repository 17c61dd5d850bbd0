// Shared peer types: wait options, session descriptions, candidate pairs, RTP arrivals and send options/reports.
import type { ProbeHeader } from '../bench/probe.js';
import type { CandidateType } from './ice.js';
import type { AudioProfile, VideoProfile } from './media.js';

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface CandidateInfo {
  type: CandidateType | string;
  address?: string;
  port?: number;
  protocol?: string;
}

export interface SelectedPair {
  local: CandidateInfo;
  remote: CandidateInfo;
  /** ICE round trip measured by werift's connectivity checks, ms. */
  rttMs?: number;
}

export interface RtpArrival {
  kind: 'audio' | 'video';
  seq: number;
  timestamp: number;
  marker: boolean;
  payloadType: number;
  ssrc: number;
  payloadBytes: number;
  /** Local monotonic clock, µs. */
  arrivalUs: number;
  /** The probe header at the start of the payload, when there is one. */
  probe?: ProbeHeader;
}

export interface AudioSendOptions extends WaitOptions {
  packets: number;
  profile?: Partial<AudioProfile>;
  streamId?: number;
}

export interface VideoSendOptions extends WaitOptions {
  frames: number;
  profile?: Partial<VideoProfile>;
  streamId?: number;
}

export interface SendReport {
  packets: number;
  frames: number;
  bytes: number;
  durationMs: number;
}
