/**
 * The report of `rtcprobe check` (its JSON shape, see docs/check.md): one
 * section per step, the forecast and the verdict.
 */
import type { TurnVerdict, CheckRow } from '../turn/report.js';
import type { PortmapReport } from '../portmap/probe.js';
import type { Behaviour, NatType, Rating } from '../nat/types.js';
import type { Transport } from '../uri.js';
import type { BrokenServer, Forecast, RelayPath, Verdict } from './forecast.js';
import type { DefaultRoute, InterfaceAddress } from './network.js';

export const STEP_NAMES = ['network', 'servers', 'gather', 'nat', 'portmap', 'e2e'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** done: the step ran and its figures stand; not-verified: it could not run or finish (reason says why); skipped: not asked for. */
export type StepStatus = 'done' | 'not-verified' | 'skipped';

export interface StepBase {
  status: StepStatus;
  reason?: string;
  elapsedMs: number;
}

export interface NetworkStep extends StepBase {
  interfaces: InterfaceAddress[];
  defaultRoutes: DefaultRoute[];
  ipv4: boolean;
  ipv6: boolean;
  /** Whether traffic gets out: UDP (a server answered over UDP), TCP and TLS to each TURN port. null: not tried. */
  egress: {
    udp: boolean | null;
    tcp: { url: string; port: number; ok: boolean }[];
    tls: { url: string; port: number; ok: boolean }[];
  };
}

export interface StunServerRow {
  url: string;
  transport: Transport;
  ok: boolean;
  mappedAddress?: string;
  rttMs?: number;
  error?: string;
}

export interface TurnServerRow {
  url: string;
  transport: Transport;
  port: number;
  verdict: TurnVerdict;
  /** The first line of `rtcprobe turn` for this URL. */
  headline: string;
  relayedAddress?: string;
  /** Relayed path RTT (median), ms, when data went through. */
  rttMs?: number;
  /** The server answered at all (false: no answer or no connection). */
  answered: boolean;
  checks: CheckRow[];
  elapsedMs: number;
}

export interface ServersStep extends StepBase {
  stun: StunServerRow[];
  turn: TurnServerRow[];
  /** URLs that could not be parsed. */
  invalid: { url: string; error: string }[];
}

export interface CandidateRow {
  type: 'host' | 'srflx' | 'prflx' | 'relay';
  protocol: 'udp' | 'tcp';
  address: string;
  port: number;
  relayProtocol?: 'udp' | 'tcp' | 'tls';
  url?: string;
  atMs: number;
}

export interface GatherStep extends StepBase {
  candidates: CandidateRow[];
  errors: { url: string; errorCode?: number; errorText: string; atMs: number }[];
  unsupported: { url: string; reason: string }[];
  /** The URLs a werift RTCPeerConnection given this configuration would use (it takes the first STUN and the first TURN URL only). */
  weriftPeerUses?: { stun?: string; turn?: string };
  firstMs?: number;
  lastMs?: number;
  completeMs?: number;
  timedOut?: boolean;
}

export interface NatStep extends StepBase {
  server?: string;
  natType: NatType;
  mapping: Behaviour;
  filtering: Behaviour;
  rating: Rating;
  udpBlocked: boolean;
  publicAddress?: string;
  hairpin: boolean | null;
  text?: string;
}

export interface PortmapStep extends StepBase {
  gateway?: string;
  upnp?: PortmapReport['upnp'];
  natpmp?: PortmapReport['natpmp'];
  pcp?: PortmapReport['pcp'];
}

export interface E2eRow {
  url: string;
  transport: Transport;
  verdict: 'works' | 'failed' | 'not-verified';
  connectMs?: { gathering?: number; ice?: number; dtls?: number; channel?: number; total: number };
  rttMs?: { min: number; p50: number; max: number; samples: number };
  pair?: { local: string; remote: string };
  error?: { code: string; message: string; phase: string };
  reason?: string;
}

export interface E2eStep extends StepBase {
  relays: E2eRow[];
}

export interface CheckReport {
  command: 'check';
  ok: boolean;
  verdict: Verdict;
  input: { source: 'ice-servers' | 'uris' | 'signal' | 'default'; servers: { urls: string[]; username: boolean; credential: boolean }[] };
  steps: {
    network: NetworkStep;
    servers: ServersStep;
    gather: GatherStep;
    nat: NatStep;
    portmap: PortmapStep;
    e2e: E2eStep;
  };
  relays: RelayPath[];
  forecast: Forecast;
  broken: BrokenServer[];
  elapsedMs: number;
  /** Set when a signal stopped the run: results are partial. */
  interrupted?: boolean;
}
