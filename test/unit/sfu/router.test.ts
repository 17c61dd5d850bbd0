import { describe, expect, it } from 'vitest';
import { SfuRouter, type TrackInfo } from '../../../src/core/sfu/router.js';

const PTS = { 'PCMU/8000': 0, 'VP8/90000': 96 };
const audio = (ssrc: number, pt = 0): TrackInfo => ({ trackId: `a${ssrc}`, kind: 'audio', ssrc, codec: 'PCMU/8000', payloadType: pt });
const video = (ssrc: number, pt = 100): TrackInfo => ({ trackId: `v${ssrc}`, kind: 'video', ssrc, codec: 'VP8/90000', payloadType: pt });

function room(n: number, o: ConstructorParameters<typeof SfuRouter>[0] = {}) {
  const r = new SfuRouter(o);
  for (let i = 1; i <= n; i++) r.join(`p${i}`, { payloadTypes: PTS });
  return r;
}
const subs = (targets: { subscriber: string }[]) => targets.map((t) => t.subscriber).sort();

describe('SFU router', () => {
  it('routes a track to every other participant, keeping the SSRC and mapping the PT', () => {
    const r = room(3);
    r.publish('p1', video(1111, 100));
    expect(r.route({ from: 'p1', ssrc: 1111, payloadType: 100 })).toEqual([
      { subscriber: 'p2', ssrc: 1111, payloadType: 96 },
      { subscriber: 'p3', ssrc: 1111, payloadType: 96 },
    ]);
  });

  it.each([
    ['unknown SSRC', { from: 'p1', ssrc: 9, payloadType: 0 }],
    ['known SSRC from another connection', { from: 'p2', ssrc: 1111, payloadType: 0 }],
    ['other PT on the track (RTX)', { from: 'p1', ssrc: 1111, payloadType: 97 }],
  ])('does not route: %s', (_n, meta) => {
    const r = room(2);
    r.publish('p1', audio(1111));
    expect(r.route(meta)).toEqual([]);
    expect(r.stats.unroutable).toBe(1);
  });

  it('a participant joining later receives the tracks already published', () => {
    const r = room(1);
    r.publish('p1', audio(5));
    expect(r.route({ from: 'p1', ssrc: 5, payloadType: 0 })).toEqual([]);
    r.join('p2', { payloadTypes: PTS });
    expect(subs(r.route({ from: 'p1', ssrc: 5, payloadType: 0 }))).toEqual(['p2']);
  });

  it('a subscriber without the codec does not get the track', () => {
    const r = room(2);
    r.join('audioOnly', { payloadTypes: { 'pcmu/8000': 0 } });
    r.publish('p1', video(7));
    r.publish('p1', audio(8));
    expect(subs(r.route({ from: 'p1', ssrc: 7, payloadType: 100 }))).toEqual(['p2']);
    expect(subs(r.route({ from: 'p1', ssrc: 8, payloadType: 0 }))).toEqual(['audioOnly', 'p2']);
  });

  it('colliding SSRCs get a fresh one for that subscriber only, and feedback maps back', () => {
    const fresh = [42, 43];
    const r = new SfuRouter({ allocateSsrc: () => fresh.shift()! });
    r.join('p1', { payloadTypes: PTS });
    r.join('p2', { payloadTypes: PTS });
    r.join('p3', { payloadTypes: PTS, localSsrcs: [777] });
    r.publish('p1', audio(777)); // p3 sends with 777 itself
    r.publish('p2', video(777)); // same SSRC as p1's track
    expect(r.route({ from: 'p1', ssrc: 777, payloadType: 0 })).toEqual([
      { subscriber: 'p2', ssrc: 777, payloadType: 0 },
      { subscriber: 'p3', ssrc: 42, payloadType: 0 },
    ]);
    expect(r.route({ from: 'p2', ssrc: 777, payloadType: 100 })).toEqual([
      { subscriber: 'p1', ssrc: 777, payloadType: 96 },
      { subscriber: 'p3', ssrc: 43, payloadType: 96 },
    ]);
    expect(r.feedback('p3', 42)).toEqual({ publisher: 'p1', ssrc: 777 });
    expect(r.feedback('p3', 43)).toEqual({ publisher: 'p2', ssrc: 777 });
    expect(r.feedback('p1', 777)).toEqual({ publisher: 'p2', ssrc: 777 });
    expect(r.feedback('p1', 42)).toBeUndefined();
    expect(r.feedback('nobody', 42)).toBeUndefined();
  });

  it('a leaving participant disappears from all routes at once, both as publisher and subscriber', () => {
    const r = room(3);
    r.publish('p1', audio(1));
    r.publish('p1', video(2));
    r.publish('p2', audio(3));
    const removed = r.leave('p1');
    expect([...removed.keys()].sort()).toEqual(['p2', 'p3']);
    expect(removed.get('p2')!.map((o) => o.sourceSsrc).sort()).toEqual([1, 2]);
    expect(r.route({ from: 'p1', ssrc: 1, payloadType: 0 })).toEqual([]);
    expect(r.route({ from: 'p1', ssrc: 2, payloadType: 100 })).toEqual([]);
    expect(subs(r.route({ from: 'p2', ssrc: 3, payloadType: 0 }))).toEqual(['p3']);
    expect(r.feedback('p2', 1)).toBeUndefined();
    expect(r.outbound('p3').map((o) => o.publisher)).toEqual(['p2']);
    expect(r.leave('p1').size).toBe(0);
    r.join('p1', { payloadTypes: PTS }); // the id can come back
    expect(subs(r.route({ from: 'p2', ssrc: 3, payloadType: 0 }))).toEqual(['p1', 'p3']);
  });

  it('unpublish removes one track only', () => {
    const r = room(2);
    r.publish('p1', audio(1));
    r.publish('p1', video(2));
    r.unpublish('p1', 'a1');
    expect(r.route({ from: 'p1', ssrc: 1, payloadType: 0 })).toEqual([]);
    expect(subs(r.route({ from: 'p1', ssrc: 2, payloadType: 100 }))).toEqual(['p2']);
  });

  it('a slow subscriber is left out without affecting others, then resumes with PLIs for its video', () => {
    const r = room(3, { maxQueuedBytes: 1000, resumeBelowBytes: 200 });
    r.publish('p1', video(2));
    r.publish('p2', audio(3));
    expect(r.setQueuedBytes('p3', 900)).toBeUndefined();
    expect(r.setQueuedBytes('p3', 1001)).toEqual({ change: 'slow' });
    expect(r.isSlow('p3')).toBe(true);
    expect(subs(r.route({ from: 'p1', ssrc: 2, payloadType: 100 }))).toEqual(['p2']);
    expect(subs(r.route({ from: 'p2', ssrc: 3, payloadType: 0 }))).toEqual(['p1']);
    expect(r.stats.slowDrops).toBe(2);
    expect(r.setQueuedBytes('p3', 500)).toBeUndefined(); // hysteresis: still slow
    expect(r.isSlow('p3')).toBe(true);
    expect(r.setQueuedBytes('p3', 100)).toEqual({ change: 'resumed', pli: [{ publisher: 'p1', ssrc: 2 }] });
    expect(subs(r.route({ from: 'p1', ssrc: 2, payloadType: 100 }))).toEqual(['p2', 'p3']);
  });

  it('refuses double joins, double publishes and unknown participants', () => {
    const r = room(1);
    expect(() => r.join('p1', { payloadTypes: PTS })).toThrow(/already joined/);
    r.publish('p1', audio(1));
    expect(() => r.publish('p1', audio(1))).toThrow(/already published/);
    expect(() => r.publish('p1', { ...audio(1), trackId: 'other' })).toThrow(/SSRC 1/);
    expect(() => r.publish('ghost', audio(2))).toThrow(/unknown participant/);
  });
});
