import { describe, expect, it } from 'vitest';
import { analyseListener, assemble, type BurstSent, type ReceivedFrame } from '../../../src/core/mcu/mouth-to-ear.js';
import { addBurst } from '../../../src/core/mcu/impulse.js';
import { FRAME_SAMPLES } from '../../../src/core/mcu/mixer.js';
import { ulawEncodeFrame } from '../../../src/core/mcu/g711.js';

/** A listener's stream: `frames` frames from `seq0`, frame k arriving at t0 + 20 k, with bursts at given frames. */
function stream(frames: number, seq0: number, t0: number, bursts: { id: number; frame: number }[]): ReceivedFrame[] {
  const pcm = new Int16Array(frames * FRAME_SAMPLES);
  for (const b of bursts) addBurst(pcm, b.id, b.frame * FRAME_SAMPLES);
  return Array.from({ length: frames }, (_, k) => ({ seq: (seq0 + k) & 0xffff, arrivalMs: t0 + 20 * k, payload: ulawEncodeFrame(pcm.subarray(k * FRAME_SAMPLES, (k + 1) * FRAME_SAMPLES)) }));
}

describe('mouth-to-ear from bursts', () => {
  it('puts frames back in order across the sequence wrap and fills gaps with silence', () => {
    const f = stream(10, 65530, 0, [{ id: 1, frame: 2 }]);
    const shuffled = [f[0]!, f[2]!, f[1]!, ...f.slice(3, 6), ...f.slice(7)];
    const a = assemble(shuffled);
    expect(a.pcm.length).toBe(10 * FRAME_SAMPLES);
    expect(a.gaps).toBe(1);
    expect(a.arrivalMs[6]).toBeUndefined();
    expect(a.arrivalMs[2]).toBe(40);
    expect(a.pcm.subarray(6 * FRAME_SAMPLES, 7 * FRAME_SAMPLES).every((v) => v === 0)).toBe(true);
  });

  it('matches each burst to its source and send time, and counts the listener\'s own', () => {
    // Source A (id 1) sent at mouth 100 ms; heard in frame 10, which arrived at 1000 + 200 = 1200 ms.
    const frames = stream(60, 100, 1000, [{ id: 1, frame: 10 }, { id: 2, frame: 30 }, { id: 0, frame: 45 }]);
    const sent: BurstSent[] = [
      { source: 'A', id: 1, mouthMs: 1150 },
      { source: 'A', id: 1, mouthMs: 100 }, // too old for the 500 ms limit
      { source: 'B', id: 2, mouthMs: 1560 },
      { source: 'me', id: 0, mouthMs: 1800 },
    ];
    const r = analyseListener('me', frames, sent, { ownId: 0, ids: [0, 1, 2] });
    expect(r.self).toBe(1);
    expect(r.unmatched).toBe(0);
    expect(r.heard.map((h) => [h.source, Math.round(h.delayMs)])).toEqual([['A', 50], ['B', 40]]);
    expect(r.perSource).toEqual({ A: { expected: 2, heard: 1 }, B: { expected: 1, heard: 1 } });
  });

  it('finds nothing in silence (no figure from silence)', () => {
    const r = analyseListener('me', stream(50, 0, 0, []), [{ source: 'A', id: 1, mouthMs: 10 }], { ownId: 0, ids: [0, 1] });
    expect(r.heard).toEqual([]);
    expect(r.perSource).toEqual({ A: { expected: 1, heard: 0 } });
  });

  it('refuses a delay shorter than the packetization: a burst a whole period late would alias onto the next one', () => {
    // Heard at 1000 + 200 ms; the sender's bursts went out at 200 ms (1 s earlier) and at 1190 ms.
    const frames = stream(30, 0, 1000, [{ id: 1, frame: 10 }]);
    const sent: BurstSent[] = [{ source: 'A', id: 1, mouthMs: 200 }, { source: 'A', id: 1, mouthMs: 1190 }];
    const r = analyseListener('me', frames, sent, { ownId: 0, ids: [0, 1] });
    expect(r.heard).toEqual([]);
    expect(r.unmatched).toBe(1);
  });

  it('marks a burst whose first frame was played as silence: heard, but not timed', () => {
    const frames = stream(40, 0, 1000, [{ id: 1, frame: 10 }, { id: 1, frame: 25 }]);
    frames[25]!.payload.fill(0xff); // the mixer concealed that frame: silence
    const sent: BurstSent[] = [{ source: 'A', id: 1, mouthMs: 1150 }, { source: 'A', id: 1, mouthMs: 1450 }];
    const r = analyseListener('me', frames, sent, { ownId: 0, ids: [0, 1] });
    expect(r.heard.map((h) => h.intact)).toEqual([true, false]);
  });
});
