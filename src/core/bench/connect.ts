/**
 * Connect-time breakdown of one peer connection. Marks are instants on one
 * monotonic clock (ms); a phase is only reported when both of its ends were
 * observed, so a missing event never turns into a figure.
 */

export const CONNECT_MARKS = [
  'start',
  'joined',
  'offerSent',
  'answerReceived',
  'iceGatheringComplete',
  'iceConnected',
  'dtlsConnected',
  'dataChannelOpen',
  'firstRtp',
] as const;
export type ConnectMark = (typeof CONNECT_MARKS)[number];
export type ConnectMarks = Partial<Record<ConnectMark, number>>;

export interface ConnectBreakdown {
  /** Signalling relay joined, from start. */
  join?: number;
  /** Offer sent to answer received. */
  offerToAnswer?: number;
  /** ICE gathering complete, from start. */
  iceGathering?: number;
  /** ICE connected, from the answer (offerer) or start. */
  iceConnected?: number;
  /** DTLS connected, from ICE connected. */
  dtlsConnected?: number;
  /** Data channel open, from DTLS connected. */
  dataChannelOpen?: number;
  /** First RTP packet received, from DTLS connected. */
  firstRtp?: number;
  /** Each mark relative to start (only those observed). */
  sinceStart: Partial<Record<ConnectMark, number>>;
}

const diff = (m: ConnectMarks, from: ConnectMark | undefined, to: ConnectMark): number | undefined => {
  const a = from === undefined ? undefined : m[from];
  const b = m[to];
  return a === undefined || b === undefined ? undefined : b - a;
};

/** Record a mark once: the first observation wins. */
export function mark(m: ConnectMarks, name: ConnectMark, at: number): void {
  if (m[name] === undefined) m[name] = at;
}

export function connectBreakdown(m: ConnectMarks): ConnectBreakdown {
  const sinceStart: Partial<Record<ConnectMark, number>> = {};
  if (m.start !== undefined) for (const k of CONNECT_MARKS) if (m[k] !== undefined) sinceStart[k] = m[k]! - m.start;
  const out: ConnectBreakdown = { sinceStart };
  const set = (k: Exclude<keyof ConnectBreakdown, 'sinceStart'>, v: number | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('join', diff(m, 'start', 'joined'));
  set('offerToAnswer', diff(m, 'offerSent', 'answerReceived'));
  set('iceGathering', diff(m, 'start', 'iceGatheringComplete'));
  set('iceConnected', diff(m, m.answerReceived !== undefined ? 'answerReceived' : 'start', 'iceConnected'));
  set('dtlsConnected', diff(m, 'iceConnected', 'dtlsConnected'));
  set('dataChannelOpen', diff(m, 'dtlsConnected', 'dataChannelOpen'));
  set('firstRtp', diff(m, 'dtlsConnected', 'firstRtp'));
  return out;
}
