/**
 * Scale-out over Redis: several relay instances serve the same rooms.
 *
 * Keys (all under the prefix, default "rtcprobe:signal:"):
 *   room:<room>      hash   peerId -> JSON PeerRecord     (the room's roster)
 *   rooms            set    room ids with at least one peer
 *   peers:<inst>     set    "<room>\n<peerId>" held by an instance
 *   alive:<inst>     string the instance's heartbeat, expires after the presence TTL
 *   instances        set    instance ids that registered
 * Channels:
 *   ch:room:<room>   peer-joined, peer-left, broadcast (instances with peers there subscribe)
 *   ch:inst:<inst>   signals to the peers of one instance
 *
 * Join, leave and reaping run as Lua scripts, so limits hold across instances.
 * Every instance refreshes its heartbeat every TTL/3 and, every TTL/2, reaps
 * instances whose heartbeat has expired: their peers are removed from the
 * rooms and a peer-left is published for each.
 */
import { Redis, type Result } from 'ioredis';
import { RtcprobeError } from '../errors.js';
import { maskUrlPassword as maskRedisUrl } from '../secrets.js';
import { parsePeerRecord, peerRecordFrom, type Bus, type BusEvent, type BusStats, type JoinOutcome, type PeerRecord, type RoomSummary } from './bus.js';
import { TurnBatcher } from './outbox.js';
import { jsonObject } from './protocol.js';

// The Lua scripts below, as ioredis commands. Their replies are `unknown`: they are checked, not trusted.
declare module 'ioredis' {
  interface RedisCommander<Context> {
    sigJoin(roomKey: string, roomsKey: string, peersKey: string, room: string, peerId: string, record: string, maxPeers: number, maxRooms: number, member: string): Result<unknown, Context>;
    sigLeave(roomKey: string, roomsKey: string, peersKey: string, room: string, peerId: string, member: string): Result<unknown, Context>;
    sigReap(aliveKey: string, peersKey: string, instancesKey: string, roomsKey: string, instance: string, roomKeyPrefix: string, force: '0' | '1'): Result<unknown, Context>;
  }
}

export interface RedisBusOptions {
  url: string;
  instanceId: string;
  /** How long presence outlives a dead instance, ms. */
  presenceTtlMs?: number;
  prefix?: string;
  connectTimeoutMs?: number;
}

const JOIN = `
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {'PEER_ID_TAKEN'} end
local n = redis.call('HLEN', KEYS[1])
if n >= tonumber(ARGV[4]) then return {'ROOM_FULL'} end
if n == 0 and redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {'TOO_MANY_ROOMS'} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[6])
local all = redis.call('HGETALL', KEYS[1])
table.insert(all, 1, 'OK')
return all
`;

const LEAVE = `
local n = redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[3], ARGV[3])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return n
`;

// KEYS: alive key, peers key, instances set, rooms set. ARGV: instance, room key prefix, force.
const REAP = `
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local members = redis.call('SMEMBERS', KEYS[2])
local gone = {}
for _, m in ipairs(members) do
  local sep = string.find(m, '\\n', 1, true)
  if sep then
    local room = string.sub(m, 1, sep - 1)
    local peer = string.sub(m, sep + 1)
    local key = ARGV[2] .. room
    local rec = redis.call('HGET', key, peer)
    if rec and string.find(rec, '"instance":"' .. ARGV[1] .. '"', 1, true) then
      redis.call('HDEL', key, peer)
      table.insert(gone, m)
    end
    if redis.call('HLEN', key) == 0 then redis.call('SREM', KEYS[4], room) end
  end
end
redis.call('DEL', KEYS[2])
if ARGV[3] ~= '1' then redis.call('SREM', KEYS[3], ARGV[1]) end
return gone
`;

type Wire =
  | { k: 'j'; r: string; p: PeerRecord; s: string }
  | { k: 'l'; r: string; i: string; s: string };

const JOIN_REFUSALS = ['ROOM_FULL', 'TOO_MANY_ROOMS', 'PEER_ID_TAKEN'] as const;
const isRefusal = (x: string): x is (typeof JOIN_REFUSALS)[number] => (JOIN_REFUSALS as readonly string[]).includes(x);

