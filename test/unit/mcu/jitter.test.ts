import { describe, expect, it } from 'vitest';
import { FrameClock, JitterBuffer, type PlayedFrame } from '../../../src/core/mcu/jitter.js';

type Ev = ['push', number] | ['tick'];

/** Run a script; pushes carry payload `p<seq>` and timestamp seq × 160. */
function run(script: Ev[], depth = 3, capacity?: number) {
  const jb = new JitterBuffer<string>({ depth, ...(capacity ? { capacity } : {}) });
  const pushes: string[] = [];
  const played: (string | null)[] = []; // payload, or null when concealed
  for (const ev of script) {
    if (ev[0] === 'push') pushes.push(jb.push(ev[1], (ev[1] * 160) >>> 0, `p${ev[1]}`));
    else {
      const f: PlayedFrame<string> | undefined = jb.tick();
      if (f) played.push(f.concealed ? null : f.payload!);
    }
  }
  return { jb, pushes, played };
}
const push = (...seqs: number[]): Ev[] => seqs.map((s) => ['push', s]);
const ticks = (n: number): Ev[] => Array.from({ length: n }, () => ['tick']);

describe('jitter buffer', () => {
  it('fills to its depth before playing, then plays in order', () => {
    const { played, jb } = run([...ticks(2), ...push(1, 2), ...ticks(1), ...push(3), ...ticks(3)]);
    expect(played).toEqual(['p1', 'p2', 'p3']);
    expect(jb.stats).toMatchObject({ received: 3, played: 3, concealed: 0 });
  });

  it.each<[string, Ev[], (string | null)[], Record<string, number>]>([
    ['reordering within the window', [...push(1, 3, 2, 5, 4), ...ticks(5)], ['p1', 'p2', 'p3', 'p4', 'p5'], { played: 5, concealed: 0, late: 0 }],
    ['a lost packet is concealed', [...push(1, 2, 4, 5), ...ticks(5)], ['p1', 'p2', null, 'p4', 'p5'], { played: 4, concealed: 1, underruns: 0 }],
    ['wrap-around 65535 → 0', [...push(65534, 65535, 0, 1), ...ticks(4)], ['p65534', 'p65535', 'p0', 'p1'], { played: 4, concealed: 0 }],
    ['reordered across the wrap', [...push(65534, 0, 65535, 1), ...ticks(4)], ['p65534', 'p65535', 'p0', 'p1'], { played: 4 }],
    ['duplicates, waiting and played', [...push(1, 2, 2, 3), ...ticks(2), ...push(1, 3), ...ticks(1)], ['p1', 'p2', 'p3'], { duplicates: 3, late: 0 }],
    ['a late packet is dropped', [...push(1, 2, 4), ...ticks(3), ...push(3), ...ticks(1)], ['p1', 'p2', null, 'p4'], { late: 1, concealed: 1 }],
    ['underrun: nothing buffered', [...push(1, 2, 3), ...ticks(5), ...push(6), ...ticks(1)], ['p1', 'p2', 'p3', null, null, 'p6'], { underruns: 2, concealed: 2 }],
  ])('%s', (_name, script, expected, stats) => {
    const { played, jb } = run(script);
    expect(played).toEqual(expected);
    expect(jb.stats).toMatchObject(stats);
  });

  it('push results name what happened', () => {
    const { pushes } = run([...push(10, 11, 11, 12), ...ticks(2), ...push(10, 9)]);
    expect(pushes).toEqual(['queued', 'queued', 'duplicate', 'queued', 'duplicate', 'late']);
  });

  it('overrun: a packet capacity frames ahead makes playback jump, skipped frames counted', () => {
    // depth 2, capacity 4: next to play is 1; 5 is 4 ahead → jump so 5 is 2 ahead (next = 4).
    const { played, pushes, jb } = run([...push(1, 2, 3), ...push(5), ...ticks(3)], 2, 4);
    expect(pushes).toEqual(['queued', 'queued', 'queued', 'overrun']);
    expect(played).toEqual([null, 'p5', null]);
    expect(jb.stats).toMatchObject({ overruns: 1, overrunSkipped: 3 });
  });

  it('a long silence refills the buffer, then plays the new packets with its depth', () => {
    const jb = new JitterBuffer<string>({ depth: 2, resetAfter: 3 });
    jb.push(1, 160, 'a');
    jb.push(2, 320, 'b');
    expect([jb.tick()?.payload, jb.tick()?.payload]).toEqual(['a', 'b']);
    const gap = [jb.tick(), jb.tick(), jb.tick()];
    expect(gap.map((f) => f?.concealed)).toEqual([true, true, true]);
    expect(gap.map((f) => f?.timestamp)).toEqual([480, 640, 800]); // extrapolated
    expect(jb.playing).toBe(false);
    expect(jb.tick()).toBeUndefined();
    expect(jb.push(40, 6400, 'c')).toBe('queued');
    expect(jb.tick()).toBeUndefined();
    jb.push(41, 6560, 'd');
    expect([jb.tick()?.payload, jb.tick()?.seq]).toEqual(['c', 41]);
    expect(jb.stats.resets).toBe(1);
  });

  it('while refilling after a gap, a straggler from before the gap is late, not played', () => {
    const jb = new JitterBuffer<string>({ depth: 2, resetAfter: 2 });
    jb.push(10, 0, 'a');
    jb.push(11, 160, 'b');
    jb.push(13, 480, 'd');
    expect([jb.tick(), jb.tick(), jb.tick(), jb.tick()].map((f) => f?.payload ?? null)).toEqual(['a', 'b', null, 'd']);
    jb.tick();
    jb.tick(); // two concealed in a row: refilling
    expect(jb.playing).toBe(false);
    expect(jb.push(12, 320, 'c')).toBe('late');
    expect(jb.push(11, 160, 'b')).toBe('duplicate');
    jb.push(20, 1600, 'e');
    jb.push(21, 1760, 'f');
    expect([jb.tick()?.payload, jb.tick()?.payload]).toEqual(['e', 'f']);
  });

  it('timestamps wrap at 2^32', () => {
    const jb = new JitterBuffer<string>({ depth: 1 });
    jb.push(7, 0xffffff60, 'x');
    expect(jb.tick()?.timestamp).toBe(0xffffff60);
    expect(jb.tick()).toMatchObject({ concealed: true, timestamp: 0, seq: 8 });
  });
});

describe('frame clock', () => {
  it('is steady: frame k is due at start + 20k whatever the timer jitter', () => {
    const c = new FrameClock(1000);
    expect([1000, 1019, 1021, 1045, 1059, 1060, 1060].map((t) => c.due(t))).toEqual([1, 0, 1, 1, 0, 1, 0]);
    expect(c.nextDueMs()).toBe(1080);
  });

  it('after a stall it catches up at most maxCatchUp frames and counts the rest as skipped', () => {
    const c = new FrameClock(0, 20, 5);
    expect(c.due(0)).toBe(1);
    expect(c.due(200)).toBe(5); // 10 due
    expect(c.skipped).toBe(5);
    expect(c.due(219)).toBe(0);
    expect(c.due(220)).toBe(1);
  });
});
