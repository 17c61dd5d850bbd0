/**
 * What the SFU reads from the SDP of a participant's session: per m-line its
 * kind, the participant's sending SSRC (first `a=ssrc`), and the payload
 * types with their codec (rtpmap name, e.g. "PCMU/8000"; static types 0 and 8
 * without an rtpmap get their RFC 3551 names). Pure.
 */
import type { TrackKind } from './router.js';

export interface MediaSection {
  kind: TrackKind;
  mid?: string;
  /** Payload types in the order of the m-line (preference order). */
  payloadTypes: number[];
  /** Payload type → codec name. */
  codecs: Map<number, string>;
  ssrc?: number;
  direction?: string;
}

const STATIC: Record<number, string> = { 0: 'PCMU/8000', 8: 'PCMA/8000' };

export function mediaSections(sdp: string): MediaSection[] {
  const out: MediaSection[] = [];
  let cur: MediaSection | undefined;
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const [kind, , , ...fmts] = line.slice(2).split(/\s+/);
      cur = undefined;
      if (kind !== 'audio' && kind !== 'video') continue;
      const payloadTypes = fmts.map(Number).filter((n) => Number.isInteger(n) && n >= 0 && n < 128);
      cur = { kind, payloadTypes, codecs: new Map() };
      for (const pt of payloadTypes) if (STATIC[pt]) cur.codecs.set(pt, STATIC[pt]!);
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    let m: RegExpExecArray | null;
    if ((m = /^a=rtpmap:(\d+)\s+([^/\s]+\/\d+)/.exec(line))) cur.codecs.set(Number(m[1]), m[2]!.toLowerCase());
    else if ((m = /^a=ssrc:(\d+)\s/.exec(line))) cur.ssrc ??= Number(m[1]) >>> 0;
    else if ((m = /^a=mid:(\S+)/.exec(line))) cur.mid = m[1]!;
    else if ((m = /^a=(sendrecv|sendonly|recvonly|inactive)$/.exec(line))) cur.direction = m[1]!;
  }
  for (const s of out) for (const [pt, c] of s.codecs) s.codecs.set(pt, c.toLowerCase());
  return out;
}
