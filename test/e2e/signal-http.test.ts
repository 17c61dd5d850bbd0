import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SignalClient } from '../../src/core/signaling/client.js';
import { HTTP_ERRORS, WIRE_ERRORS } from '../../src/core/signaling/protocol.js';
import { SignalRelay, type RelayOptions } from '../../src/core/signaling/server.js';
import { mintToken } from '../../src/core/signaling/token.js';
import { ROOT } from '../helpers/cli.js';
import { describeWith } from '../helpers/system.js';
import { makeTestCert, type TestCert } from '../helpers/tls.js';
import { rawPeer } from '../helpers/signal.js';

const relays: SignalRelay[] = [];
const clients: SignalClient[] = [];

async function startRelay(opts: RelayOptions = {}) {
  const relay = new SignalRelay({ host: '127.0.0.1', port: 0, ...opts });
  relays.push(relay);
  const addr = await relay.listen();
  return { relay, addr };
}

function client(opts: ConstructorParameters<typeof SignalClient>[0]) {
  const c = new SignalClient({ reconnect: false, ...opts });
  clients.push(c);
  return c;
}

async function get(base: string, path: string, init: RequestInit = {}) {
  const res = await fetch(new URL(path, base), init);
  const type = res.headers.get('content-type') ?? '';
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: type.startsWith('application/json') && text ? (JSON.parse(text) as unknown) : text };
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await Promise.all(relays.splice(0).map((r) => r.close('test end')));
});

describe('signal relay HTTP: query parameters and methods', () => {
  it('answers a bad /rooms limit, a repeated one or an unknown parameter with 400 BAD_QUERY', async () => {
    const { addr } = await startRelay();
    for (const q of ['limit=-1', 'limit=0', 'limit=abc', 'limit=1.5', 'limit=10001', 'limit=', 'limit=1&limit=2', 'limti=5']) {
      const r = await get(addr.http, `/rooms?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body, q).toEqual({ error: { code: 'BAD_QUERY', message: expect.any(String) } });
    }
    expect((await get(addr.http, '/rooms/x?verbose=1')).status).toBe(400);
    for (const q of ['limit=1', 'limit=10000', '']) {
      const r = await get(addr.http, `/rooms?${q}`);
      expect(r.status, q).toBe(200);
      expect(r.body, q).toEqual({ rooms: [], total: 0, truncated: false });
    }
  });

  it('honours a valid limit', async () => {
    const { addr } = await startRelay();
    for (const room of ['r1', 'r2', 'r3']) await client({ url: addr.ws, room }).connect();
    const r = await get(addr.http, '/rooms?limit=2');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ rooms: [{ id: expect.any(String), peers: 1 }, { id: expect.any(String), peers: 1 }], total: 3, truncated: true });
  });

  it('405 answers carry an Allow header on every endpoint', async () => {
    const { addr } = await startRelay({ httpPort: 0 });
    for (const [base, path] of [[addr.http, '/rooms'], [addr.http, '/healthz'], [addr.http, '/metrics'], [addr.http, '/rooms/x'], [`http://127.0.0.1:${addr.port}/`, '/healthz']] as const) {
      for (const method of ['POST', 'PUT', 'DELETE']) {
        const r = await get(base, path, { method });
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers.get('allow'), `${method} ${path}`).toBe('GET, HEAD');
        expect(r.body).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });
      }
    }
  });
});

