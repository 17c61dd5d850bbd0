import { describe, expect, it } from 'vitest';
import { failedLayer, LAYER_FAILURE, type SetupState } from '../../../src/core/rtc/setup-layer.js';

describe('failedLayer: which layer of the setup did not finish', () => {
  const cases: [string, SetupState, 'ice' | 'dtls' | 'sctp'][] = [
    ['ICE never connected', { settingUp: true, iceConnected: false, dtls: 'new' }, 'ice'],
    ['ICE never connected, DTLS state left over', { settingUp: true, iceConnected: false, dtls: 'connecting' }, 'ice'],
    ['ICE connected, DTLS handshake still going', { settingUp: true, iceConnected: true, dtls: 'connecting' }, 'dtls'],
    ['ICE connected, DTLS failed (fingerprint mismatch)', { settingUp: true, iceConnected: true, dtls: 'failed' }, 'dtls'],
    ['ICE connected, no DTLS transport', { settingUp: true, iceConnected: true, dtls: 'none' }, 'dtls'],
    ['ICE and DTLS connected, SCTP or the channels not', { settingUp: true, iceConnected: true, dtls: 'connected' }, 'sctp'],
    ['a failure after the setup (e.g. the relay check) stays where it happened', { settingUp: false, iceConnected: true, dtls: 'connected' }, 'ice'],
  ];
  for (const [name, s, want] of cases) it(name, () => expect(failedLayer(s)).toBe(want));

  it('each layer has its own code, and DTLS and SCTP name what was already connected', () => {
    expect(LAYER_FAILURE.ice).toEqual({ code: 'ICE_FAILED' });
    expect(LAYER_FAILURE.dtls.code).toBe('DTLS_FAILED');
    expect(LAYER_FAILURE.dtls.during).toMatch(/ICE was connected/);
    expect(LAYER_FAILURE.sctp.code).toBe('SCTP_FAILED');
    expect(LAYER_FAILURE.sctp.during).toMatch(/ICE and DTLS were connected/);
  });
});
