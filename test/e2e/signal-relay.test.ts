import net from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SignalClient } from '../../src/core/signaling/client.js';
import { SignalRelay, type RelayOptions } from '../../src/core/signaling/server.js';
import { mintToken } from '../../src/core/signaling/token.js';
import { rawPeer, until, type RawPeer } from '../helpers/signal.js';

const relays: SignalRelay[] = [];
const clients: SignalClient[] = [];
const raws: RawPeer[] = [];

async function startRelay(opts: RelayOptions = {}) {
  const relay = new SignalRelay({ host: '127.0.0.1', port: 0, ...opts });
  relays.push(relay);
  const addr = await relay.listen();
  return { relay, addr, url: addr.ws };
}

async function raw(url: string, opts = {}) {
  const p = await rawPeer(url, opts);
  raws.push(p);
  return p;
}

function client(url: string, room: string, extra: Partial<ConstructorParameters<typeof SignalClient>[0]> = {}) {
  const c = new SignalClient({ url, room, reconnect: false, ...extra });
  clients.push(c);
  return c;
}

async function joinRaw(url: string, room: string, peerId?: string) {
  const p = await raw(url);
  p.send({ type: 'join', room, ...(peerId ? { peerId } : {}) });
  const j = await p.next();
  expect(j.type).toBe('joined');
  return p;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const r of raws.splice(0)) r.ws.terminate();
  await Promise.all(relays.splice(0).map((r) => r.close('test end')));
});
afterAll(async () => {
  await Promise.all(relays.map((r) => r.close()));
});

