/**
 * `rtcprobe check --metrics-port`: the latest round's results in the
 * Prometheus text format, the way blackbox_exporter reports a probe, from a
 * client's point of view. Unlabelled families come from the shared
 * MetricsRegistry; per-URL and per-class gauges are written here with the
 * same label escaping. `metricsText` is pure; `serveMetrics` is the HTTP
 * listener (through the relay's router, so /healthz and 404s match).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RtcprobeError } from '../errors.js';
import { HttpRouter } from '../signaling/http.js';
import { escapeLabelValue, MetricsRegistry } from '../signaling/metrics.js';
import type { CheckReport } from './report.js';

export interface MonitorState {
  rounds: number;
  last?: CheckReport;
  /** When the last round ended, ms since the epoch. */
  lastAt?: number;
}

const CONNECT_VALUE = { yes: 1, partly: 0.5, no: 0, unknown: -1 } as const;

function labelled(name: string, help: string, samples: [Record<string, string>, number][]): string[] {
  const out = [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`];
  for (const [labels, v] of samples) {
    const l = Object.entries(labels).map(([k, x]) => `${k}="${escapeLabelValue(x)}"`).join(',');
    out.push(`${name}${l ? `{${l}}` : ''} ${v}`);
  }
  return out;
}

/** The text exposition of the latest round (format 0.0.4). */
export function metricsText(s: MonitorState): string {
  const reg = new MetricsRegistry();
  const r = s.last;
  reg.counterOf('rtcprobe_check_rounds_total', 'check rounds completed', () => s.rounds);
  reg.gauge('rtcprobe_check_success', '1 when the last round found that calls connect and no configured server is broken', () => (r?.ok ? 1 : 0));
  reg.gauge('rtcprobe_check_connect', 'whether calls connect from here: 1 yes, 0.5 with some peers only, 0 no, -1 unknown', () => (r ? CONNECT_VALUE[r.verdict.connect] : -1));
  reg.gauge('rtcprobe_check_duration_seconds', 'wall time of the last round', () => (r ? r.elapsedMs / 1000 : 0));
  reg.gauge('rtcprobe_check_broken_servers', 'configured servers found broken in the last round', () => r?.broken.length ?? 0);
  reg.gauge('rtcprobe_check_last_round_timestamp_seconds', 'when the last round ended', () => (s.lastAt ?? 0) / 1000);
  const lines = [reg.expose().trimEnd()];
  if (r) {
    lines.push(...labelled('rtcprobe_check_relay_up', 'a relayed path through this TURN URL works (1) or not (0)', r.relays.map((p) => [{ url: p.url, transport: p.transport, status: p.status }, p.status === 'works' ? 1 : 0])));
    const turn = r.steps.servers.turn.filter((t) => t.rttMs !== undefined);
    lines.push(...labelled('rtcprobe_check_relay_rtt_seconds', 'median RTT of relayed data through this TURN URL (TURN checks)', turn.map((t) => [{ url: t.url, transport: t.transport }, t.rttMs! / 1000])));
    const e2e = r.steps.e2e.relays.filter((e) => e.connectMs !== undefined);
    lines.push(...labelled('rtcprobe_check_e2e_connect_seconds', 'time for two WebRTC peers to connect relay-only through this TURN URL (ICE, DTLS, SCTP)', e2e.map((e) => [{ url: e.url, transport: e.transport }, e.connectMs!.total / 1000])));
    lines.push(...labelled('rtcprobe_check_stun_up', 'this STUN URL answered', r.steps.servers.stun.map((x) => [{ url: x.url, transport: x.transport }, x.ok ? 1 : 0])));
    lines.push(...labelled('rtcprobe_check_forecast', 'the path a call with a remote peer behind this NAT class takes (1 for the forecast path)', r.forecast.rows.map((f) => [{ remote: f.remote, path: f.path }, 1])));
  }
  return `${lines.join('\n')}\n`;
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serve /metrics and /healthz on host:port until closed. */
export function serveMetrics(host: string, port: number, state: MonitorState): Promise<MetricsServer> {
  const router = new HttpRouter({ realm: 'rtcprobe-check', health: () => ({ status: 200, body: { ok: true, rounds: state.rounds } }), metrics: () => metricsText(state) });
  const server = http.createServer((req, res) => router.handle(req, res));
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new RtcprobeError('SOCKET', `cannot listen on ${host}:${port} for --metrics-port: ${err.message}`, { cause: err })));
    server.listen(port, host, () => {
      const p = (server.address() as AddressInfo).port;
      resolve({
        port: p,
        close: () => new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        }),
      });
    });
  });
}