const isStringArray = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');

function unexpected(what: string, reply: unknown): RtcprobeError {
  return new RtcprobeError('REDIS', `unexpected reply to ${what}: ${JSON.stringify(reply)?.slice(0, 80)}`);
}

/**
 * The join script's reply: a refusal code, or 'OK' followed by the room's
 * hash (field, value, ...) whose values are presence records. Records that do
 * not validate are left out and counted in `malformed`.
 */
export function joinReply(reply: unknown): { outcome: JoinOutcome; malformed: number } {
  if (!isStringArray(reply) || reply.length === 0) throw unexpected('join', reply);
  const head = reply[0]!;
  if (isRefusal(head)) return { outcome: { ok: false, code: head }, malformed: 0 };
  if (head !== 'OK' || reply.length % 2 !== 1) throw unexpected('join', reply);
  const peers: PeerRecord[] = [];
  let malformed = 0;
  for (let i = 2; i < reply.length; i += 2) {
    const rec = parsePeerRecord(reply[i]!);
    if (rec && rec.peerId === reply[i - 1]) peers.push(rec);
    else malformed++;
  }
  return { outcome: { ok: true, peers }, malformed };
}

/** The reap script's reply: "<room>\n<peerId>" members; anything else is not from this code. */
export function reapReply(reply: unknown): { room: string; peerId: string }[] {
  if (!isStringArray(reply)) throw unexpected('reap', reply);
  const gone: { room: string; peerId: string }[] = [];
  for (const m of reply) {
    const sep = m.indexOf('\n');
    if (sep > 0) gone.push({ room: m.slice(0, sep), peerId: m.slice(sep + 1) });
  }
  return gone;
}

/**
 * One line per event. Presence events are JSON; signal and broadcast lines are
 * tab-separated with the client frame last, so the receiving instance passes
 * the frame on without parsing it (rooms, peer and instance ids hold no control
 * characters, and JSON text holds no raw tab or newline).
 */
function encodeEvent(e: BusEvent): string {
  switch (e.kind) {
    case 'peer-joined': return JSON.stringify({ k: 'j', r: e.room, p: e.peer, s: e.src } satisfies Wire);
    case 'peer-left': return JSON.stringify({ k: 'l', r: e.room, i: e.peerId, s: e.src } satisfies Wire);
    case 'signal': return `s\t${e.src}\t${e.room}\t${e.from}\t${e.to}\t${e.frame}`;
    case 'broadcast': return `b\t${e.src}\t${e.room}\t${e.from}\t${e.frame}`;
  }
}

function decodeEvent(line: string): BusEvent | undefined {
  if (line.startsWith('s\t') || line.startsWith('b\t')) {
    const f = line.split('\t');
    if (f[0] === 's' && f.length === 6) return { kind: 'signal', src: f[1]!, room: f[2]!, from: f[3]!, to: f[4]!, frame: f[5]! };
    if (f[0] === 'b' && f.length === 5) return { kind: 'broadcast', src: f[1]!, room: f[2]!, from: f[3]!, frame: f[4]! };
    return undefined;
  }
  const w = jsonObject(line);
  if (!w || typeof w.r !== 'string' || typeof w.s !== 'string') return undefined;
  switch (w.k) {
    case 'j': {
      const peer = peerRecordFrom(w.p);
      return peer ? { kind: 'peer-joined', room: w.r, peer, src: w.s } : undefined;
    }
    case 'l': return typeof w.i === 'string' ? { kind: 'peer-left', room: w.r, peerId: w.i, src: w.s } : undefined;
    default: return undefined;
  }
}

/** Hide the password of a redis:// URL. */
export { maskRedisUrl };

