// The relay's HTTP session routes: /healthz, /metrics and the /rooms, /rooms/:id listings.
import { toRtcprobeError } from '../errors.js';
import type { AdminToken } from './auth.js';
import type { Bus } from './bus.js';
import { HttpRouter } from './http.js';

/** What the session routes read from the relay (live: called on every request). */
export interface SessionState {
  readonly instanceId: string;
  readonly bus: Bus;
  readonly secret?: string;
  draining(): boolean;
  connections(): number;
  rooms(): number;
  startedAt(): number;
  prometheus(): string;
}

export function sessionRoutes(s: SessionState, admin: AdminToken | undefined): HttpRouter {
  // Room listings show room and peer ids: with an admin token they need it; with join auth
  // (a secret) but no admin token they are not served at all. /metrics holds no ids: it needs
  // the admin token only when one is set.
  const locked = s.secret ? 'this relay requires join tokens, so room listings need an admin token (start it with --admin-token)' : undefined;
  return new HttpRouter({
    realm: 'rtcprobe-signal',
    ...(admin ? { adminToken: admin } : {}),
    health: () => ({
      status: s.draining() ? 503 : 200,
      body: {
        ok: !s.draining(),
        instance: s.instanceId,
        bus: s.bus.kind,
        draining: s.draining(),
        connections: s.connections(),
        rooms: s.rooms(),
        uptimeSeconds: Math.round((Date.now() - s.startedAt()) / 1000),
      },
    }),
    metrics: () => s.prometheus(),
    elsewhere: (res) => {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket', connection: 'Upgrade' });
      res.end('this port speaks WebSocket; the session endpoints are on the HTTP port\n');
    },
  })
    .mount({
      paths: ['/rooms', '/rooms/'],
      label: '/rooms',
      admin: true,
      ...(locked ? { lockedWithoutToken: locked } : {}),
      query: { limit: { min: 1, max: 10_000 } },
      handle: ({ query }, reply) =>
        s.bus.listRooms(query.limit ?? 1000).then(
          ({ rooms, total }) => reply.json(200, { rooms, total, truncated: rooms.length < total }),
          (err) => reply.fail(503, 'BUS', toRtcprobeError(err).message),
        ),
    })
    .mount({
      prefix: '/rooms/',
      label: '/rooms/:id',
      admin: true,
      ...(locked ? { lockedWithoutToken: locked } : {}),
      query: {},
      handle: ({ rest }, reply) => {
        let id: string;
        try {
          id = decodeURIComponent(rest);
        } catch {
          reply.fail(400, 'BAD_ROOM', 'bad room id encoding');
          return;
        }
        return s.bus.getRoom(id).then(
          (peers) => {
            if (!peers) reply.fail(404, 'NO_SUCH_ROOM', 'no such room');
            else reply.json(200, { id, peers: peers.map((p) => ({ peerId: p.peerId, instance: p.instance, joinedAt: new Date(p.joinedAt).toISOString(), ...(p.meta ? { meta: p.meta } : {}) })) });
          },
          (err) => reply.fail(503, 'BUS', toRtcprobeError(err).message),
        );
      },
    });
}
