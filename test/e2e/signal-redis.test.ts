import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/system.js';
import { SignalClient } from '../../src/core/signaling/client.js';
import { RedisBus } from '../../src/core/signaling/redis-bus.js';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { startRedis } from '../helpers/signal.js';

describeWith({ commands: ['redis-server'] }, 'signal relay: two instances over Redis', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  const relays: SignalRelay[] = [];
  const clients: SignalClient[] = [];

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await Promise.all(relays.splice(0).map((r) => r.close()));
  });
  afterAll(async () => {
    await redis?.stop();
  });

  async function relay(instanceId: string, limits = {}, prefix = 'test1:') {
    const r = new SignalRelay({
      host: '127.0.0.1',
      port: 0,
      instanceId,
      limits,
      bus: new RedisBus({ url: redis.url, instanceId, presenceTtlMs: 2000, prefix }),
    });
    relays.push(r);
    await r.listen();
    return r;
  }

  function client(r: SignalRelay, room: string, peerId: string, meta?: Record<string, unknown>) {
    const c = new SignalClient({ url: r.addresses!.ws, room, peerId, reconnect: false, ...(meta ? { meta } : {}) });
    clients.push(c);
    return c;
  }

  it('a peer on instance A and a peer on instance B share a room, signal and broadcast across', async () => {
    const a = await relay('inst-a');
    const b = await relay('inst-b');
    const alice = client(a, 'shared', 'alice', { side: 'a' });
    await alice.connect();
    const bob = client(b, 'shared', 'bob');
    const seen = alice.next('peer-joined');
    const jb = await bob.connect();
    expect(jb.peers).toEqual([{ peerId: 'alice', meta: { side: 'a' } }]);
    expect(await seen).toMatchObject({ peerId: 'bob' });

    const toBob = bob.next('signal');
    alice.signal('bob', { sdp: 'offer from A' });
    expect(await toBob).toEqual({ type: 'signal', from: 'alice', data: { sdp: 'offer from A' } });
    const toAlice = alice.next('signal');
    bob.signal('alice', { sdp: 'answer from B' });
    expect(await toAlice).toEqual({ type: 'signal', from: 'bob', data: { sdp: 'answer from B' } });

    const carol = client(a, 'shared', 'carol');
    const bobSeesCarol = bob.next('peer-joined', (m) => m.peerId === 'carol');
    await carol.connect();
    await bobSeesCarol;
    const b1 = bob.next('broadcast');
    const b2 = alice.next('broadcast');
    carol.broadcast('hello everyone');
    expect(await b1).toEqual({ type: 'broadcast', from: 'carol', data: 'hello everyone' });
    expect(await b2).toEqual({ type: 'broadcast', from: 'carol', data: 'hello everyone' });

    // The session servers of both instances show the same room.
    for (const r of [a, b]) {
      const room = (await (await fetch(new URL('/rooms/shared', r.addresses!.http))).json()) as { peers: { peerId: string; instance: string }[] };
      expect(room.peers.map((p) => `${p.peerId}@${p.instance}`).sort()).toEqual(['alice@inst-a', 'bob@inst-b', 'carol@inst-a']);
      const rooms = (await (await fetch(new URL('/rooms', r.addresses!.http))).json()) as { rooms: unknown[] };
      expect(rooms.rooms).toEqual([{ id: 'shared', peers: 3 }]);
    }
    const metrics = await (await fetch(new URL('/metrics', b.addresses!.http))).text();
    expect(metrics).toMatch(/rtcprobe_signal_bus_received_total\{instance_id="inst-b"\} [1-9]/);

    const left = alice.next('peer-left');
    await bob.close();
    expect(await left).toEqual({ type: 'peer-left', room: 'shared', peerId: 'bob' });
  });

  it('enforces room limits and unique peer ids across instances', async () => {
    const a = await relay('lim-a', { maxPeersPerRoom: 2 }, 'test2:');
    const b = await relay('lim-b', { maxPeersPerRoom: 2 }, 'test2:');
    await client(a, 'small', 'p1').connect();
    await expect(client(b, 'small', 'p1').connect()).rejects.toMatchObject({ code: 'SIGNAL_REJECTED', wireCode: 'PEER_ID_TAKEN' });
    await client(b, 'small', 'p2').connect();
    await expect(client(a, 'small', 'p3').connect()).rejects.toMatchObject({ wireCode: 'ROOM_FULL' });
    const signalTo = client(b, 'other', 'p4');
    await signalTo.connect();
    const err = signalTo.next('error');
    signalTo.signal('p1', 'not in my room');
    expect(await err).toMatchObject({ code: 'UNKNOWN_PEER' });
  });

  it('peers of an instance that closes gracefully leave the rooms at once', async () => {
    const a = await relay('gr-a', {}, 'test3:');
    const b = await relay('gr-b', {}, 'test3:');
    const x = client(a, 'g', 'x');
    await x.connect();
    await client(b, 'g', 'y').connect();
    const left = x.next('peer-left');
    await b.close();
    expect(await left).toMatchObject({ peerId: 'y' });
    const room = (await (await fetch(new URL('/rooms/g', a.addresses!.http))).json()) as { peers: { peerId: string }[] };
    expect(room.peers.map((p) => p.peerId)).toEqual(['x']);
  });

  it('the reaper removes the peers of an instance whose heartbeat expired', async () => {
    const a = await relay('reap-a', {}, 'test4:');
    // A "crashed" instance: its presence is in Redis but it never refreshes it.
    const ghost = new RedisBus({ url: redis.url, instanceId: 'reap-ghost', presenceTtlMs: 600, prefix: 'test4:' });
    await ghost.start();
    const rec = { peerId: 'ghost-peer', instance: 'reap-ghost', joinedAt: Date.now() };
    expect((await ghost.join('haunted', rec, { maxPeersPerRoom: 10, maxRooms: 10 })).ok).toBe(true);
    // Stop its timers and connections without withdrawing presence, as a crash would.
    const g = ghost as unknown as { heartbeat: NodeJS.Timeout; reaper: NodeJS.Timeout; cmd: { disconnect(): void }; sub: { disconnect(): void } };
    clearInterval(g.heartbeat);
    clearInterval(g.reaper);
    g.cmd.disconnect();
    g.sub.disconnect();
    const w = client(a, 'haunted', 'watcher');
    const j = await w.connect();
    expect(j.peers).toEqual([{ peerId: 'ghost-peer' }]);
    const left = await w.next('peer-left', undefined, 15_000);
    expect(left).toMatchObject({ peerId: 'ghost-peer' });
    const room = (await (await fetch(new URL('/rooms/haunted', a.addresses!.http))).json()) as { peers: { peerId: string }[] };
    expect(room.peers.map((p) => p.peerId)).toEqual(['watcher']);
  });

  it('skips and counts presence records and events in Redis that do not validate', async () => {
    const a = await relay('val-a', {}, 'test5:');
    const direct = new Redis(redis.url, { lazyConnect: true });
    await direct.connect();
    try {
      const good = { peerId: 'other-peer', instance: 'inst-z', joinedAt: 1_700_000_000_000, meta: { ok: true } };
      await direct.hset('test5:room:bad', {
        'other-peer': JSON.stringify(good),
        'not-json': '{"peerId":',
        'wrong-types': JSON.stringify({ peerId: 'wrong-types', instance: 'inst-z', joinedAt: 'yesterday' }),
        'not-its-field': JSON.stringify({ ...good, peerId: 'someone-else' }),
      });
      await direct.sadd('test5:rooms', 'bad');
      const me = client(a, 'bad', 'me');
      const joined = await me.connect();
      expect(joined.peers).toEqual([{ peerId: 'other-peer', meta: { ok: true } }]);
      const malformed = async () => Number(/rtcprobe_signal_bus_malformed_total\{instance_id="val-a"\} (\d+)/.exec(await (await fetch(new URL('/metrics', a.addresses!.http))).text())?.[1]);
      expect(await malformed()).toBe(3);
      // Two bad events and a good one in one message: the good one still arrives.
      const late = me.next('peer-joined');
      const lateRec = { peerId: 'late', instance: 'inst-z', joinedAt: Date.now() };
      await direct.publish('test5:ch:room:bad', ['not json', JSON.stringify({ k: 'j', r: 'bad', p: { peerId: 'x' }, s: 'inst-z' }), JSON.stringify({ k: 'j', r: 'bad', p: lateRec, s: 'inst-z' })].join('\n'));
      expect(await late).toEqual({ type: 'peer-joined', room: 'bad', peerId: 'late' });
      expect(await malformed()).toBe(5);
      const room = (await (await fetch(new URL('/rooms/bad', a.addresses!.http))).json()) as { peers: { peerId: string }[] };
      expect(room.peers.map((p) => p.peerId).sort()).toEqual(['me', 'other-peer']);
      expect(await malformed()).toBe(8);
    } finally {
      direct.disconnect();
    }
  });

  it('keeps local peers talking when Redis goes away, refuses joins with INTERNAL, and still shuts down promptly', async () => {
    const own = await startRedis();
    const r = new SignalRelay({ host: '127.0.0.1', port: 0, instanceId: 'lost-a', bus: new RedisBus({ url: own.url, instanceId: 'lost-a', presenceTtlMs: 2000 }) });
    relays.push(r);
    const addr = await r.listen();
    const a = new SignalClient({ url: addr.ws, room: 'x', peerId: 'a', reconnect: false });
    const b = new SignalClient({ url: addr.ws, room: 'x', peerId: 'b', reconnect: false });
    clients.push(a, b);
    await a.connect();
    await b.connect();
    await own.stop();
    const got = b.next('signal');
    a.signal('b', 'no redis needed');
    expect(await got).toMatchObject({ from: 'a', data: 'no redis needed' });
    const c = new SignalClient({ url: addr.ws, room: 'y', peerId: 'c', reconnect: false, timeoutMs: 20_000 });
    clients.push(c);
    await expect(c.connect()).rejects.toMatchObject({ code: 'SIGNAL_REJECTED', wireCode: 'INTERNAL' });
    const t0 = Date.now();
    const report = await r.close('test');
    expect(report).toMatchObject({ peersNotified: 2, forced: 0 });
    // Not held up by Redis retries (it took ~9 s before the bounded withdrawal).
    expect(Date.now() - t0).toBeLessThan(7000);
  });
});
