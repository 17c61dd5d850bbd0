/**
 * The HTTP listener of a room server (`sfu serve`, `mcu serve`): /healthz and
 * /metrics (Prometheus), on the relay's HTTP router and listener code. Knows
 * nothing of werift: it gets the registry and a health reading.
 */
import { AdminToken } from './auth.js';
import { HttpRouter } from './http.js';
import { Listeners, type Addresses } from './lifecycle.js';
import type { MetricsRegistry } from './metrics.js';

export interface ServiceHttpOptions {
  /** The Basic/Bearer realm named in a 401. */
  realm: string;
  host: string;
  port: number;
  /** /metrics needs "Authorization: Bearer <token>" when given. */
  adminToken?: string;
  metrics: MetricsRegistry;
  health(): { ok: boolean; [k: string]: unknown };
}

export async function serveServiceHttp(o: ServiceHttpOptions): Promise<{ addresses: Addresses; close(): Promise<void> }> {
  const router = new HttpRouter({
    realm: o.realm,
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
