// sfu-types.ts: the SFU's options, events, counters and the per-participant and per-room state it keeps.
import type { RtcpPacket, RtpPacket } from 'werift';
import type { SignalClient } from '../signaling/client.js';
import type { SfuRouter, RateLimit } from '../sfu/index.js';
import type { IceServer } from '../ice/servers.js';
import type { RtcPeer } from './peer.js';
import type { DataPipe, Pacer } from './channel.js';
import { RELIABLE_LABEL, UNRELIABLE_LABEL } from './config.js';

export const DROP_REASONS = ['malformed_rtp', 'malformed_rtcp', 'unknown_pt', 'unknown_ssrc', 'over_rate', 'slow_subscriber', 'not_open_overflow'] as const;
export type DropReason = (typeof DROP_REASONS)[number];
export type RemovalReason = 'left' | 'failed' | 'slow' | 'stopped';

export interface SfuServerOptions {
  /** ws:// URL of the signaling relay. */
  url: string;
  rooms: string[];
  token?: string;
  /** peerId to ask for in every room (default: the relay picks). */
  peerId?: string;
  /** ICE servers of the server's peer connections ([] on loopback). */
  iceServers: IceServer[];
  loopback?: boolean;
  /** Limit for joining and for one participant's connection to come up. */
  timeoutMs?: number;
  /** Per participant, bytes per second of RTP accepted (token bucket; default 1 MB/s, 8 Mbit/s). */
  maxBytesPerSecond?: number;
  /** Data-channel bytes queued towards a subscriber beyond which it is slow (default 1 MiB). */
  maxQueuedBytes?: number;
  /** A subscriber slow for this long is removed (default 5000 ms). */
  slowTimeoutMs?: number;
  /** Messages held per channel for a participant whose channel is not open yet (default EARLY_QUEUE_MESSAGES). */
  earlyQueueMessages?: number;
  signal: AbortSignal;
  onEvent?: (e: SfuEvent) => void;
}

export type SfuEvent =
  | { event: 'joined'; room: string; peerId: string }
  | { event: 'participant-joined'; room: string; participant: string }
  | { event: 'participant-removed'; room: string; participant: string; reason: RemovalReason }
  | { event: 'participant-failed'; room: string; participant: string; code: string; message: string };

/** Per-participant counters (kept after the participant is removed). */
export interface ParticipantStats {
  room: string;
  participant: string;
  source: number;
  state: 'connecting' | 'up' | 'removed';
  removedReason?: RemovalReason;
  /** RTP received from it / sent to it. */
  rtpIn: { packets: number; bytes: number };
  rtpOut: { packets: number; bytes: number };
  dcIn: { messages: number; bytes: number };
  dcOut: { messages: number; bytes: number };
  drops: Partial<Record<DropReason, number>>;
}

export interface Participant {
  id: string;
  room: Room;
  source: number;
  rtc: RtcPeer;
  dtls?: WeriftDtls;
  /** Each channel as soon as it is open (they open one after the other). */
  pipes: Partial<Record<Label, DataPipe>>;
  /** werift's SCTP slows down with the square of the messages inside it: sends go through a pacer per channel. */
  pacers: Partial<Record<Label, Pacer>>;
  /** Messages for a channel of this subscriber that is not open yet (bounded: EARLY_QUEUE_MESSAGES). */
  early: Record<Label, Buffer[]>;
  limit: RateLimit;
  stats: ParticipantStats;
  slowSince?: number;
  offs: (() => void)[];
}

export type Label = 'reliable' | 'unreliable';
export const LABELS: Readonly<Record<string, Label>> = { [RELIABLE_LABEL]: 'reliable', [UNRELIABLE_LABEL]: 'unreliable' };

/**
 * Messages held per channel for a participant whose channel is not open yet
 * (it joined a moment ago); beyond this they are counted as not_open_overflow
 * and dropped.
 */
export const EARLY_QUEUE_MESSAGES = 1024;

export interface Room {
  name: string;
  client: SignalClient;
  router: SfuRouter;
  people: Map<string, Participant>;
  nextSource: number;
}

/** The parts of werift's RTCDtlsTransport the server uses. */
export interface WeriftDtls {
  state: string;
  onRtp: { subscribe(cb: (p: RtpPacket) => void): { unSubscribe(): void } };
  onRtcp: { subscribe(cb: (p: RtcpPacket) => void): { unSubscribe(): void } };
  sendRtp(payload: Buffer, header: RtpPacket['header']): Promise<number>;
  sendRtcp(packets: { serialize(): Buffer }[]): Promise<void>;
  srtp?: { decrypt(b: Buffer): Buffer };
  iceTransport?: { connection: { onData: { subscribe(cb: (d: Buffer) => void): { unSubscribe(): void } } } };
  srtcp?: { decrypt(b: Buffer): Buffer };
}

/** Histogram bounds of the receive-to-send time, seconds. */
export const FORWARD_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1];