describe('signal relay HTTP: room listings and the admin token', () => {
  const secret = 'join-secret-0123456789abcdef-0123456789';
  const adminToken = 'admin-token-0123456789abcdef';

  it('with --secret and no admin token, /rooms and /rooms/:id are refused (401); /healthz and /metrics stay open', async () => {
    const { addr } = await startRelay({ secret });
    const c = client({ url: addr.ws, room: 'secret-room', token: mintToken(secret, { room: 'secret-room', identity: 'alice', ttlSeconds: 60 }) });
    await c.connect();
    for (const path of ['/rooms', '/rooms/secret-room']) {
      const r = await get(addr.http, path);
      expect(r.status, path).toBe(401);
      expect(r.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      expect(JSON.stringify(r.body)).not.toContain('secret-room');
      expect(JSON.stringify(r.body)).not.toContain('alice');
    }
    expect((await get(addr.http, '/healthz')).status).toBe(200);
    const metrics = await get(addr.http, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).not.toContain('secret-room');
  });

  it('with an admin token: 401 without or with a wrong bearer token, 200 with the right one', async () => {
    const { addr } = await startRelay({ secret, adminToken });
    await client({ url: addr.ws, room: 'r', token: mintToken(secret, { room: 'r', identity: 'bob', ttlSeconds: 60 }) }).connect();
    for (const path of ['/rooms', '/rooms/r', '/metrics']) {
      for (const auth of [undefined, 'Bearer wrong', `Basic ${adminToken}`, `Bearer ${adminToken}x`, 'Bearer ']) {
        const r = await get(addr.http, path, auth ? { headers: { authorization: auth } } : {});
        expect(r.status, `${path} ${auth}`).toBe(401);
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="rtcprobe-signal"/);
        expect(r.body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
      }
      const ok = await get(addr.http, path, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(ok.status, path).toBe(200);
    }
    const rooms = await get(addr.http, '/rooms', { headers: { authorization: `bearer ${adminToken}` } });
    expect(rooms.body).toEqual({ rooms: [{ id: 'r', peers: 1 }], total: 1, truncated: false });
    expect((await get(addr.http, '/healthz')).status).toBe(200);
  });

  it('an admin token also protects a relay without join auth', async () => {
    const { addr } = await startRelay({ adminToken });
    expect((await get(addr.http, '/rooms')).status).toBe(401);
    expect((await get(addr.http, '/rooms', { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
  });

  it('a separate HTTP listener can bind its own address', async () => {
    const { addr } = await startRelay({ host: '127.0.0.1', httpPort: 0, httpHost: '127.0.0.2' });
    expect(addr.http).toBe(`http://127.0.0.2:${addr.httpPort}/`);
    expect((await get(addr.http, '/rooms')).status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${addr.httpPort}/rooms`)).rejects.toMatchObject({ cause: { code: 'ECONNREFUSED' } });
  });
});

describeWith({ commands: ['openssl'] }, 'signal relay over TLS (wss:// and https://)', () => {
  let cert: TestCert;
  beforeAll(() => {
    cert = makeTestCert('IP:127.0.0.1,DNS:localhost');
  });
  afterAll(() => cert?.remove());

  it('serves wss:// and https://, and the client trusts the certificate through ca', async () => {
    const tls = { cert: readFileSync(cert.cert), key: readFileSync(cert.key) };
    const { addr } = await startRelay({ tls, httpPort: 0 });
    expect(addr.ws).toBe(`wss://127.0.0.1:${addr.port}/`);
    expect(addr.http).toBe(`https://127.0.0.1:${addr.httpPort}/`);
    const ca = readFileSync(cert.cert);
    const a = client({ url: addr.ws, room: 'tls', peerId: 'a', ca });
    const b = client({ url: addr.ws, room: 'tls', peerId: 'b', ca });
    await a.connect();
    expect((await b.connect()).peers).toEqual([{ peerId: 'a' }]);
    const got = a.next('signal');
    b.signal('a', { sdp: 'over tls' });
    expect(await got).toMatchObject({ from: 'b', data: { sdp: 'over tls' } });
    // Without the CA the handshake fails with a TLS error, not a generic one.
    await expect(client({ url: addr.ws, room: 'tls' }).connect()).rejects.toMatchObject({ code: 'TLS' });
    // Plain ws:// to the TLS port does not get a WebSocket.
    await expect(rawPeer(`ws://127.0.0.1:${addr.port}/`)).rejects.toThrow();
    // The HTTP endpoints speak https (checked with node:https and the same CA).
    const https = await import('node:https');
    const status = await new Promise<number>((resolve, reject) => {
      https.get(new URL('/healthz', addr.http), { ca }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(status).toBe(200);
  });
});

describe('signal relay documentation', () => {
  it('the documentation (docs/signaling-protocol.md) lists every wire and HTTP error code', () => {
    const doc = readFileSync(`${ROOT}/docs/signaling-protocol.md`, 'utf8');
    for (const code of [...Object.keys(WIRE_ERRORS), ...Object.keys(HTTP_ERRORS)]) expect(doc, code).toContain(`\`${code}\``);
  });
});

describe('HTTP router and listeners: reusable by another server', () => {
  it('serve a server of its own routes with the same health, metrics, admin, query and method handling', async () => {
    const { AdminToken } = await import('../../src/core/signaling/auth.js');
    const { HttpRouter } = await import('../../src/core/signaling/http.js');
    const { Listeners } = await import('../../src/core/signaling/lifecycle.js');
    const { MetricsRegistry } = await import('../../src/core/signaling/metrics.js');
    const reg = new MetricsRegistry({ instance_id: 'other-1' });
    const hits = reg.labelledCounter('other_hits_total', 'Hits, by route.', 'route');
    const router = new HttpRouter({
      realm: 'other',
      adminToken: new AdminToken('other-admin-token'),
      health: () => ({ status: 200, body: { ok: true, kind: 'other' } }),
      metrics: () => reg.expose(),
    }).mount({
      prefix: '/tracks/',
      label: '/tracks/:id',
      query: { layers: { min: 1, max: 3 } },
      handle: ({ rest, query }, reply) => {
        hits.inc('tracks');
        reply.json(200, { id: rest, layers: query.layers ?? 1 });
      },
    });
    const listeners = await Listeners.open({
      host: '127.0.0.1',
      port: 0,
      onRequest: (req, res, full) => router.handle(req, res, full),
      onUpgrade: (_req, socket) => socket.destroy(),
    });
    try {
      const base = listeners.addresses.http;
      expect(await get(base, '/healthz')).toMatchObject({ status: 200, body: { ok: true, kind: 'other' } });
      expect(await get(base, '/tracks/t1?layers=2')).toMatchObject({ status: 200, body: { id: 't1', layers: 2 } });
      expect(await get(base, '/tracks/t1?layers=9')).toMatchObject({ status: 400, body: { error: { code: 'BAD_QUERY' } } });
      expect(await get(base, '/nothing')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND', message: 'try /healthz, /tracks/:id, /metrics' } } });
      const post = await get(base, '/tracks/t1', { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.get('allow')).toBe('GET, HEAD');
      const anon = await get(base, '/metrics');
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toBe('Bearer realm="other"');
      const metrics = await get(base, '/metrics', { headers: { authorization: 'Bearer other-admin-token' } });
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('other_hits_total{instance_id="other-1",route="tracks"} 1');
    } finally {
      await listeners.stop();
    }
  });
});
