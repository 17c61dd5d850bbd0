import { readFileSync } from 'node:fs';
import { RtcprobeError } from '../core/errors.js';
import { sanitizeRemoteText } from '../core/sanitize.js';
import type { JoinEvent, JoinSummary } from '../core/signaling/join.js';
import { parseServer } from '../core/uri.js';
import { fmtMs, type CommandOutcome, type Style } from '../output.js';
import { collect, defineCommand, defineOptions, intOption, numberOption, type OptionValues } from './options.js';
import { caOption, timeoutOption } from './shared-options.js';
import type { RunContext } from './context.js';

type Action = 'serve' | 'token' | 'join';

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
  /** E.g. a secret shorter than HS256 needs; also printed on stderr. */
  warnings: string[];
}

export interface SignalJoinJson extends JoinSummary {
  event: 'summary';
  command: 'signal';
  action: 'join';
  ok: boolean;
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);

/** A string option's value, with an empty one counted as not given. */
function str(v: string | undefined): string | undefined {
  return v !== undefined && v !== '' ? v : undefined;
}

/**
 * The join-token secret: the flag, else the environment. An explicitly empty
 * flag is refused; a short one is used with a warning on stderr.
 */
async function joinSecret(opts: { secret?: string | undefined }, ctx: RunContext, warnings: string[]): Promise<string | undefined> {
  if (opts.secret === '') throw new RtcprobeError('USAGE', '--secret must not be empty');
  const secret = str(opts.secret);
  if (secret === undefined) return undefined;
  const { weakSecretWarning } = await import('../core/signaling/token.js');
  const w = weakSecretWarning(secret, ctx.source('secret') === 'env' ? 'RTCPROBE_SIGNAL_SECRET' : 'the --secret');
  if (w) {
    warnings.push(w);
    ctx.warn(w);
  }
  return secret;
}

