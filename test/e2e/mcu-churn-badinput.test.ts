// The audio MCU with real werift participants: one leaving mid-run, and one
// sending bad input (malformed datagrams, an unknown payload type, wrong-size
// frames, far over the rate). The others keep hearing each other.
import { afterEach, describe, expect, it } from 'vitest';
import { analyseListener } from '../../src/core/mcu/mouth-to-ear.js';
import { startMcuRoom, until, type McuRoom } from '../helpers/mcu-room.js';

const rooms: McuRoom[] = [];
afterEach(async () => {
  for (const r of rooms.splice(0)) await r.close();
});

const wait = (ms: number) => new Promise((res) => setTimeout(res, ms));

describe('MCU churn', () => {
  it('a participant that leaves is out of the mix and never sent to again; the others are unaffected', async () => {
    const r = await startMcuRoom(3);
    rooms.push(r);
    await until(() => r.server.participants().length === 3, 20_000, 'all up');
    r.clients.forEach((c, i) => c.startSending({ periodFrames: 25, phaseFrames: i * 8 }));
    await wait(2000);
    const leaver = r.clients[2]!;
    const sentBefore = r.server.allStats().find((s) => s.peerId === 'p2')!.packetsSent;
    expect(sentBefore).toBeGreaterThan(50);
    await leaver.stop();
    const leftAt = performance.now();
    await until(() => r.server.participants().length === 2, 10_000, 'p2 removed');
    const gone = r.server.gone.find((s) => s.peerId === 'p2')!;
    const frozen = gone.packetsSent;
    await wait(2500);
    expect(gone.state).toBe('gone');
    expect(gone.packetsSent).toBe(frozen);
    expect(gone.sentAfterRemoval).toBe(0);
    expect(r.server.participants().sort()).toEqual(['p0', 'p1']);
    for (const c of r.clients.slice(0, 2)) c.stopSending();
    await wait(400);
    const sent = r.clients.flatMap((c) => c.sent);
    const lastMouth = Math.max(...sent.filter((s) => s.source !== 'p2').map((s) => s.mouthMs));
    for (const [i, c] of r.clients.slice(0, 2).entries()) {
      const a = analyseListener(c.options.peerId, c.frames, sent, { ownId: i, ids: [0, 1, 2], maxDelayMs: 400, expectFrom: c.firstArrivalMs, expectTo: lastMouth - 200 });
      expect(a.self).toBe(0);
      // p2's bursts: heard only before it left (+ the jitter buffer and the path).
      const late = a.heard.filter((h) => h.source === 'p2' && h.earMs > leftAt + 500);
      expect(late).toEqual([]);
      const other = i === 0 ? 'p1' : 'p0';
      const s = a.perSource[other]!;
      expect(s.expected).toBeGreaterThanOrEqual(7);
      expect(s.heard).toBeGreaterThanOrEqual(s.expected - 1);
      // And the other one kept hearing after the churn.
      expect(a.heard.filter((h) => h.source === other && h.earMs > leftAt + 500).length).toBeGreaterThanOrEqual(3);
    }
  }, 60_000);
});

describe('MCU bad input', () => {
  it('counts and drops malformed datagrams, an unknown payload type, wrong sizes and floods; stays up; the others are unaffected', async () => {
    const r = await startMcuRoom(3);
    rooms.push(r);
    await until(() => r.server.participants().length === 3, 20_000, 'all up');
    const [bad, c1, c2] = r.clients as [typeof r.clients[0], typeof r.clients[0], typeof r.clients[0]];
    c1.startSending({ periodFrames: 25, phaseFrames: 0 });
    c2.startSending({ periodFrames: 25, phaseFrames: 12 });
    await wait(500);
    // Malformed: RTP-range and RTCP-range junk that fails SRTP/SRTCP authentication, a very short
    // one, and bytes outside the STUN/DTLS/RTP ranges.
    const junk = (b0: number, b1: number, len: number) => Uint8Array.from({ length: len }, (_, i) => (i === 0 ? b0 : i === 1 ? b1 : (i * 37) & 0xff));
    for (let i = 0; i < 10; i++) await bad.sendRaw(junk(0x80, 0, 172));
    for (let i = 0; i < 10; i++) await bad.sendRaw(junk(0x80, 200, 40));
    for (let i = 0; i < 10; i++) await bad.sendRaw(junk(0x40, 0, 100));
    // Too short to hold an RTP or RTCP header.
    for (const len of [1, 2, 5, 11]) await bad.sendRaw(junk(0x80, 0, len));
    for (const len of [3, 7]) await bad.sendRaw(junk(0x80, 200, len));
    // An unknown payload type, and frames of the wrong size.
    for (let i = 0; i < 10; i++) bad.sendFrame(new Uint8Array(160).fill(0xff), { payloadType: 99 });
    for (let i = 0; i < 10; i++) bad.sendFrame(new Uint8Array(80).fill(0xff));
    await wait(300);
    // A flood: 400 frames at once, 8 s of audio.
    const floodAt = performance.now();
    for (let i = 0; i < 400; i++) bad.sendFrame(new Uint8Array(160).fill(0xff));
    await until(() => (r.server.dropCounts()['rate'] ?? 0) > 0, 10_000, 'rate drops');
    await wait(3000);
    const d = r.server.dropCounts();
    expect(d['malformed']).toBeGreaterThanOrEqual(36);
    expect(d['payload-type']).toBe(10);
    expect(d['size']).toBe(10);
    // The bucket lets 100 packets/s through after a burst of 25; the rest of the flood is dropped
    // (some of it may also be lost on the loopback socket before the MCU sees it).
    const p0 = r.server.allStats().find((x) => x.peerId === 'p0')!;
    const accepted = p0.rtpIn - (d['payload-type'] ?? 0) - (d['size'] ?? 0) - (d['rate'] ?? 0);
    expect(d['rate']).toBeGreaterThan(100);
    expect(accepted).toBeLessThanOrEqual(25 + (100 * (performance.now() - floodAt + 800)) / 1000);
    // The offender's own counters say the same; the others have no drops.
    const stats = r.server.allStats();
    expect(stats.find((s) => s.peerId === 'p0')!.drops['payload-type']).toBe(10);
    for (const id of ['p1', 'p2']) {
      const s = stats.find((x) => x.peerId === id)!;
      expect(s.drops['malformed'] ?? 0).toBe(0);
      expect(s.drops['rate'] ?? 0).toBe(0);
    }
    expect(r.server.participants().sort()).toEqual(['p0', 'p1', 'p2']);
    c1.stopSending();
    c2.stopSending();
    await wait(400);
    const sent = r.clients.flatMap((c) => c.sent);
    const lastMouth = Math.max(...sent.map((s) => s.mouthMs));
    for (const [c, own, other] of [[c1, 1, 'p2'], [c2, 2, 'p1']] as const) {
      const a = analyseListener(c.options.peerId, c.frames, sent, { ownId: own, ids: [0, 1, 2], maxDelayMs: 400, expectFrom: c.firstArrivalMs, expectTo: lastMouth - 200 });
      const s = a.perSource[other]!;
      expect(s.expected).toBeGreaterThanOrEqual(7);
      expect(s.heard).toBeGreaterThanOrEqual(s.expected - 1);
      expect(a.self).toBe(0);
    }
  }, 60_000);
});
