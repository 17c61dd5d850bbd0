import { RtcprobeError } from '../core/errors.js';
import { parseServer } from '../core/uri.js';
import { makeStyle, type CommandOutcome, type Style } from '../output.js';
import { collect, intOption, type CommandSpec } from './options.js';
import type { RunContext } from './context.js';

type Action = 'serve' | 'token';

export const DEFAULT_SIGNAL_PORT = 7070;

export interface SignalServeJson {
  event: 'stopped';
  command: 'signal';
  action: 'serve';
  ok: boolean;
  instance: string;
  bus: { kind: 'memory' | 'redis'; url?: string };
  listening: { ws: string; http: string; port: number; httpPort: number };
  uptimeSeconds: number;
  totals: {
    connections: number;
    received: Record<string, number>;
    relayed: Record<string, number>;
    errors: Record<string, number>;
    closes: Record<string, number>;
  };
  shutdown: { reason: string; peersNotified: number; forced: number };
}

export interface SignalTokenJson {
  command: 'signal';
  action: 'token';
  ok: true;
  token: string;
  room: string;
  identity: string;
  expiresAt: string;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

function str(opts: Record<string, unknown>, key: string): string | undefined {
  const v = opts[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function requireOpt(opts: Record<string, unknown>, key: string, flag: string, action: Action): string {
  const v = str(opts, key);
  if (v === undefined) throw new RtcprobeError('USAGE', `"signal ${action}" needs ${flag}`);
  return v;
}

const signalServeCommand: CommandSpec = {
  name: 'serve',
  summary: 'run the signaling relay: WebSocket channel server + HTTP session server, Redis scale-out',
  jsonLines: true,
  options: [
    { flags: '-p, --port <n>', description: 'WebSocket port (0 = any free port, printed when ready)', default: DEFAULT_SIGNAL_PORT, parse: intOption(0, 65535) },
    { flags: '--host <addr>', description: 'address to listen on (0.0.0.0 or :: to serve the network)', default: '127.0.0.1' },
    { flags: '--http-port <n>', description: 'HTTP session endpoints on their own port (default: the WebSocket port serves both)', parse: intOption(0, 65535) },
    { flags: '--max-message-bytes <n>', description: 'largest accepted frame (bigger: TOO_LARGE, close 1009)', default: 65536, parse: intOption(256, 16 * 1024 * 1024) },
    { flags: '--rate <n>', description: 'messages per second per connection (token bucket rate)', default: 50, parse: intOption(1, 1_000_000) },
    { flags: '--burst <n>', description: 'messages per connection in a burst above the rate', default: 100, parse: intOption(1, 1_000_000) },
    { flags: '--max-peers-per-room <n>', description: 'peers in one room', default: 50, parse: intOption(1, 1_000_000) },
    { flags: '--max-rooms <n>', description: 'rooms (across instances with --redis)', default: 10_000, parse: intOption(1, 10_000_000) },
    { flags: '--max-connections <n>', description: 'open WebSocket connections on this instance', default: 10_000, parse: intOption(1, 10_000_000) },
    { flags: '--join-timeout <ms>', description: 'a connection must join within this time', default: 10_000, parse: intOption(100, 3_600_000) },
    { flags: '--heartbeat <ms>', description: 'WebSocket ping interval; a connection that has not answered a ping by the next one is cut', default: 30_000, parse: intOption(100, 3_600_000) },
    { flags: '--max-strikes <n>', description: 'protocol errors tolerated per connection (fading at one per second) before close 1008', default: 20, parse: intOption(0, 1_000_000) },
    { flags: '--drain-timeout <ms>', description: 'on shutdown, wait this long for clients to close', default: 5000, parse: intOption(0, 600_000) },
    { flags: '--secret <secret>', description: 'joins need a token (JWT HS256) signed with this secret (or env RTCPROBE_SIGNAL_SECRET)' },
    { flags: '--origin <origin>', description: 'allowed Origin of WebSocket upgrades (repeatable; others get HTTP 403)', parse: collect },
    { flags: '--turn-uri <uri>', description: 'TURN URI handed out in "joined" with REST credentials (repeatable)', parse: collect },
    { flags: '--turn-secret <secret>', description: 'coturn static-auth-secret for the TURN credentials (or env RTCPROBE_TURN_SECRET)' },
    { flags: '--turn-ttl <s>', description: 'lifetime of the TURN credentials', default: 3600, parse: intOption(60, 30 * 86400) },
    { flags: '--redis <url>', description: 'share rooms with other instances through Redis (redis://[:password@]host:port[/db])' },
    { flags: '--instance-id <id>', description: 'this instance\'s id in Redis and /metrics (default: random)' },
    { flags: '--presence-ttl <ms>', description: 'with --redis, peers of a dead instance leave after this', default: 15_000, parse: intOption(300, 3_600_000) },
  ],
  run: (_args, opts, ctx) => runServe(opts, ctx),
};

const signalTokenCommand: CommandSpec = {
  name: 'token',
  summary: 'mint a join token (JWT HS256 with room, identity and expiry)',
  options: [
    { flags: '--secret <secret>', description: 'the signing secret (or env RTCPROBE_SIGNAL_SECRET)', required: true, env: 'RTCPROBE_SIGNAL_SECRET' },
    { flags: '--room <room>', description: 'the room the token admits to', required: true },
    { flags: '--identity <id>', description: 'the identity (becomes the peerId)', required: true },
    { flags: '--ttl <s>', description: 'lifetime in seconds', default: 3600, parse: intOption(1, 365 * 86400) },
  ],
  run: (_args, opts, ctx) => runToken(opts, ctx),
};

export const signalCommand: CommandSpec = {
  name: 'signal',
  summary: 'signaling relay: "signal serve" runs it, "signal token" mints a join token',
  options: [],
  subcommands: [signalServeCommand, signalTokenCommand],
};

async function runToken(opts: Record<string, unknown>, ctx: RunContext): Promise<CommandOutcome> {
  const secret = str(opts, 'secret') ?? ctx.io.env.RTCPROBE_SIGNAL_SECRET;
  if (!secret) throw new RtcprobeError('USAGE', '"signal token" needs --secret (or RTCPROBE_SIGNAL_SECRET)');
  const room = requireOpt(opts, 'room', '--room', 'token');
  const identity = requireOpt(opts, 'identity', '--identity', 'token');
  const { validPeerId, validRoom } = await import('../core/signal/protocol.js');
  if (!validRoom(room)) throw new RtcprobeError('USAGE', '--room must be 1..128 printable characters');
  if (!validPeerId(identity)) throw new RtcprobeError('USAGE', '--identity must be 1..64 characters of A-Z a-z 0-9 _ . : @ -');
  const { mintToken } = await import('../core/signal/token.js');
  const ttl = opts.ttl as number;
  const now = Date.now();
  const token = mintToken(secret, { room, identity, ttlSeconds: ttl, now });
  const json: SignalTokenJson = { command: 'signal', action: 'token', ok: true, token, room, identity, expiresAt: new Date((Math.floor(now / 1000) + ttl) * 1000).toISOString() };
  return {
    exitCode: 0,
    json,
    human: (st) => `${st.ok} ${st.c.bold(`token for "${identity}" in room "${room}"`)}, expires ${json.expiresAt}\n${token}`,
  };
}

function validateOrigin(o: string): string {
  try {
    const u = new URL(o);
    if (u.origin === 'null' || u.pathname !== '/' || u.search || u.hash) throw new Error('not an origin');
    return u.origin;
  } catch {
    throw new RtcprobeError('USAGE', `--origin "${o}" is not an origin like https://app.example.com`);
  }
}

async function runServe(opts: Record<string, unknown>, ctx: RunContext): Promise<CommandOutcome> {
  // Everything is checked before anything listens: a bad flag is a usage error.
  const secret = str(opts, 'secret') ?? ctx.io.env.RTCPROBE_SIGNAL_SECRET;
  const turnUris = (opts.turnUri as string[] | undefined) ?? [];
  const turnSecret = str(opts, 'turnSecret') ?? ctx.io.env.RTCPROBE_TURN_SECRET;
  if (turnUris.length > 0 && !turnSecret) throw new RtcprobeError('USAGE', '--turn-uri needs --turn-secret (or RTCPROBE_TURN_SECRET)');
  if (turnSecret && str(opts, 'turnSecret') && turnUris.length === 0) throw new RtcprobeError('USAGE', '--turn-secret needs at least one --turn-uri');
  for (const u of turnUris) {
    if (!/^turns?:/i.test(u.trim())) throw new RtcprobeError('USAGE', `--turn-uri "${u}" must be a turn:/turns: URI`);
    parseServer(u, 'turn');
  }
  const origins = ((opts.origin as string[] | undefined) ?? []).map(validateOrigin);
  const redisUrl = str(opts, 'redis');
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new RtcprobeError('USAGE', '--redis must be a redis:// or rediss:// URL');
  const instanceId = str(opts, 'instanceId');
  const { SignalRelay, validInstanceId } = await import('../core/signal/server.js');
  if (instanceId !== undefined && !validInstanceId(instanceId)) throw new RtcprobeError('USAGE', '--instance-id must be 1..64 characters of A-Z a-z 0-9 _ . -');
  const { randomBytes } = await import('node:crypto');
  const id = instanceId ?? `relay-${randomBytes(4).toString('hex')}`;
  const { mask: maskSecret } = await import('../core/turn/credentials.js');
  let bus;
  let maskedRedis: string | undefined;
  if (redisUrl) {
    const { RedisBus, maskRedisUrl } = await import('../core/signal/redis-bus.js');
    maskedRedis = maskRedisUrl(redisUrl);
    bus = new RedisBus({ url: redisUrl, instanceId: id, presenceTtlMs: opts.presenceTtl as number });
  }
  const relay = new SignalRelay({
    host: opts.host as string,
    port: opts.port as number,
    ...(opts.httpPort !== undefined ? { httpPort: opts.httpPort as number } : {}),
    instanceId: id,
    ...(bus ? { bus } : {}),
    ...(secret ? { secret } : {}),
    ...(origins.length > 0 ? { origins } : {}),
    ...(turnUris.length > 0 && turnSecret ? { turn: { uris: turnUris, secret: turnSecret, ttlSeconds: opts.turnTtl as number } } : {}),
    limits: {
      maxMessageBytes: opts.maxMessageBytes as number,
      messagesPerSecond: opts.rate as number,
      messageBurst: opts.burst as number,
      maxPeersPerRoom: opts.maxPeersPerRoom as number,
      maxRooms: opts.maxRooms as number,
      maxConnections: opts.maxConnections as number,
      joinTimeoutMs: opts.joinTimeout as number,
      heartbeatMs: opts.heartbeat as number,
      maxStrikes: opts.maxStrikes as number,
      drainTimeoutMs: opts.drainTimeout as number,
    },
  });
  if (ctx.signal.aborted) throw new RtcprobeError('ABORTED', 'aborted before the relay started');
  const addr = await relay.listen();
  const started = Date.now();
  ctx.onForcedStop?.(() => { const s = relay.snapshot(); return { event: 'stopped', command: 'signal', action: 'serve', ok: false, instance: id, uptimeSeconds: Math.round((Date.now() - started) / 1000), totals: { connections: s.connectionsTotal, received: s.received, relayed: s.relayed, errors: s.errors, closes: s.closes } }; });

  // Ready: one JSON line (--json) or a few human lines, then serve until aborted.
  const ready = {
    event: 'listening',
    instance: id,
    ws: addr.ws,
    http: addr.http,
    port: addr.port,
    httpPort: addr.httpPort,
    bus: relay.bus.kind,
    ...(maskedRedis ? { redis: maskedRedis } : {}),
    auth: !!secret,
    origins,
    turn: turnUris.length > 0,
  };
  if (ctx.global.json) {
    ctx.io.stdout.write(`${JSON.stringify(ready)}\n`);
  } else {
    const st = makeStyle(ctx.global.color, ctx.global.verbose);
    const lines = [
      `${st.ok} ${st.c.bold(`signaling relay ${id} listening`)}`,
      `    websocket  ${addr.ws}`,
      `    http       ${addr.http}  (/healthz /rooms /rooms/:id /metrics)`,
      `    bus        ${maskedRedis ? `redis ${maskedRedis}` : 'memory (single instance)'}`,
      `    auth       ${secret ? `token required (secret ${maskSecret(secret)})` : 'none'}${origins.length ? `, origins ${origins.join(' ')}` : ''}`,
    ];
    if (turnUris.length && turnSecret) lines.push(`    turn       ${turnUris.join(' ')} (secret ${maskSecret(turnSecret)})`);
    lines.push('    Ctrl-C or SIGTERM stops it gracefully');
    ctx.io.stdout.write(`${lines.join('\n')}\n`);
  }

  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    else ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  const reason = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : 'aborted';
  const report = await relay.close(reason);
  const snap = relay.snapshot();
  const json: SignalServeJson = {
    event: 'stopped',
    command: 'signal',
    action: 'serve',
    ok: true,
    instance: id,
    bus: { kind: relay.bus.kind, ...(maskedRedis ? { url: maskedRedis } : {}) },
    listening: { ws: addr.ws, http: addr.http, port: addr.port, httpPort: addr.httpPort },
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    totals: { connections: snap.connectionsTotal, received: snap.received, relayed: snap.relayed, errors: snap.errors, closes: snap.closes },
    shutdown: report,
  };
  return { exitCode: 0, json, jsonLines: true, human: (st) => renderServeHuman(json, st) };
}

export function renderServeHuman(j: SignalServeJson, st: Style): string {
  const { c } = st;
  const lines = [
    `${st.ok} ${c.bold(`relay ${j.instance} stopped gracefully`)} (${j.shutdown.reason}) after ${j.uptimeSeconds} s`,
    `    connections  ${j.totals.connections} served, ${j.shutdown.peersNotified} peer(s) told at shutdown${j.shutdown.forced ? `, ${j.shutdown.forced} cut` : ''}`,
    `    messages     ${sum(j.totals.received)} received, ${sum(j.totals.relayed)} relayed`,
  ];
  const errs = Object.entries(j.totals.errors);
  lines.push(`    errors       ${errs.length ? errs.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
  return lines.join('\n');
}
