/**
 * The layer states a failed connection is classified by (src/core/rtc/setup-layer.ts), read from
 * real werift peers: a UDP relay between them (test/helpers/relayed-pair.ts) drops every DTLS
 * application-data record, so ICE and the DTLS handshake complete but SCTP, which rides in those
 * records, never does.
 */
import { describe, expect, it } from 'vitest';
import { failedLayer } from '../../src/core/rtc/setup-layer.js';
import { relayedPair } from '../helpers/relayed-pair.js';

describe('a connection whose SCTP packets never arrive', () => {
  it('times out with ICE and DTLS connected and SCTP not: classified as an SCTP failure', async () => {
    const W = { timeoutMs: 4_000 };
    let dropped = 0;
    // ct23e1: DTLS content type 23 (application data) in epoch 1, after the handshake: every SCTP packet.
    const pair = await relayedPair((_from, k) => k === 'ct23e1' && ++dropped > 0, W);
    try {
      const err = await pair.offerer.connected(W).then(() => undefined, (e: Error & { code?: string }) => e);
      expect(err?.code).toBe('TIMEOUT');
      expect(err?.message).toMatch(/ICE connected, DTLS connected, SCTP (?!connected)/);
      const layers = pair.offerer.layers();
      expect(layers.ice).toBe('connected');
      expect(layers.dtls).toBe('connected');
      expect(layers.sctp).not.toBe('connected');
      expect(dropped).toBeGreaterThan(0);
      expect(failedLayer({ settingUp: true, iceConnected: pair.offerer.breakdown().sinceStart.iceConnected !== undefined, dtls: layers.dtls })).toBe('sctp');
    } finally {
      await pair.close();
    }
  });
});
