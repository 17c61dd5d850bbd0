/**
 * A small HTTP router for rtcprobe servers: GET/HEAD only (405 with `Allow`
 * otherwise), /healthz on every listener, /metrics, the routes a server mounts,
 * admin-token checks (401 with `WWW-Authenticate`), query-parameter
 * validation (400 BAD_QUERY) and JSON error bodies `{ "error": { code, message } }`.
 * Nothing here knows about rooms: a server mounts its own routes.
 */
import type http from 'node:http';
import type { AdminToken } from './auth.js';

/** Integer query parameters a route takes, with their ranges. */
export type QuerySpec = Record<string, { min: number; max: number }>;

/**
 * Check a query string against the integer parameters an endpoint takes:
 * the values, or a message saying what is wrong (unknown, repeated, not an
 * integer in range). Nothing is silently ignored.
 */
export function parseQuery<K extends string>(params: URLSearchParams, spec: Record<K, { min: number; max: number }>): Partial<Record<K, number>> | string {
  const out: Partial<Record<K, number>> = {};
  const seen = new Set<string>();
  const known = Object.keys(spec);
  for (const [key, value] of params) {
    const shown = JSON.stringify(key.slice(0, 32));
    if (!known.includes(key)) return known.length ? `unknown query parameter ${shown} (this endpoint takes ${known.join(', ')})` : `unknown query parameter ${shown} (this endpoint takes none)`;
    if (seen.has(key)) return `query parameter ${shown} is repeated`;
    seen.add(key);
    const { min, max } = spec[key as K];
    if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) return `${key} must be an integer from ${min} to ${max}`;
    out[key as K] = Number(value);
  }
  return out;
}

export interface Reply {
  json(status: number, body: unknown, headers?: Record<string, string>): void;
  text(status: number, body: string, contentType: string, headers?: Record<string, string>): void;
  /** A JSON error body `{ error: { code, message } }`. */
  fail(status: number, code: string, message: string, headers?: Record<string, string>): void;
}

export interface RouteRequest {
  req: http.IncomingMessage;
  /** The path after the route's prefix (prefix routes only). */
  rest: string;
  query: Partial<Record<string, number>>;
}

export interface Route {
  /** Exact paths served. */
  paths?: string[];
  /** And: every path starting with this prefix (the first matching route wins). */
  prefix?: string;
  /** How the route shows in the 404 hint, e.g. "/rooms/:id". */
  label: string;
  /**
   * `admin`: needs the admin token when the router has one. `lockedWithoutToken`:
   * when the router has none, refuse with this reason (undefined: serve).
   */
  admin?: boolean;
  lockedWithoutToken?: string;
  /** Query parameters taken; anything else is BAD_QUERY. Omitted: the query is not looked at. */
  query?: QuerySpec;
  handle(r: RouteRequest, reply: Reply): void | Promise<void>;
}

export interface RouterOptions {
  /** Realm of the `WWW-Authenticate` header on 401. */
  realm: string;
  adminToken?: AdminToken;
  /** /healthz: its status and body, answered on every listener. */
  health(): { status: number; body: unknown };
  /** /metrics in the Prometheus text format; needs the admin token when there is one. */
  metrics?: () => string;
  /** What a listener that serves only /healthz answers to the rest (default 404). */
  elsewhere?: (res: http.ServerResponse) => void;
}

const METHODS = 'GET, HEAD';

export function replyTo(res: http.ServerResponse): Reply {
  const text: Reply['text'] = (status, body, contentType, headers = {}) => {
    res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
  const json: Reply['json'] = (status, body, headers) => text(status, JSON.stringify(body), 'application/json', headers);
  return { text, json, fail: (status, code, message, headers) => json(status, { error: { code, message } }, headers) };
}

export class HttpRouter {
  private readonly routes: Route[] = [];

  constructor(private readonly opts: RouterOptions) {}

  /** Mount a route; routes are tried in the order mounted, /metrics last. */
  mount(route: Route): this {
    this.routes.push(route);
    return this;
  }

  private all(): Route[] {
    const metrics = this.opts.metrics;
    if (!metrics) return this.routes;
    return [...this.routes, {
      paths: ['/metrics'],
      label: '/metrics',
      admin: true,
      handle: (_r, reply) => reply.text(200, metrics(), 'text/plain; version=0.0.4; charset=utf-8'),
    }];
  }

  /**
   * Answer a request. `full` false: this listener serves /healthz only and
   * hands the rest to `elsewhere` (the channel port of a relay whose session
   * endpoints are on their own port).
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse, full = true): void {
    const reply = replyTo(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      reply.fail(405, 'METHOD_NOT_ALLOWED', 'only GET and HEAD', { allow: METHODS });
      return;
    }
    const url = new URL(req.url ?? '/', 'http://server');
    const path = url.pathname;
    if (path === '/healthz') {
      const h = this.opts.health();
      reply.json(h.status, h.body);
      return;
    }
    if (!full) {
      if (this.opts.elsewhere) this.opts.elsewhere(res);
      else reply.fail(404, 'NOT_FOUND', 'this port serves /healthz only');
      return;
    }
    const routes = this.all();
    const route = routes.find((r) => r.paths?.includes(path) || (r.prefix !== undefined && path.startsWith(r.prefix)));
    if (!route) {
      reply.fail(404, 'NOT_FOUND', `try ${['/healthz', ...routes.map((r) => r.label)].join(', ')}`);
      return;
    }
    const refusal = this.refusal(req, route);
    if (refusal) {
      reply.fail(401, 'UNAUTHORIZED', refusal, { 'www-authenticate': `Bearer realm="${this.opts.realm}"` });
      return;
    }
    let query: Partial<Record<string, number>> = {};
    if (route.query) {
      const q = parseQuery(url.searchParams, route.query);
      if (typeof q === 'string') {
        reply.fail(400, 'BAD_QUERY', q);
        return;
      }
      query = q;
    }
    const rest = route.paths?.includes(path) ? '' : path.slice(route.prefix!.length);
    // A handler answers its own failures; one that throws anyway gets the connection cut.
    void Promise.resolve()
      .then(() => route.handle({ req, rest, query }, reply))
      .catch(() => res.destroy());
  }

  /** Why a request may not use a route (undefined: it may). */
  private refusal(req: http.IncomingMessage, route: Route): string | undefined {
    const admin = this.opts.adminToken;
    if (!route.admin) return undefined;
    if (admin) return admin.matches(req.headers.authorization) ? undefined : 'send the admin token as "Authorization: Bearer <token>"';
    return route.lockedWithoutToken;
  }
}
