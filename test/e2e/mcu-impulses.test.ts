// Real werift participants through the audio MCU: each one's tone burst is
// found in every other participant's mix with the right source, never in its
// own, within a stated delay; one PCMU stream up and one down per client.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyseListener, type ListenerAnalysis } from '../../src/core/mcu/mouth-to-ear.js';
import { startMcuRoom, until, type McuRoom } from '../helpers/mcu-room.js';

const N = 4;
// Generous for a loaded 2-core machine: the design figure is ~40-60 ms (bench/sfu-mcu measures it).
const MAX_DELAY_MS = 400;

describe('MCU: impulses through the mix', () => {
  let r: McuRoom;
  const results: ListenerAnalysis[] = [];
  let wire: { sent: number; received: number; ms: number }[] = [];

  beforeAll(async () => {
    r = await startMcuRoom(N);
    await until(() => r.server.participants().length === N, 20_000, 'all participants up');
    const w0 = r.clients.map((c) => c.wireBytes());
    const t0 = performance.now();
    // A burst every 25 frames (500 ms), the participants 6 frames (120 ms) apart.
    r.clients.forEach((c, i) => c.startSending({ periodFrames: 25, phaseFrames: i * 6 }));
    await new Promise((res) => setTimeout(res, 5000));
    const t1 = performance.now();
    wire = r.clients.map((c, i) => {
      const b = c.wireBytes();
      return { sent: b.sent - w0[i]!.sent, received: b.received - w0[i]!.received, ms: t1 - t0 };
    });
    for (const c of r.clients) c.stopSending();
    // Let the last bursts through the jitter buffer and back.
    await new Promise((res) => setTimeout(res, 500));
    const sent = r.clients.flatMap((c) => c.sent);
    const lastMouth = Math.max(...sent.map((s) => s.mouthMs));
    r.clients.forEach((c, i) => {
      results.push(analyseListener(c.options.peerId, c.frames, sent, { ownId: i, ids: Array.from({ length: N }, (_, k) => k), maxDelayMs: 400, expectFrom: c.firstArrivalMs, expectTo: lastMouth - 200 }));
    });
  }, 60_000);

  afterAll(async () => {
    await r?.close();
  });

  it('finds every other participant\'s burst, with the right source, in each mix', () => {
    for (const a of results) {
      for (const [src, s] of Object.entries(a.perSource)) {
        expect(s.expected, `${src} -> ${a.listener}`).toBeGreaterThanOrEqual(5);
        // All of them, but one at a window edge.
        expect(s.heard, `${src} -> ${a.listener}`).toBeGreaterThanOrEqual(s.expected - 1);
      }
      expect(Object.keys(a.perSource).sort()).toEqual(r.clients.map((c) => c.options.peerId).filter((p) => p !== a.listener).sort());
      for (const h of a.heard) expect(h.source).not.toBe(a.listener);
      expect(a.unmatched).toBe(0);
    }
  });

  it('never puts a participant\'s own burst in its mix', () => {
    for (const a of results) expect(a.self, a.listener).toBe(0);
  });

  it('delivers bursts within the stated delay', () => {
    const delays = results.flatMap((a) => a.heard.filter((h) => h.intact).map((h) => h.delayMs)).sort((x, y) => x - y);
    expect(delays.length).toBeGreaterThan(N * (N - 1) * 5);
    const p50 = delays[Math.floor(delays.length / 2)]!;
    // Lower bound: a frame of packetization plus one jitter-buffer frame cannot be beaten.
    expect(p50).toBeGreaterThan(20);
    expect(p50).toBeLessThan(MAX_DELAY_MS);
  });

  it('sends one stream up and gets one stream down per client (within 25 %)', () => {
    for (const w of wire) {
      // One PCMU stream: 50 packets/s of 160 bytes plus RTP/SRTP headers (~ 10 kB/s).
      const up = (w.sent * 1000) / w.ms;
      const down = (w.received * 1000) / w.ms;
      expect(up).toBeGreaterThan(8000);
      expect(up).toBeLessThan(13_000);
      expect(down / up).toBeGreaterThan(0.8);
      expect(down / up).toBeLessThan(1.25);
    }
  });

  it('gets the participants\' RTCP sender reports (werift sends them; the MCU counts them by type)', () => {
    expect(r.server.rtcpCounts()['200']).toBeGreaterThan(0);
  });
});