describe('signal relay: protocol end to end', () => {
  it('joins, lists peers, relays signal and broadcast, answers ping, announces leaves', async () => {
    const { url } = await startRelay();
    const alice = client(url, 'room-1', { peerId: 'alice', meta: { name: 'Alice' } });
    const j1 = await alice.connect();
    expect(j1).toMatchObject({ type: 'joined', v: 1, room: 'room-1', peerId: 'alice', peers: [] });
    expect(j1.iceServers).toBeUndefined();

    const bob = client(url, 'room-1');
    const seen = alice.next('peer-joined');
    const j2 = await bob.connect();
    expect(j2.peerId).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(j2.peers).toEqual([{ peerId: 'alice', meta: { name: 'Alice' } }]);
    expect(await seen).toEqual({ type: 'peer-joined', room: 'room-1', peerId: j2.peerId });

    const got = bob.next('signal');
    alice.signal(j2.peerId, { sdp: 'v=0 offer', kind: 'offer' });
    expect(await got).toEqual({ type: 'signal', from: 'alice', data: { sdp: 'v=0 offer', kind: 'offer' } });

    const back = alice.next('signal');
    bob.signal('alice', { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host' });
    expect((await back).from).toBe(j2.peerId);

    const carol = client(url, 'room-1', { peerId: 'carol' });
    await carol.connect();
    const b1 = alice.next('broadcast');
    const b2 = bob.next('broadcast');
    carol.broadcast({ hello: 'all' });
    expect(await b1).toEqual({ type: 'broadcast', from: 'carol', data: { hello: 'all' } });
    expect(await b2).toEqual({ type: 'broadcast', from: 'carol', data: { hello: 'all' } });

    // The pong carries back the ping's own timestamp: a measured round trip, under the 2 s the ping waits.
    const rtt = await alice.ping(2000);
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeLessThan(2000);

    // An explicit leave and a closed connection both reach the others.
    const left1 = alice.next('peer-left', (m) => m.peerId === 'carol');
    await carol.leave();
    expect(await left1).toEqual({ type: 'peer-left', room: 'room-1', peerId: 'carol' });
    const left2 = alice.next('peer-left');
    await bob.close();
    expect((await left2).peerId).toBe(j2.peerId);
    expect([...alice.peers.keys()]).toEqual([]);
  });

  it('keeps rooms apart', async () => {
    const { url } = await startRelay();
    const a = client(url, 'r-a', { peerId: 'same' });
    const b = client(url, 'r-b', { peerId: 'same' });
    expect((await a.connect()).peers).toEqual([]);
    expect((await b.connect()).peers).toEqual([]);
    const err = a.next('error');
    a.broadcast('x');
    a.signal('other', 1);
    expect(await err).toMatchObject({ code: 'UNKNOWN_PEER', ref: 'signal' });
  });

  it('hands out TURN REST credentials and extra ICE servers in joined', async () => {
    const { url } = await startRelay({ turn: { uris: ['turn:127.0.0.1:3478?transport=udp'], secret: 'turn-secret', ttlSeconds: 600 }, iceServers: [{ urls: ['stun:127.0.0.1:3478'] }] });
    const c = client(url, 'r', { peerId: 'p1' });
    const j = await c.connect();
    expect(j.iceServers).toHaveLength(2);
    expect(j.iceServers![0]).toEqual({ urls: ['stun:127.0.0.1:3478'] });
    const turn = j.iceServers![1]!;
    expect(turn.urls).toEqual(['turn:127.0.0.1:3478?transport=udp']);
    const [expiry, peer] = turn.username!.split(':');
    expect(peer).toBe('p1');
    expect(Number(expiry) - Date.now() / 1000).toBeGreaterThan(590);
    const { createHmac } = await import('node:crypto');
    expect(turn.credential).toBe(createHmac('sha1', 'turn-secret').update(turn.username!).digest('base64'));
  });
});

describe('signal relay: bad input gets an error code, abuse gets closed', () => {
  it('answers malformed JSON, unknown types, missing fields, binary frames and a bad version, and keeps the connection', async () => {
    const { url, relay } = await startRelay();
    const p = await raw(url);
    const cases: [unknown, string][] = [
      ['{"type": "join", ', 'BAD_JSON'],
      ['[]', 'BAD_MESSAGE'],
      [{ type: 'teleport' }, 'UNKNOWN_TYPE'],
      [{ type: 'join' }, 'BAD_FIELD'],
      [{ type: 'join', room: 'r', peerId: 'has space' }, 'BAD_FIELD'],
      [{ type: 'signal', to: 'x' }, 'BAD_FIELD'],
      [{ type: 'ping', ts: 'soon' }, 'BAD_FIELD'],
      [{ type: 'leave', v: 9 }, 'BAD_VERSION'],
      [Buffer.from([1, 2, 3]), 'BAD_FRAME'],
      [{ type: 'signal', to: 'x', data: 1 }, 'NOT_JOINED'],
      [{ type: 'broadcast', data: 1 }, 'NOT_JOINED'],
      [{ type: 'leave' }, 'NOT_JOINED'],
    ];
    for (const [frame, code] of cases) {
      p.send(frame);
      const m = await p.next();
      expect(m.type, JSON.stringify(frame)).toBe('error');
      if (m.type !== 'error') continue;
      expect(m.code, JSON.stringify(frame)).toBe(code);
      expect(typeof m.message).toBe('string');
    }
    p.send({ type: 'join', room: 'r', peerId: 'me' });
    expect(await p.next()).toMatchObject({ type: 'joined', peerId: 'me' });
    p.send({ type: 'join', room: 'r2' });
    expect(await p.next()).toMatchObject({ type: 'error', code: 'ALREADY_JOINED' });
    p.send({ type: 'signal', to: 'nobody', data: {} });
    expect(await p.next()).toMatchObject({ type: 'error', code: 'UNKNOWN_PEER', ref: 'signal' });
    // A signal to oneself has its own code and message, not "no peer ... in the room".
    p.send({ type: 'signal', to: 'me', data: {} });
    const self = await p.nextError();
    expect(self).toMatchObject({ type: 'error', code: 'SIGNAL_TO_SELF', ref: 'signal' });
    expect(self.message).not.toMatch(/no peer/);
    expect(p.ws.readyState).toBe(p.ws.OPEN);
    const text = relay.prometheus();
    expect(text).toMatch(/rtcprobe_signal_errors_total\{instance_id="[^"]+",code="BAD_JSON"\} 1/);
    expect(text).toMatch(/code="UNKNOWN_PEER"\} 1/);
    expect(text).toMatch(/code="SIGNAL_TO_SELF"\} 1/);
  });

  it('refuses a second peer with the same id in a room', async () => {
    const { url } = await startRelay();
    await joinRaw(url, 'r', 'dup');
    const p = await raw(url);
    p.send({ type: 'join', room: 'r', peerId: 'dup' });
    expect(await p.next()).toMatchObject({ type: 'error', code: 'PEER_ID_TAKEN' });
  });

  it('answers an oversize frame with TOO_LARGE and closes 1009; a huge one is cut with 1009', async () => {
    const { url } = await startRelay({ limits: { maxMessageBytes: 1024 } });
    const p = await joinRaw(url, 'r', 'big');
    p.send({ type: 'broadcast', data: 'x'.repeat(1500) });
    expect(await p.next()).toMatchObject({ type: 'error', code: 'TOO_LARGE' });
    expect((await p.closed).code).toBe(1009);

    const q = await raw(url);
    q.send('y'.repeat(1024 * 1024));
    expect((await q.closed).code).toBe(1009);
  });

  it('rate-limits a flood with RATE_LIMITED and closes the flooder with 1008, others unaffected', async () => {
    const { url } = await startRelay({ limits: { messagesPerSecond: 10, messageBurst: 10, maxStrikes: 5 } });
    const calm = client(url, 'r', { peerId: 'calm' });
    await calm.connect();
    const flood = await joinRaw(url, 'r', 'flood');
    for (let i = 0; i < 200; i++) flood.send({ type: 'ping', ts: i });
    const closed = await flood.closed;
    expect(closed.code).toBe(1008);
    const codes = flood.messages.filter((m) => m.type === 'error').map((m) => m.code);
    expect(codes.length).toBeGreaterThanOrEqual(1);
    expect(new Set(codes)).toEqual(new Set(['RATE_LIMITED']));
    const pongs = flood.messages.filter((m) => m.type === 'pong').length;
    expect(pongs).toBeGreaterThanOrEqual(9); // the burst, less the token the join used
    expect(pongs).toBeLessThan(200);
    // The flood did not reach the calm peer's connection: it still gets its pong.
    await expect(calm.ping(2000)).resolves.toBeGreaterThan(0);
    expect(calm.connected).toBe(true);
  });

  it('lets protocol-error strikes fade at one per second', async () => {
    // The relay's limits read this clock: 2.3 s pass without waiting for them.
    let now = 1_000;
    const { url } = await startRelay({ limits: { maxStrikes: 2 }, clock: () => now });
    const p = await raw(url);
    p.send('not json');
    p.send('not json');
    expect((await p.nextError()).code).toBe('BAD_JSON');
    expect((await p.nextError()).code).toBe('BAD_JSON');
    // Two strikes, at the limit but not over it. Once they have faded, two more are tolerated...
    now += 2_300;
    p.send('not json');
    p.send('not json');
    expect((await p.nextError()).code).toBe('BAD_JSON');
    expect((await p.nextError()).code).toBe('BAD_JSON');
    expect(p.ws.readyState).toBe(p.ws.OPEN);
    // ...and a third in a row is one too many.
    p.send('not json');
    expect((await p.nextError()).code).toBe('BAD_JSON');
    expect((await p.closed).code).toBe(1008);
  });

  it('drops a peer that does not read its messages with close 1013, others unaffected', async () => {
    const { url, relay } = await startRelay({ limits: { maxBufferedBytes: 64 * 1024, messagesPerSecond: 100_000, messageBurst: 100_000 } });
    const slow = await joinRaw(url, 'r', 'slow');
    slow.ws.pause(); // stops reading: the relay's queue towards it grows
    const fast = client(url, 'r', { peerId: 'fast' });
    await fast.connect();
    const chunk = 'x'.repeat(60 * 1024);
    for (let i = 0; i < 400 && !relay.counters.closes['1013']; i++) {
      fast.broadcast(chunk);
      if (i % 20 === 19) await fast.ping(); // let the relay work through the queue
    }
    await until(() => relay.counters.closes['1013'] === 1, 20_000, 'the slow peer to be dropped');
    // The fast peer was not dropped with the slow one: it still gets its pong.
    await expect(fast.ping(2000)).resolves.toBeGreaterThan(0);
    expect(relay.counters.closes['1013']).toBe(1);
    await until(() => relay.connectionCount === 1, 10_000, 'the slow connection to go');
  });

  it('refuses a join to a full room and beyond the room limit', async () => {
    const { url } = await startRelay({ limits: { maxPeersPerRoom: 2, maxRooms: 2 } });
    await joinRaw(url, 'full', 'a');
    await joinRaw(url, 'full', 'b');
    const c = await raw(url);
    c.send({ type: 'join', room: 'full', peerId: 'c' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'ROOM_FULL', ref: 'join' });
    await joinRaw(url, 'second', 'd');
    c.send({ type: 'join', room: 'third', peerId: 'c' });
    expect(await c.next()).toMatchObject({ type: 'error', code: 'TOO_MANY_ROOMS' });
    // The refused connection may still join a room with space.
    c.send({ type: 'join', room: 'second', peerId: 'c' });
    expect(await c.next()).toMatchObject({ type: 'joined', peers: [{ peerId: 'd' }] });
  });

  it('refuses connections over the limit with SERVER_FULL and close 1013', async () => {
    const { url } = await startRelay({ limits: { maxConnections: 2 } });
    await raw(url);
    await raw(url);
    const third = await raw(url);
    expect(await third.next()).toMatchObject({ type: 'error', code: 'SERVER_FULL' });
    expect((await third.closed).code).toBe(1013);
  });

  it('closes a connection that does not join in time with JOIN_TIMEOUT and 1008', async () => {
    const { url } = await startRelay({ limits: { joinTimeoutMs: 300 } });
    const p = await raw(url);
    expect(await p.next()).toMatchObject({ type: 'error', code: 'JOIN_TIMEOUT' });
    expect((await p.closed).code).toBe(1008);
  });

  it('terminates a connection that stops answering heartbeats', async () => {
    const { relay, addr } = await startRelay({ limits: { heartbeatMs: 150, joinTimeoutMs: 60_000 } });
    // A hand-made upgrade on a raw socket that never answers a ping frame with a pong.
    const sock = net.connect(addr.port, '127.0.0.1');
    await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
    sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    sock.on('data', () => {});
    sock.on('error', () => {});
    const closedByRelay = new Promise<void>((resolve) => sock.once('close', () => resolve()));
    await until(() => relay.connectionCount === 1, 10_000, 'the connection');
    await until(() => relay.counters.terminatedDead === 1 && relay.connectionCount === 0, 10_000, 'termination');
    // The relay, not the test, closed the TCP connection; it counted one dead peer.
    await closedByRelay;
    expect(relay.counters.terminatedDead).toBe(1);
    expect(relay.connectionCount).toBe(0);
  });
});

describe('signal relay: auth and Origin', () => {
  const secret = 'relay-secret-1';

  it('requires a valid token whose room and identity match', async () => {
    const { url } = await startRelay({ secret });
    const p = await raw(url);
    const attempts: [Record<string, unknown>, string][] = [
      [{ type: 'join', room: 'r' }, 'AUTH_REQUIRED'],
      [{ type: 'join', room: 'r', token: 'not.a.jwt' }, 'AUTH_INVALID'],
      [{ type: 'join', room: 'r', token: mintToken('wrong', { room: 'r', identity: 'alice', ttlSeconds: 60 }) }, 'AUTH_INVALID'],
      [{ type: 'join', room: 'r', token: mintToken(secret, { room: 'r', identity: 'alice', ttlSeconds: -1 }) }, 'AUTH_EXPIRED'],
      [{ type: 'join', room: 'r', token: mintToken(secret, { room: 'other', identity: 'alice', ttlSeconds: 60 }) }, 'AUTH_MISMATCH'],
      [{ type: 'join', room: 'r', peerId: 'bob', token: mintToken(secret, { room: 'r', identity: 'alice', ttlSeconds: 60 }) }, 'AUTH_MISMATCH'],
    ];
    for (const [msg, code] of attempts) {
      p.send(msg);
      expect(await p.next(), code).toMatchObject({ type: 'error', code });
    }
    p.send({ type: 'join', room: 'r', token: mintToken(secret, { room: 'r', identity: 'alice', ttlSeconds: 60 }) });
    expect(await p.next()).toMatchObject({ type: 'joined', peerId: 'alice' });
  });

  it('the typed client reports a refused join as SIGNAL_REJECTED with the wire code', async () => {
    const { url } = await startRelay({ secret });
    const c = client(url, 'r');
    await expect(c.connect()).rejects.toMatchObject({ code: 'SIGNAL_REJECTED', wireCode: 'AUTH_REQUIRED' });
    const ok = client(url, 'r', { token: () => mintToken(secret, { room: 'r', identity: 'carol', ttlSeconds: 60 }) });
    expect((await ok.connect()).peerId).toBe('carol');
  });

  it('refuses an upgrade from an Origin not in the allowlist (or without one) with HTTP 403', async () => {
    const { url, relay } = await startRelay({ origins: ['https://app.example.com'] });
    await expect(rawPeer(url, { origin: 'https://evil.example.net' })).rejects.toThrow(/403/);
    await expect(rawPeer(url)).rejects.toThrow(/403/);
    const ok = client(url, 'r', { origin: 'https://APP.example.com/' });
    await expect(ok.connect()).resolves.toMatchObject({ type: 'joined' });
    const bad = client(url, 'r', { origin: 'http://app.example.com' });
    await expect(bad.connect()).rejects.toMatchObject({ code: 'CONNECTION', message: expect.stringMatching(/HTTP 403/) });
    expect(relay.counters.errors.ORIGIN_FORBIDDEN).toBe(3);
  });
});

describe('signal relay: HTTP session server', () => {
  async function get(base: string, path: string) {
    const res = await fetch(new URL(path, base));
    const type = res.headers.get('content-type') ?? '';
    return { status: res.status, type, body: type.startsWith('application/json') ? ((await res.json()) as unknown) : await res.text() };
  }

  it('serves /healthz, /rooms, /rooms/:id and /metrics on the channel port', async () => {
    const { url, addr } = await startRelay({ instanceId: 'relay-t1' });
    const a = client(url, 'lobby', { peerId: 'a', meta: { role: 'caller' } });
    const b = client(url, 'lobby', { peerId: 'b' });
    const c = client(url, 'room/2', { peerId: 'c' });
    await Promise.all([a.connect(), b.connect(), c.connect()]);
    await a.ping();
    const got = b.next('signal');
    a.signal('b', 'hi');
    await got;

    expect(await get(addr.http, '/healthz')).toMatchObject({ status: 200, body: { ok: true, instance: 'relay-t1', bus: 'memory', connections: 3, rooms: 2 } });
    const rooms = await get(addr.http, '/rooms');
    expect(rooms.status).toBe(200);
    expect(rooms.body).toEqual({ rooms: expect.arrayContaining([{ id: 'lobby', peers: 2 }, { id: 'room/2', peers: 1 }]), total: 2, truncated: false });
    const lobby = await get(addr.http, '/rooms/lobby');
    expect(lobby.status).toBe(200);
    const lobbyBody = lobby.body as { id: string; peers: unknown[] };
    expect(lobbyBody.id).toBe('lobby');
    expect(lobbyBody.peers).toEqual([
      { peerId: 'a', instance: 'relay-t1', joinedAt: expect.any(String), meta: { role: 'caller' } },
      { peerId: 'b', instance: 'relay-t1', joinedAt: expect.any(String) },
    ]);
    expect((await get(addr.http, `/rooms/${encodeURIComponent('room/2')}`)).body).toMatchObject({ id: 'room/2', peers: [{ peerId: expect.any(String) }] });
    expect((await get(addr.http, '/rooms/nope')).status).toBe(404);
    expect((await get(addr.http, '/nothing')).status).toBe(404);
    const metrics = await get(addr.http, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.type).toContain('text/plain');
    const body = metrics.body as string;
    expect(body).toContain('# TYPE rtcprobe_signal_connections gauge');
    expect(body).toContain('rtcprobe_signal_connections{instance_id="relay-t1"} 3');
    expect(body).toContain('rtcprobe_signal_rooms{instance_id="relay-t1"} 2');
    expect(body).toContain('rtcprobe_signal_messages_relayed_total{instance_id="relay-t1",type="signal"} 1');
    expect(body).toContain('rtcprobe_signal_messages_received_total{instance_id="relay-t1",type="ping"} 1');
    // Every sample line is "name{labels} number".
    for (const line of body.trim().split('\n')) if (!line.startsWith('#')) expect(line).toMatch(/^[a-z_]+\{[^}]*\} \d+$/);
    const post = await fetch(new URL('/rooms', addr.http), { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('can serve the session endpoints on a separate HTTP port', async () => {
    const { addr } = await startRelay({ httpPort: 0 });
    expect(addr.httpPort).not.toBe(addr.port);
    expect((await get(addr.http, '/rooms')).body).toEqual({ rooms: [], total: 0, truncated: false });
    const onChannel = await fetch(`http://127.0.0.1:${addr.port}/rooms`);
    expect(onChannel.status).toBe(426);
    expect((await fetch(`http://127.0.0.1:${addr.port}/healthz`)).status).toBe(200);
  });
});

describe('signal relay: shutdown and reconnection', () => {
  it('tells peers on graceful shutdown (SHUTTING_DOWN, close 1001) and stops accepting', async () => {
    const { relay, url } = await startRelay();
    const p = await joinRaw(url, 'r', 'x');
    const q = await joinRaw(url, 'r', 'y');
    const report = await relay.close('test');
    expect(report).toEqual({ reason: 'test', peersNotified: 2, forced: 0 });
    for (const peer of [p, q]) {
      expect(peer.messages.some((m) => m.type === 'error' && m.code === 'SHUTTING_DOWN')).toBe(true);
      expect((await peer.closed).code).toBe(1001);
    }
    // Closed means closed: nothing listens on the port any more.
    await expect(rawPeer(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('the client reconnects with backoff and rejoins its room under the same peerId', async () => {
    const first = await startRelay();
    const port = first.addr.port;
    const c = new SignalClient({ url: first.url, room: 'again', peerId: 'phoenix', reconnect: { minDelayMs: 50, maxDelayMs: 400 } });
    clients.push(c);
    await c.connect();
    const attempts: number[] = [];
    c.on('reconnecting', (r) => attempts.push(r.attempt));
    const rejoined = new Promise<{ peerId: string }>((resolve) => c.once('joined', resolve));
    await first.relay.close('restart');
    expect(c.connected).toBe(false);
    await until(() => attempts.length >= 2, 10_000, 'reconnect attempts');
    const second = new SignalRelay({ host: '127.0.0.1', port });
    relays.push(second);
    await second.listen();
    expect((await rejoined).peerId).toBe('phoenix');
    expect(c.connected).toBe(true);
    const other = client(second.addresses!.ws, 'again');
    expect((await other.connect()).peers).toEqual([{ peerId: 'phoenix' }]);
  });
});

/**
 * A TCP proxy in front of the relay that holds the relay's first `frames`
 * WebSocket frames after the upgrade and writes them to the client in one
 * write, as a busy client would read them in one chunk.
 */
async function coalescingProxy(port: number, frames: number) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    sockets.add(down).add(up);
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
    down.pipe(up);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    let passing = false;
    up.on('data', (chunk: Buffer) => {
      if (passing) return void down.write(chunk);
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        down.write(buf.subarray(0, end + 4));
        buf = buf.subarray(end + 4);
        upgraded = true;
      }
      // Count complete unmasked server frames (payloads under 64 KiB here).
      let off = 0;
      let n = 0;
      while (off + 2 <= buf.length) {
        let len = buf[off + 1]! & 0x7f;
        let head = 2;
        if (len === 126) {
          if (off + 4 > buf.length) break;
          len = buf.readUInt16BE(off + 2);
          head = 4;
        }
        if (off + head + len > buf.length) break;
        off += head + len;
        n++;
      }
      if (n >= frames) {
        passing = true;
        down.write(buf);
      }
    });
    up.on('close', () => down.destroy());
    down.on('close', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

describe('signal client: messages that arrive with joined', () => {
  it('a signal read in the same chunk as joined reaches handlers attached after connect() resolves', async () => {
    const { url, addr } = await startRelay();
    const alice = client(url, 'chunk', { peerId: 'alice' });
    await alice.connect();
    // alice answers bob's arrival at once; the proxy hands bob "joined" and that signal together.
    alice.on('peer-joined', (p) => alice.signal(p.peerId, { sdp: 'offer' }));
    const proxy = await coalescingProxy(addr.port, 2);
    try {
      const bob = client(proxy.url, 'chunk', { peerId: 'bob' });
      expect((await bob.connect()).peers).toEqual([{ peerId: 'alice' }]);
      expect(await bob.next('signal', undefined, 3000)).toEqual({ type: 'signal', from: 'alice', data: { sdp: 'offer' } });
    } finally {
      await proxy.close();
    }
  });
});
