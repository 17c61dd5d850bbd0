/**
 * The SFU's HTTP listener: /healthz and /metrics (Prometheus), on the
 * relay's HTTP router and listener code. Knows nothing of werift: it gets
 * the registry and a health reading.
 */
import { AdminToken } from '../signaling/auth.js';
import { HttpRouter } from '../signaling/http.js';
import { Listeners, type Addresses } from '../signaling/lifecycle.js';
import type { MetricsRegistry } from '../signaling/metrics.js';

export interface SfuHttpOptions {
  host: string;
  port: number;
  /** /metrics needs "Authorization: Bearer <token>" when given. */
  adminToken?: string;
  metrics: MetricsRegistry;
  health(): { ok: boolean; [k: string]: unknown };
}

export async function serveSfuHttp(o: SfuHttpOptions): Promise<{ addresses: Addresses; close(): Promise<void> }> {
  const router = new HttpRouter({
    realm: 'rtcprobe-sfu',
    ...(o.adminToken ? { adminToken: new AdminToken(o.adminToken) } : {}),
    health: () => {
      const h = o.health();
      return { status: h.ok ? 200 : 503, body: h };
    },
    metrics: () => o.metrics.expose(),
  });
  const l = await Listeners.open({
    host: o.host,
    port: o.port,
    onRequest: (req, res) => router.handle(req, res, true),
    onUpgrade: (_req, socket) => socket.destroy(),
  });
  return {
    addresses: l.addresses,
    close: async () => {
      const closing = l.stop();
      l.cut();
      await closing;
    },
  };
}
