/**
 * Which layer of a peer connection's setup did not finish, for the error a
 * failed connection reports: ICE (connectivity checks), DTLS (the handshake
 * after ICE connected) or SCTP (the association and the data channels after
 * DTLS connected). Pure: the caller reads the states.
 */
import type { ErrorCode } from '../errors.js';

export type SetupLayer = 'ice' | 'dtls' | 'sctp';

export interface SetupState {
  /** Whether the failure happened while the connection was being set up (not later, nor in a check of ours). */
  settingUp: boolean;
  /** ICE reached "connected" at some point. */
  iceConnected: boolean;
  /** The DTLS transport's state now ("connected" once its handshake finished). */
  dtls: string;
}

export function failedLayer(s: SetupState): SetupLayer {
  if (!s.settingUp || !s.iceConnected) return 'ice';
  return s.dtls === 'connected' ? 'sctp' : 'dtls';
}

export const LAYER_FAILURE: Record<SetupLayer, { code: ErrorCode; during?: string }> = {
  ice: { code: 'ICE_FAILED' },
  dtls: { code: 'DTLS_FAILED', during: 'the DTLS handshake (ICE was connected)' },
  sctp: { code: 'SCTP_FAILED', during: 'the SCTP association and data channel setup (ICE and DTLS were connected)' },
};
