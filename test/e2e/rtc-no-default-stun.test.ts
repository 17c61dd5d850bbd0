// werift falls back to a public STUN server (stun.l.google.com:19302) when a
// configuration has no stun: URL, even with iceServers: []. rtcprobe's peers
// must never do that: no lookup of that name, no STUN server on the ICE
// transport, and gathering that does not wait for it.
import dns from 'node:dns';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPair, type PeerPair } from '../../src/core/rtc/pair.js';

const W = { timeoutMs: 20_000, signal: new AbortController().signal };

describe('no built-in STUN server', () => {
  const looked: string[] = [];
  const original = dns.promises.lookup;
  let pair: PeerPair | undefined;

  beforeAll(() => {
    // Record every name werift resolves (it uses node:dns promises), then resolve as before.
    (dns.promises as { lookup: unknown }).lookup = (host: string, ...rest: unknown[]) => {
      looked.push(host);
      return (original as (...a: unknown[]) => unknown).call(dns.promises, host, ...rest);
    };
  });
  afterAll(async () => {
    (dns.promises as { lookup: unknown }).lookup = original;
    await pair?.close();
  });

  it('two peers with iceServers [] connect without resolving or configuring werift’s default STUN server', async () => {
    pair = await connectPair({ iceServers: [], loopback: true }, { iceServers: [], loopback: true }, W);
    for (const peer of [pair.offerer, pair.answerer]) {
      const transports = (peer.pc as unknown as { secureManager: { iceTransports: { connection: { stunServer?: unknown } }[] } }).secureManager.iceTransports;
      expect(transports.length).toBeGreaterThan(0);
      for (const t of transports) expect(t.connection.stunServer).toBeUndefined();
    }
    expect(looked.filter((h) => /google/i.test(h))).toEqual([]);
  });
});
