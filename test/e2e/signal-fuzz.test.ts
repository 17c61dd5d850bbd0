import { afterAll, describe, expect, it } from 'vitest';
import { SignalClient } from '../../src/core/signaling/client.js';
import { WIRE_ERRORS } from '../../src/core/signaling/protocol.js';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { rawPeer, type RawPeer } from '../helpers/signal.js';
import { rng } from '../helpers/rng.js';


const SEED = Number(process.env.SIGNAL_FUZZ_SEED ?? 0x5eed51);
const FRAMES = 3000;
const TYPES = ['join', 'signal', 'broadcast', 'leave', 'ping', 'pong', 'joined', 'error', '', 'JOIN', 'x'.repeat(40)];

function frame(r: () => number): string | Buffer {
  const pick = <T,>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const str = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(r() * 0x2ff))).join('');
  const value = (depth: number): unknown => {
    switch (Math.floor(r() * (depth > 3 ? 5 : 8))) {
      case 0: return null;
      case 1: return r() * 1e6 - 5e5;
      case 2: return str(Math.floor(r() * 12));
      case 3: return r() < 0.5;
      case 4: return Math.floor(r() * 10);
      case 5: return Array.from({ length: Math.floor(r() * 4) }, () => value(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < Math.floor(r() * 4); i++) o[pick(['type', 'room', 'peerId', 'to', 'data', 'ts', 'meta', 'token', 'v', str(3)])] = value(depth + 1);
        return o;
      }
    }
  };
  const valid = (): Record<string, unknown> => {
    const room = pick(['fz', 'fz2', str(3)]);
    return pick([
      { type: 'join', room, peerId: pick(['p1', 'p2', 'p3', str(4)]), meta: value(2) },
      { type: 'signal', to: pick(['p1', 'p2', 'p3', str(4)]), data: value(0) },
      { type: 'broadcast', data: value(0) },
      { type: 'leave' },
      { type: 'ping', ts: r() * 1e6 },
    ]);
  };
  switch (Math.floor(r() * 10)) {
    case 0: return Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256))); // binary
    case 1: return str(Math.floor(r() * 80)); // random text
    case 2: { // a valid message, truncated or with a character replaced
      const s = JSON.stringify(valid());
      const at = Math.floor(r() * s.length);
      return r() < 0.5 ? s.slice(0, at) : s.slice(0, at) + pick(['"', '{', '}', ',', '\\', '\u0000', 'é']) + s.slice(at + 1);
    }
    case 3: { const o = valid(); o.type = pick(TYPES); return JSON.stringify(o); }
    case 4: return JSON.stringify(value(0));
    case 5: { // deep nesting
      const d = 200 + Math.floor(r() * 700);
      return `{"type":"${pick(['signal', 'broadcast', 'join'])}","to":"p1","room":"fz","meta":${'['.repeat(d)}${']'.repeat(d)},"data":${'['.repeat(d)}${']'.repeat(d)}}`;
    }
    case 6: return JSON.stringify({ type: 'broadcast', data: 'z'.repeat(3000 + Math.floor(r() * 1300)) }); // around the size limit
    default: return JSON.stringify(valid());
  }
}

describe('signal relay: seeded fuzzing', () => {
  const relay = new SignalRelay({ host: '127.0.0.1', port: 0, limits: { maxMessageBytes: 4096, messagesPerSecond: 2000, messageBurst: 500, maxStrikes: 50 } });
  afterAll(async () => {
    await relay.close();
  });

  it(`survives ${FRAMES} random frames (seed ${SEED}) and still serves a well-behaved client`, async () => {
    const { ws: url, http } = await relay.listen();
    const r = rng(SEED);
    const peers: RawPeer[] = [];
    let sent = 0;
    let opened = 0;
    while (sent < FRAMES) {
      const p = await rawPeer(url);
      opened++;
      peers.push(p);
      // Each connection gets a batch; the relay may close it (strikes, oversize, bad UTF-8).
      const batch = 5 + Math.floor(r() * 40);
      for (let i = 0; i < batch && sent < FRAMES && p.ws.readyState === p.ws.OPEN; i++, sent++) {
        const f = frame(r);
        if (Buffer.isBuffer(f)) p.ws.send(f, { binary: r() < 0.97 }); // rarely, invalid UTF-8 in a text frame (close 1007)
        else p.ws.send(f);
      }
      // Let the relay answer before the next connection.
      await new Promise<void>((resolve) => {
        const probe = JSON.stringify({ type: 'ping', ts: -1 });
        if (p.ws.readyState !== p.ws.OPEN) return resolve();
        p.ws.send(probe);
        const t = setTimeout(resolve, 5000);
        p.ws.on('message', (d) => { if (d.toString().includes('"ts":-1')) { clearTimeout(t); resolve(); } });
        p.ws.on('close', () => { clearTimeout(t); resolve(); });
      });
    }
    expect(opened).toBeGreaterThan(1);
    // Most frames reached the relay's handlers (the rest went to connections it had closed).
    const snap = relay.snapshot();
    const handled = Object.values(snap.received).reduce((x, y) => x + y, 0) + Object.values(snap.errors).reduce((x, y) => x + y, 0);
    expect(handled).toBeGreaterThan(FRAMES / 2);
    for (const p of peers) p.ws.terminate();

    // Every error the relay sent carried a documented code.
    const errors = peers.flatMap((p) => p.messages.filter((m) => m.type === 'error'));
    expect(errors.length).toBeGreaterThan(100);
    for (const e of errors) expect(Object.keys(WIRE_ERRORS)).toContain(e.code);
    expect(errors.some((e) => e.code === 'INTERNAL')).toBe(false);
    expect(new Set(errors.map((e) => e.code)).size).toBeGreaterThanOrEqual(6);

    // A well-behaved pair still works.
    const a = new SignalClient({ url, room: 'after-fuzz', peerId: 'a', reconnect: false });
    const b = new SignalClient({ url, room: 'after-fuzz', peerId: 'b', reconnect: false });
    try {
      await a.connect();
      expect((await b.connect()).peers).toEqual([{ peerId: 'a' }]);
      const got = a.next('signal');
      b.signal('a', { sdp: 'still alive' });
      expect(await got).toEqual({ type: 'signal', from: 'b', data: { sdp: 'still alive' } });
      await expect(a.ping(2000)).resolves.toBeGreaterThan(0);
      const health = (await (await fetch(new URL('/healthz', http))).json()) as { ok: boolean; connections: number };
      expect(health.ok).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