function readFileOption(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new RtcprobeError('USAGE', `cannot read ${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function requireOpt(value: string | undefined, flag: string, action: Action): string {
  const v = str(value);
  if (v === undefined) throw new RtcprobeError('USAGE', `"signal ${action}" needs ${flag}`);
  return v;
}

const serveOptions = defineOptions([
  { flags: '-p, --port <n>', description: 'WebSocket port (0 = any free port, printed when ready)', default: DEFAULT_SIGNAL_PORT, parse: intOption(0, 65535) },
  { flags: '--host <addr>', description: 'address to listen on (0.0.0.0 or :: to serve the network)', default: '127.0.0.1' },
  { flags: '--http-port <n>', description: 'HTTP session endpoints on their own port (default: the WebSocket port serves both)', parse: intOption(0, 65535) },
  { flags: '--http-host <addr>', description: 'address of that separate HTTP listener (e.g. 127.0.0.1 to keep the admin endpoints local; needs --http-port)' },
  { flags: '--admin-token <token>', description: '/rooms, /rooms/:id and /metrics need "Authorization: Bearer <token>" (or env RTCPROBE_SIGNAL_ADMIN_TOKEN)', env: 'RTCPROBE_SIGNAL_ADMIN_TOKEN' },
  { flags: '--tls-cert <file>', description: 'PEM certificate (chain): serve wss:// and https:// (needs --tls-key)' },
  { flags: '--tls-key <file>', description: 'PEM private key of --tls-cert' },
  { flags: '--max-message-bytes <n>', description: 'largest accepted frame (bigger: TOO_LARGE, close 1009)', default: 65536, parse: intOption(256, 16 * 1024 * 1024) },
  { flags: '--rate <n>', description: 'messages per second per connection (token bucket rate)', default: 50, parse: intOption(1, 1_000_000) },
  { flags: '--burst <n>', description: 'messages per connection in a burst above the rate', default: 100, parse: intOption(1, 1_000_000) },
  { flags: '--max-peers-per-room <n>', description: 'peers in one room', default: 50, parse: intOption(1, 1_000_000) },
  { flags: '--max-rooms <n>', description: 'rooms (across instances with --redis)', default: 10_000, parse: intOption(1, 10_000_000) },
  { flags: '--max-connections <n>', description: 'open WebSocket connections on this instance', default: 10_000, parse: intOption(1, 10_000_000) },
  { flags: '--join-timeout <ms>', description: 'a connection must join within this time', default: 10_000, parse: intOption(100, 3_600_000) },
  { flags: '--heartbeat <ms>', description: 'WebSocket ping interval; a connection that has not answered the previous ping (nor sent anything since) is cut', default: 30_000, parse: intOption(100, 3_600_000) },
  { flags: '--max-strikes <n>', description: 'protocol errors tolerated per connection (fading at one per second) before close 1008', default: 20, parse: intOption(0, 1_000_000) },
  { flags: '--drain-timeout <ms>', description: 'on shutdown, wait this long for clients to close', default: 5000, parse: intOption(0, 600_000) },
  { flags: '--secret <secret>', description: 'joins need a token (JWT HS256) signed with this secret (or env RTCPROBE_SIGNAL_SECRET)', env: 'RTCPROBE_SIGNAL_SECRET' },
  { flags: '--origin <origin>', description: 'allowed Origin of WebSocket upgrades (repeatable; others get HTTP 403)', parse: collect },
  { flags: '--turn-uri <uri>', description: 'TURN URI handed out in "joined" with REST credentials (repeatable)', parse: collect },
  { flags: '--turn-secret <secret>', description: 'coturn static-auth-secret for the TURN credentials (or env RTCPROBE_TURN_SECRET)' },
  { flags: '--turn-ttl <s>', description: 'lifetime of the TURN credentials', default: 3600, parse: intOption(60, 30 * 86400) },
  { flags: '--redis <url>', description: 'share rooms with other instances through Redis (redis://[:password@]host:port[/db])' },
  { flags: '--instance-id <id>', description: 'this instance\'s id in Redis and /metrics (default: random)' },
  { flags: '--presence-ttl <ms>', description: 'with --redis, peers of a dead instance leave after this', default: 15_000, parse: intOption(300, 3_600_000) },
]);

type ServeOptions = OptionValues<typeof serveOptions>;

const signalServeCommand = defineCommand({
  name: 'serve',
  summary: 'run the signaling relay: WebSocket channel server + HTTP session server, Redis scale-out',
  jsonLines: true,
  options: serveOptions,
  run: (_args, opts, ctx) => runServe(opts, ctx),
});

const tokenOptions = defineOptions([
  { flags: '--secret <secret>', description: 'the signing secret (or env RTCPROBE_SIGNAL_SECRET)', required: true, env: 'RTCPROBE_SIGNAL_SECRET' },
  { flags: '--room <room>', description: 'the room the token admits to', required: true },
  { flags: '--identity <id>', description: 'the identity (becomes the peerId)', required: true },
  { flags: '--ttl <s>', description: 'lifetime in seconds', default: 3600, parse: intOption(1, 365 * 86400) },
]);

type TokenOptions = OptionValues<typeof tokenOptions>;

const signalTokenCommand = defineCommand({
  name: 'token',
  summary: 'mint a join token (JWT HS256 with room, identity and expiry)',
  options: tokenOptions,
  run: (_args, opts, ctx) => runToken(opts, ctx),
});

const joinOptions = defineOptions([
  { flags: '--room <room>', description: 'the room to join' },
  { flags: '--token <token>', description: 'join token, for a relay started with --secret (or env RTCPROBE_SIGNAL_TOKEN)' },
  { flags: '--peer-id <id>', description: 'the peerId to ask for (default: the relay picks one; with a token: the token identity)' },
  { flags: '--send <text>', description: 'send this text once: to every other peer (broadcast) as soon as one is in the room, or to --to' },
  { flags: '--to <peer>', description: 'send --send to this peer only (signal), as soon as it is in the room' },
  { flags: '--duration <s>', description: 'stop by itself after this many seconds (default: run until Ctrl-C or SIGTERM)', parse: numberOption(0.001, 31_536_000) },
  { flags: '--ping-interval <ms>', description: 'measure the round trip through the relay this often (0 = never)', default: 1000, parse: intOption(0, 3_600_000) },
  timeoutOption('limit for connecting and joining, and for one ping', { default: 10_000, min: 100 }),
  caOption('wss://: trust this PEM CA bundle in addition to the system store'),
  { flags: '--origin <origin>', description: 'Origin header of the upgrade (for relays started with --origin)' },
]);

type JoinOptions = OptionValues<typeof joinOptions>;

const signalJoinCommand = defineCommand({
  name: 'join',
  summary: 'join a room of a relay from the terminal: watch it live, measure ping RTT, send a test message',
  args: '<url>',
  options: joinOptions,
  run: (args, opts, ctx) => runJoin(args, opts, ctx),
});

export const signalCommand = defineCommand({
  name: 'signal',
  summary: 'signaling relay: "signal serve" runs it, "signal token" mints a join token, "signal join" joins a room',
  options: [],
  subcommands: [signalServeCommand, signalTokenCommand, signalJoinCommand],
});

async function runToken(opts: TokenOptions, ctx: RunContext): Promise<CommandOutcome> {
  const room = requireOpt(opts.room, '--room', 'token');
  const identity = requireOpt(opts.identity, '--identity', 'token');
  const warnings: string[] = [];
  const secret = await joinSecret(opts, ctx, warnings);
  if (!secret) throw new RtcprobeError('USAGE', '"signal token" needs --secret (or RTCPROBE_SIGNAL_SECRET)');
  const { validPeerId, validRoom } = await import('../core/signaling/protocol.js');
  if (!validRoom(room)) throw new RtcprobeError('USAGE', '--room must be 1..128 printable characters');
  if (!validPeerId(identity)) throw new RtcprobeError('USAGE', '--identity must be 1..64 characters of A-Z a-z 0-9 _ . : @ -');
  const { mintToken } = await import('../core/signaling/token.js');
  const ttl = opts.ttl;
  const now = Date.now();
  const token = mintToken(secret, { room, identity, ttlSeconds: ttl, now });
  const json: SignalTokenJson = { command: 'signal', action: 'token', ok: true, token, room, identity, expiresAt: new Date((Math.floor(now / 1000) + ttl) * 1000).toISOString(), warnings };
  return {
    exitCode: 0,
    json,
    // The token stays alone on the last line (scripts take it with tail -1); warnings went to stderr.
    human: (st) => `${warnings.length ? st.warn : st.ok} ${st.c.bold(`token for "${identity}" in room "${room}"`)}, expires ${json.expiresAt}${warnings.length ? ' (weak secret, see the warning)' : ''}\n${token}`,
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

async function runServe(opts: ServeOptions, ctx: RunContext): Promise<CommandOutcome> {
  // Everything is checked before anything listens: a bad flag is a usage error.
  const secret = await joinSecret(opts, ctx, []);
  if (opts.adminToken === '') throw new RtcprobeError('USAGE', '--admin-token must not be empty');
  const adminToken = str(opts.adminToken);
  const httpHost = str(opts.httpHost);
  if (httpHost !== undefined && opts.httpPort === undefined) throw new RtcprobeError('USAGE', '--http-host needs --http-port (the session endpoints on their own listener)');
  const certPath = str(opts.tlsCert);
  const keyPath = str(opts.tlsKey);
  if (!!certPath !== !!keyPath) throw new RtcprobeError('USAGE', '--tls-cert and --tls-key go together');
  const tls = certPath && keyPath ? { cert: readFileOption(certPath, '--tls-cert'), key: readFileOption(keyPath, '--tls-key') } : undefined;
  if (tls) {
    const { createSecureContext } = await import('node:tls');
    try {
      createSecureContext(tls);
    } catch (err) {
      throw new RtcprobeError('TLS', `--tls-cert/--tls-key cannot be used: ${(err as Error).message}`, { cause: err });
    }
  }
  const turnUris = opts.turnUri ?? [];
  const turnSecret = str(opts.turnSecret) ?? ctx.env.RTCPROBE_TURN_SECRET;
  if (turnUris.length > 0 && !turnSecret) throw new RtcprobeError('USAGE', '--turn-uri needs --turn-secret (or RTCPROBE_TURN_SECRET)');
  if (turnSecret && str(opts.turnSecret) && turnUris.length === 0) throw new RtcprobeError('USAGE', '--turn-secret needs at least one --turn-uri');
  for (const u of turnUris) {
    if (!/^turns?:/i.test(u.trim())) throw new RtcprobeError('USAGE', `--turn-uri "${u}" must be a turn:/turns: URI`);
    parseServer(u, 'turn');
  }
  const origins = (opts.origin ?? []).map(validateOrigin);
  const redisUrl = str(opts.redis);
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new RtcprobeError('USAGE', '--redis must be a redis:// or rediss:// URL');
  const instanceId = str(opts.instanceId);
  const { SignalRelay } = await import('../core/signaling/server.js');
  const { validInstanceId } = await import('../core/signaling/protocol.js');
  if (instanceId !== undefined && !validInstanceId(instanceId)) throw new RtcprobeError('USAGE', '--instance-id must be 1..64 characters of A-Z a-z 0-9 _ . -');
  const { randomBytes } = await import('node:crypto');
  const id = instanceId ?? `relay-${randomBytes(4).toString('hex')}`;
  const { mask: maskSecret } = await import('../core/turn/credentials.js');
  let bus;
  let maskedRedis: string | undefined;
  if (redisUrl) {
    const { RedisBus, maskRedisUrl } = await import('../core/signaling/redis-bus.js');
    maskedRedis = maskRedisUrl(redisUrl);
    bus = new RedisBus({ url: redisUrl, instanceId: id, presenceTtlMs: opts.presenceTtl });
  }
  const relay = new SignalRelay({
    host: opts.host,
    port: opts.port,
    ...(opts.httpPort !== undefined ? { httpPort: opts.httpPort } : {}),
    ...(httpHost !== undefined ? { httpHost } : {}),
    ...(adminToken ? { adminToken } : {}),
    ...(tls ? { tls } : {}),
    instanceId: id,
    ...(bus ? { bus } : {}),
    ...(secret ? { secret } : {}),
    ...(origins.length > 0 ? { origins } : {}),
    ...(turnUris.length > 0 && turnSecret ? { turn: { uris: turnUris, secret: turnSecret, ttlSeconds: opts.turnTtl } } : {}),
    limits: {
      maxMessageBytes: opts.maxMessageBytes,
      messagesPerSecond: opts.rate,
      messageBurst: opts.burst,
      maxPeersPerRoom: opts.maxPeersPerRoom,
      maxRooms: opts.maxRooms,
      maxConnections: opts.maxConnections,
      joinTimeoutMs: opts.joinTimeout,
      heartbeatMs: opts.heartbeat,
      maxStrikes: opts.maxStrikes,
      drainTimeoutMs: opts.drainTimeout,
    },
  });
  if (ctx.signal.aborted) throw new RtcprobeError('ABORTED', 'aborted before the relay started');
  const addr = await relay.listen();
  const started = Date.now();
  ctx.onForcedStop?.(() => { const s = relay.snapshot(); return { event: 'stopped', command: 'signal', action: 'serve', ok: false, instance: id, uptimeSeconds: Math.round((Date.now() - started) / 1000), totals: { connections: s.connectionsTotal, received: s.received, relayed: s.relayed, errors: s.errors, closes: s.closes } }; });

  // Ready: one JSON line (--json) or a few human lines, then serve until aborted.
  const ready = {
    instance: id,
    ws: addr.ws,
    http: addr.http,
    port: addr.port,
    httpPort: addr.httpPort,
    bus: relay.bus.kind,
    ...(maskedRedis ? { redis: maskedRedis } : {}),
    auth: !!secret,
    admin: !!adminToken,
    tls: !!tls,
    origins,
    turn: turnUris.length > 0,
  };
  ctx.events.emit('listening', ready, (st) => {
    const lines = [
      `${st.ok} ${st.c.bold(`signaling relay ${id} listening`)}`,
      `    websocket  ${addr.ws}`,
      `    http       ${addr.http}  (/healthz /rooms /rooms/:id /metrics)`,
      `    admin      ${adminToken ? `/rooms and /metrics need the admin token (${maskSecret(adminToken)})` : secret ? '/rooms refused (join auth is on and there is no --admin-token); /metrics open' : 'open (no --admin-token)'}`,
      `    bus        ${maskedRedis ? `redis ${maskedRedis}` : 'memory (single instance)'}`,
      `    auth       ${secret ? `token required (secret ${maskSecret(secret)})` : 'none'}${origins.length ? `, origins ${origins.join(' ')}` : ''}`,
    ];
    if (turnUris.length && turnSecret) lines.push(`    turn       ${turnUris.join(' ')} (secret ${maskSecret(turnSecret)})`);
    lines.push('    Ctrl-C or SIGTERM stops it gracefully');
    return lines.join('\n');
  });

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

async function runJoin(args: string[], opts: JoinOptions, ctx: RunContext): Promise<CommandOutcome> {
  const url = args[0] ?? '';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RtcprobeError('USAGE', `"${url}" is not a ws:// or wss:// URL`);
  }
  if (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:') throw new RtcprobeError('USAGE', `"${url}" is not a ws:// or wss:// URL (the relay's WebSocket address)`);
  const room = requireOpt(opts.room, '--room', 'join');
  const { validPeerId, validRoom } = await import('../core/signaling/protocol.js');
  if (!validRoom(room)) throw new RtcprobeError('USAGE', '--room must be 1..128 printable characters');
  const peerId = str(opts.peerId);
  if (peerId !== undefined && !validPeerId(peerId)) throw new RtcprobeError('USAGE', '--peer-id must be 1..64 characters of A-Z a-z 0-9 _ . : @ -');
  const to = str(opts.to);
  const text = opts.send;
  if (to !== undefined && text === undefined) throw new RtcprobeError('USAGE', '--to needs --send');
  if (to !== undefined && !validPeerId(to)) throw new RtcprobeError('USAGE', '--to must be a peerId');
  const token = str(opts.token) ?? (ctx.env.RTCPROBE_SIGNAL_TOKEN || undefined);
  const ca = opts.ca !== undefined ? readFileOption(opts.ca, '--ca') : undefined;
  const originOpt = str(opts.origin);
  const origin = originOpt !== undefined ? validateOrigin(originOpt) : undefined;
  const duration = opts.duration;

  const onEvent = (e: JoinEvent) => {
    const { event, ...fields } = e;
    ctx.events.emit(event, fields, (st) => {
      const line = renderJoinEvent(e, st);
      if (e.event !== 'joined') return line;
      return `${line}\n    ${duration !== undefined ? `for ${duration} s; ` : ''}Ctrl-C or SIGTERM ends the session with a summary`;
    });
  };
  const { runJoinSession } = await import('../core/signaling/join.js');
  const summary = await runJoinSession({
    url,
    room,
    timeoutMs: opts.timeout,
    pingIntervalMs: opts.pingInterval,
    signal: ctx.signal,
    onEvent,
    ...(peerId ? { peerId } : {}),
    ...(token ? { token } : {}),
    ...(ca ? { ca } : {}),
    ...(origin ? { origin } : {}),
    ...(duration !== undefined ? { durationMs: Math.round(duration * 1000) } : {}),
    ...(text !== undefined ? { send: { text, ...(to ? { to } : {}) } } : {}),
  });
  const ok = summary.problems.length === 0;
  const json: SignalJoinJson = { event: 'summary', command: 'signal', action: 'join', ok, ...summary };
  return { exitCode: ok ? 0 : 1, json, jsonLines: true, human: (s) => renderJoinHuman(json, s) };
}

/** Text received from the network, made safe and short for a terminal. */
function shown(x: unknown, max = 200): string {
  if (typeof x === 'string') return JSON.stringify(sanitizeRemoteText(x, max));
  let text: string;
  try {
    text = JSON.stringify(x) ?? String(x);
  } catch {
    text = '(unprintable)';
  }
  return sanitizeRemoteText(text, max);
}

const id = (x: string) => sanitizeRemoteText(x, 64);

/** One line per event of a live `signal join`; pings only with --verbose. */
export function renderJoinEvent(e: JoinEvent, st: Style): string | undefined {
  const { c } = st;
  const at = c.dim(`+${(e.elapsedMs / 1000).toFixed(3)} s`);
  switch (e.event) {
    case 'joined': {
      const peers = e.peers.length ? `${e.peers.length} other peer(s): ${e.peers.map((p) => id(p.peerId)).join(', ')}` : 'no other peer yet';
      return `${st.ok} ${c.bold(`joined room "${id(e.room)}" as ${id(e.peerId)}`)} on ${e.url} (${peers}${e.iceServers ? `; ${e.iceServers} ICE server entr${e.iceServers === 1 ? 'y' : 'ies'} offered` : ''})`;
    }
    case 'peer-joined':
      return `  ${at}  ${c.green('+')} ${id(e.peerId)} joined${e.meta ? ` ${shown(e.meta, 120)}` : ''}`;
    case 'peer-left':
      return `  ${at}  ${c.yellow('-')} ${id(e.peerId)} left`;
    case 'message':
      return `  ${at}  ${c.cyan('←')} ${e.kind} from ${id(e.from)}: ${shown(e.data)}`;
    case 'sent':
      return `  ${at}  ${c.cyan('→')} ${e.kind === 'signal' ? `signal to ${id(e.to ?? '')}` : `broadcast to ${e.recipients} peer(s)`}`;
    case 'ping':
      return st.verbose ? `  ${at}  ping ${fmtMs(e.rttMs)} ms` : undefined;
    case 'ping-lost':
      return `  ${at}  ${st.warn} ping lost: no pong within ${e.timeoutMs} ms`;
    case 'relay-error':
      return `  ${at}  ${st.warn} relay error ${e.code}${e.ref ? ` (${id(e.ref)})` : ''}: ${sanitizeRemoteText(e.message, 200)}`;
    case 'disconnected':
      return `  ${at}  ${st.fail} the relay closed the connection: ${e.code}${e.reason ? ` ${sanitizeRemoteText(e.reason, 120)}` : ''}`;
  }
}

export function renderJoinHuman(j: SignalJoinJson, st: Style): string {
  const { c } = st;
  const why = j.stoppedBy === 'duration' ? 'duration reached' : j.stoppedBy === 'signal' ? 'interrupted' : 'disconnected';
  const head = j.ok
    ? `${st.ok} ${c.bold(`session in room "${id(j.room)}" as ${id(j.peerId)} ended cleanly`)} after ${(j.durationMs / 1000).toFixed(1)} s (${why})`
    : `${st.fail} ${c.bold(`session in room "${id(j.room)}" as ${id(j.peerId)} had problems`)} after ${(j.durationMs / 1000).toFixed(1)} s (${why})`;
  const lines = [head];
  for (const p of j.problems) lines.push(`  ${st.fail} ${p}`);
  lines.push(`    peers         ${j.peers.length ? j.peers.map(id).join(', ') : 'none'} at the end; ${j.peersJoined} joined, ${j.peersLeft} left meanwhile`);
  lines.push(`    received      ${j.received.signal} signal, ${j.received.broadcast} broadcast`);
  if (j.send) lines.push(`    sent          ${j.send.sent ? (j.send.kind === 'signal' ? `signal to ${id(j.send.to ?? '')}` : `broadcast to ${j.send.recipients} peer(s)`) : 'nothing (no recipient)'}${j.send.refused ? `, refused: ${j.send.refused}` : ''}`);
  const r = j.ping.rttMs;
  if (j.ping.sent === 0) lines.push('    ping          none sent');
  else lines.push(`    ping          ${j.ping.answered}/${j.ping.sent} answered${r ? `; RTT min ${fmtMs(r.min)} / median ${fmtMs(r.median)} / p95 ${fmtMs(r.p95)} / max ${fmtMs(r.max)} ms` : ''}`);
  const errs = Object.entries(j.relayErrors);
  lines.push(`    relay errors  ${errs.length ? errs.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
  return lines.join('\n');
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