export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  readonly instanceId: string;
  readonly presenceTtlMs: number;
  private readonly prefix: string;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private handler: (e: BusEvent) => void = () => {};
  private readonly counters: BusStats = { published: 0, received: 0, malformed: 0 };
  private heartbeat?: NodeJS.Timeout;
  private reaper?: NodeJS.Timeout;
  private readonly watched = new Set<string>();
  private closed = false;
  private lastError?: Error;
  private readonly outq = new TurnBatcher<string>((channel, lines) => void this.cmd.publish(channel, lines.join('\n')).catch(() => {}));
  private readonly opts: RedisBusOptions;

  constructor(opts: RedisBusOptions) {
    this.opts = opts;
    this.instanceId = opts.instanceId;
    this.presenceTtlMs = opts.presenceTtlMs ?? 15_000;
    this.prefix = opts.prefix ?? 'rtcprobe:signal:';
    const common = {
      lazyConnect: true,
      connectTimeout: opts.connectTimeoutMs ?? 5000,
      maxRetriesPerRequest: 2,
      retryStrategy: (times: number) => Math.min(2000, 50 * 2 ** times),
    };
    this.cmd = new Redis(opts.url, { ...common, enableAutoPipelining: true });
    this.sub = new Redis(opts.url, common);
    this.cmd.on('error', (e: Error) => { this.lastError = e; });
    this.sub.on('error', (e: Error) => { this.lastError = e; });
    this.cmd.defineCommand('sigJoin', { numberOfKeys: 3, lua: JOIN });
    this.cmd.defineCommand('sigLeave', { numberOfKeys: 3, lua: LEAVE });
    this.cmd.defineCommand('sigReap', { numberOfKeys: 4, lua: REAP });
    this.sub.on('message', (_channel: string, text: string) => this.onWire(text));
  }

  private key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  async start(): Promise<void> {
    try {
      await Promise.all([this.cmd.connect(), this.sub.connect()]);
    } catch (err) {
      this.cmd.disconnect();
      this.sub.disconnect();
      const why = this.lastError ?? (err as Error);
      throw new RtcprobeError('REDIS', `cannot connect to ${maskRedisUrl(this.opts.url)}: ${why.message}`, { cause: why });
    }
    try {
      // A restart under the same id: peers of the previous run are gone.
      await this.reapOne(this.instanceId, true);
      await this.cmd.set(this.key('alive', this.instanceId), String(Date.now()), 'PX', this.presenceTtlMs);
      await this.cmd.sadd(this.key('instances'), this.instanceId);
      await this.sub.subscribe(this.key('ch', 'inst', this.instanceId));
    } catch (err) {
      this.cmd.disconnect();
      this.sub.disconnect();
      throw new RtcprobeError('REDIS', `Redis refused a command: ${(err as Error).message}`, { cause: err });
    }
    this.heartbeat = setInterval(() => {
      this.cmd.set(this.key('alive', this.instanceId), String(Date.now()), 'PX', this.presenceTtlMs).catch(() => {});
    }, Math.max(50, Math.floor(this.presenceTtlMs / 3)));
    this.heartbeat.unref();
    this.reaper = setInterval(() => void this.reap().catch(() => {}), Math.max(50, Math.floor(this.presenceTtlMs / 2)));
    this.reaper.unref();
  }

  onEvent(handler: (e: BusEvent) => void): void {
    this.handler = handler;
  }

  /** One pub/sub message carries one or more events, one JSON document per line. */
  private onWire(text: string): void {
    for (const line of text.split('\n')) {
      const e = decodeEvent(line);
      if (!e) {
        this.counters.malformed++;
        continue;
      }
      // An instance never needs its own events; a dead instance's peer-left carries the dead id.
      if (e.src === this.instanceId) continue;
      this.counters.received++;
      this.handler(e);
    }
  }

  /**
   * Events are queued per channel and published at the end of the event-loop
   * turn, several to a PUBLISH: under load, one Redis round of work carries
   * many signals. Order within a channel is kept.
   */
  private publish(channel: string, e: BusEvent): void {
    this.counters.published++;
    this.outq.add(channel, encodeEvent(e));
  }

  async join(room: string, peer: PeerRecord, limits: { maxPeersPerRoom: number; maxRooms: number }): Promise<JoinOutcome> {
    const { outcome, malformed } = joinReply(await this.cmd.sigJoin(
      this.key('room', room), this.key('rooms'), this.key('peers', this.instanceId),
      room, peer.peerId, JSON.stringify(peer), limits.maxPeersPerRoom, limits.maxRooms, `${room}\n${peer.peerId}`,
    ));
    this.counters.malformed += malformed;
    return outcome;
  }

  async leave(room: string, peerId: string): Promise<void> {
    await this.cmd.sigLeave(
      this.key('room', room), this.key('rooms'), this.key('peers', this.instanceId), room, peerId, `${room}\n${peerId}`,
    );
    this.publish(this.key('ch', 'room', room), { kind: 'peer-left', room, peerId, src: this.instanceId });
  }

  async watch(room: string): Promise<void> {
    if (this.watched.has(room)) return;
    this.watched.add(room);
    await this.sub.subscribe(this.key('ch', 'room', room));
  }

  async unwatch(room: string): Promise<void> {
    if (!this.watched.delete(room)) return;
    if (!this.closed) await this.sub.unsubscribe(this.key('ch', 'room', room));
  }

  publishRoom(e: BusEvent): void {
    this.publish(this.key('ch', 'room', e.room), e);
  }

  sendTo(instance: string, e: BusEvent): void {
    this.publish(this.key('ch', 'inst', instance), e);
  }

  private async reapOne(instance: string, force: boolean): Promise<{ room: string; peerId: string }[]> {
    return reapReply(await this.cmd.sigReap(
      this.key('alive', instance), this.key('peers', instance), this.key('instances'), this.key('rooms'),
      instance, this.key('room', ''), force ? '1' : '0',
    ));
  }

  /** Remove the peers of instances whose heartbeat expired; tell their rooms. Returns how many left. */
  async reap(): Promise<number> {
    const instances = await this.cmd.smembers(this.key('instances'));
    let n = 0;
    for (const inst of instances) {
      if (inst === this.instanceId) continue;
      const gone = await this.reapOne(inst, false);
      for (const { room, peerId } of gone) {
        n++;
        const e: BusEvent = { kind: 'peer-left', room, peerId, src: inst };
        // Every instance watching the room hears it, this one included (src is the dead instance).
        this.publish(this.key('ch', 'room', room), e);
      }
    }
    return n;
  }

  async listRooms(limit: number): Promise<{ rooms: RoomSummary[]; total: number }> {
    const total = await this.cmd.scard(this.key('rooms'));
    const ids: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.cmd.sscan(this.key('rooms'), cursor, 'COUNT', 500);
      cursor = next;
      for (const id of batch) if (ids.length < limit) ids.push(id);
    } while (cursor !== '0' && ids.length < limit);
    const counts = await Promise.all(ids.map((id) => this.cmd.hlen(this.key('room', id))));
    return { rooms: ids.map((id, i) => ({ id, peers: counts[i]! })).filter((r) => r.peers > 0), total };
  }

  async getRoom(room: string): Promise<PeerRecord[] | undefined> {
    const all = await this.cmd.hgetall(this.key('room', room));
    const peers: PeerRecord[] = [];
    for (const [peerId, v] of Object.entries(all)) {
      const rec = parsePeerRecord(v);
      if (rec && rec.peerId === peerId) peers.push(rec);
      else this.counters.malformed++;
    }
    peers.sort((a, b) => a.joinedAt - b.joinedAt || a.peerId.localeCompare(b.peerId));
    return peers.length > 0 ? peers : undefined;
  }

  stats(): BusStats {
    return { ...this.counters };
  }

  /** Withdraw this instance (its peers have left already) and disconnect. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.outq.flushAll();
    clearInterval(this.heartbeat);
    clearInterval(this.reaper);
    const withdraw = async () => {
      await this.reapOne(this.instanceId, true);
      await this.cmd.del(this.key('alive', this.instanceId));
      await this.cmd.srem(this.key('instances'), this.instanceId);
      await Promise.all([this.cmd.quit(), this.sub.quit()]);
    };
    // With Redis unreachable, do not wait for retries: the presence TTL cleans up after us.
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), 2000); });
    try {
      if (this.cmd.status !== 'ready' || (await Promise.race([withdraw(), limit])) === 'timeout') throw new Error('redis unavailable');
    } catch {
      this.cmd.disconnect();
      this.sub.disconnect();
    } finally {
      clearTimeout(timer);
    }
  }
}
