import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from 'commander';
import { RtcprobeError } from '../core/errors.js';
import type { IceServer } from '../core/ice/servers.js';
import type { CheckReport, StepName } from '../core/check/report.js';
import type { StepBase } from '../core/check/report.js';
import { fmtMs, type CommandOutcome, type Style } from '../output.js';
import { collect, defineCommand, defineOptions, intOption, type OptionValues } from './options.js';
import { caOption, insecureOption, pickCredentials, timeoutOption, TURN_CREDENTIAL_OPTIONS } from './shared-options.js';
import { DEFAULT_STUN_SERVERS, parseDuration } from './stun.js';
import type { RunContext } from './context.js';

const STEPS: readonly StepName[] = ['network', 'servers', 'gather', 'nat', 'portmap', 'e2e'];

function parseSteps(value: string): StepName[] {
  const out: StepName[] = [];
  for (const s of value.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(STEPS as readonly string[]).includes(s)) throw new InvalidArgumentError(`"${s}" is not one of ${STEPS.join(', ')}.`);
    out.push(s as StepName);
  }
  return out;
}

const checkOptions = defineOptions([
  { flags: '--ice-servers <file>', description: 'the iceServers the app uses: an RTCConfiguration, {"iceServers": [...]} or an array of RTCIceServer' },
  ...TURN_CREDENTIAL_OPTIONS,
  { flags: '--signal <url>', description: 'check the iceServers this signaling relay hands its peers in "joined" (with --room)' },
  { flags: '--room <room>', description: 'the room to join on --signal', default: 'rtcprobe-check' },
  { flags: '--token <token>', description: 'join token for --signal (or env RTCPROBE_SIGNAL_TOKEN)', env: 'RTCPROBE_SIGNAL_TOKEN' },
  { flags: '--skip <steps>', description: `steps not to run, comma-separated: ${STEPS.join(', ')}`, parse: (v: string, prev: StepName[] | undefined) => [...(prev ?? []), ...parseSteps(v)] },
  timeoutOption('limit per network operation (a transaction with its retransmissions, a connection)', { default: 3000, min: 100 }),
  { flags: '--step-timeout <ms>', description: 'limit per step; a step that runs out says "not verified"', default: 20_000, parse: intOption(1000, 600_000) },
  insecureOption('TLS: continue when a TURN server\'s certificate does not verify (reported as a warning)'),
  caOption('TLS: trust this PEM CA bundle in addition to the system store (turns: servers, and a wss:// --signal relay)'),
  { flags: '--loopback', description: 'gathering: loopback host candidates only (servers on this machine)' },
  { flags: '--host-address <ip>', description: 'an extra host-candidate address for gathering and end to end (repeatable)', parse: collect },
  { flags: '--gateway <ip>', description: 'ask this gateway for UPnP IGD, NAT-PMP and PCP (default: the IPv4 default route\'s)' },
  { flags: '--probes <n>', description: 'end to end: probes over the data channel per relay', default: 10, parse: intOption(1, 1000) },
  { flags: '--every <dur>', description: 'monitoring: repeat the check every <dur> (30s, 5m); JSON Lines events under --json; SIGTERM stops it after the current round', parse: (v: string) => parseDuration(v, 1000) },
  { flags: '--rounds <n>', description: 'monitoring: stop after n rounds (default: until interrupted)', parse: intOption(1, 1_000_000) },
  { flags: '--metrics-port <port>', description: 'monitoring: serve the latest results on http://HOST:PORT/metrics (Prometheus text); 0 picks a free port', parse: intOption(0, 65535) },
  { flags: '--metrics-host <ip>', description: 'address the metrics listener binds', default: '127.0.0.1' },
]);

type CheckOptions = OptionValues<typeof checkOptions>;

export const checkCommand = defineCommand({
  name: 'check',
  summary: 'will calls connect from this network with this iceServers configuration, and how: one report of STUN, TURN, ICE gathering, NAT, port mapping and a relayed WebRTC call',
  args: '[uri...]',
  options: checkOptions,
  run: runCheckCommand,
});

/** The ICE servers to check, from exactly one of: --ice-servers, URIs, --signal; else the default STUN servers. */
async function iceServersOf(args: string[], opts: CheckOptions, ctx: RunContext, ca: Buffer | undefined): Promise<{ list: IceServer[]; source: CheckReport['input']['source'] }> {
  const given = [opts.iceServers !== undefined, args.length > 0, opts.signal !== undefined].filter(Boolean).length;
  if (given > 1) throw new RtcprobeError('USAGE', 'give one of --ice-servers FILE, URIs, or --signal URL');
  const { parseIceServers } = await import('../core/ice/servers.js');
  const { toRtcIceServers } = await import('../core/rtc/ice.js');
  if (opts.iceServers !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.iceServers, 'utf8');
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot read --ice-servers ${opts.iceServers}: ${(err as Error).message}`, { cause: err });
    }
    const list = parseIceServers(text);
    if (list.length === 0) throw new RtcprobeError('USAGE', `${opts.iceServers} lists no ICE server`);
    return { list, source: 'ice-servers' };
  }
  if (opts.signal !== undefined) {
    const { relayIceServers } = await import('../core/check/signal-config.js');
    const list = await relayIceServers({ url: opts.signal, room: opts.room, ...(opts.token ? { token: opts.token } : {}), ...(ca ? { ca } : {}), timeoutMs: Math.max(opts.timeout, 5000), signal: ctx.signal });
    return { list, source: 'signal' };
  }
  if (args.length > 0) {
    const stun = args.filter((a) => !/^turns?:/i.test(a.trim()));
    const turn = args.filter((a) => /^turns?:/i.test(a.trim()));
    const list: IceServer[] = [];
    if (stun.length) list.push({ urls: stun.map((s) => (/^stuns?:/i.test(s) ? s : `stun:${s}`)) });
    if (turn.length) {
      const { user, password, secret } = pickCredentials(opts, ctx.env, false);
      if (secret !== undefined) {
        const { restCredentials } = await import('../core/ice/rest.js');
        const c = restCredentials(secret, { ...(user ? { user } : {}), ttl: opts.ttl, now: Date.now() });
        list.push({ urls: turn, username: c.username, credential: c.password });
      } else {
        if (user === undefined || password === undefined) throw new RtcprobeError('USAGE', 'turn: URIs need --user and --password, or --secret');
        list.push({ urls: turn, username: user, credential: password });
      }
    }
    return { list: toRtcIceServers(list), source: 'uris' };
  }
  return { list: [{ urls: DEFAULT_STUN_SERVERS.map((s) => `stun:${s}`) }], source: 'default' };
}

const STEP_TITLE: Record<StepName, string> = {
  network: '1. This host\'s network',
  servers: '2. STUN and TURN servers',
  gather: '3. ICE gathering (werift, as a browser would)',
  nat: '4. NAT behaviour and port mapping',
  portmap: '4b. Port mapping (UPnP IGD, NAT-PMP, PCP)',
  e2e: '5. End to end: two WebRTC peers through each relay',
};

const PATH_WORDS = { direct: 'direct P2P', 'turn-udp': 'TURN over UDP', 'turn-tcp': 'TURN over TCP', 'turn-tls': 'TURN over TLS', none: 'will not connect', unknown: 'not known' } as const;

function stepHead(name: StepName, s: StepBase, st: Style): string {
  const mark = s.status === 'done' ? '' : s.status === 'skipped' ? ` ${st.c.dim(`(skipped)`)}` : ` ${st.warn} not verified: ${s.reason ?? ''}`;
  return `${st.c.bold(STEP_TITLE[name])}${s.status === 'done' ? st.c.dim(`  (${(s.elapsedMs / 1000).toFixed(2)} s)`) : ''}${mark}`;
}

export function renderCheckHuman(r: CheckReport, st: Style): string {
  const { c } = st;
  const L: string[] = [];
  const v = r.verdict;
  if (r.interrupted) L.push(`${st.fail} ${c.bold('Interrupted before the end: no verdict is earned; what was measured so far follows')}`);
  L.push(`${v.ok ? st.ok : v.connect === 'no' || v.connect === 'unknown' ? st.fail : st.warn} ${c.bold(v.text)}`);
  for (const b of r.broken) L.push(`  ${st.fail} ${b.url}: ${b.cause}`);
  L.push(`  ${r.input.servers.reduce((n, s) => n + s.urls.length, 0)} URL(s) from ${r.input.source === 'default' ? 'the default public STUN servers' : r.input.source === 'signal' ? 'the relay\'s "joined"' : r.input.source === 'uris' ? 'the command line' : 'the --ice-servers file'}; ${(r.elapsedMs / 1000).toFixed(2)} s${r.interrupted ? '; interrupted: results are partial' : ''}`);
  L.push('');

  const s = r.steps;
  L.push(stepHead('network', s.network, st));
  if (s.network.status === 'done') {
    const ext = s.network.interfaces.filter((i) => !i.internal);
    L.push(`    interfaces  ${ext.length ? ext.map((i) => `${i.name} ${i.cidr ?? i.address}`).join(', ') : 'none but loopback'}`);
    L.push(`    IPv4 ${s.network.ipv4 ? 'yes' : 'no'}, IPv6 ${s.network.ipv6 ? 'yes' : 'no'}; default route ${s.network.defaultRoutes.length ? s.network.defaultRoutes.map((d) => `IPv${d.family} via ${d.gateway ?? 'link'} dev ${d.dev}`).join(', ') : 'none'}`);
  }
  const eg = s.network.egress;
  L.push(`    UDP out     ${eg.udp === null ? 'not tried' : eg.udp ? 'yes' : c.red('no answer over UDP')}`);
  for (const t of ['tcp', 'tls'] as const) for (const e of eg[t]) L.push(`    ${t.toUpperCase()} ${String(e.port).padEnd(7)} ${e.ok ? 'gets out' : c.red('no connection')} (${e.url})`);
  L.push('');

  L.push(stepHead('servers', s.servers, st));
  for (const x of s.servers.stun) L.push(`  ${x.ok ? st.ok : st.fail} ${x.url}  ${x.ok ? `mapped ${x.mappedAddress ?? '-'}, RTT ${fmtMs(x.rttMs)} ms` : x.error ?? 'no answer'}`);
  for (const x of s.servers.turn) {
    const note = r.relays.find((p) => p.url === x.url)?.note;
    const mark = x.verdict === 'works' ? st.ok : note ? st.warn : x.verdict === 'failed' ? st.fail : st.warn;
    L.push(`  ${mark} ${x.url}  ${x.verdict === 'works' || note ? `relay ${x.relayedAddress ?? '-'}${x.rttMs !== undefined ? `, relayed RTT ${fmtMs(x.rttMs)} ms` : ''}` : x.headline}`);
    if (note) L.push(`      ${x.headline.replace(/^TURN check failed: /, 'outside-peer test: ')}: ${note}`);
    if (st.verbose) for (const row of x.checks) L.push(`      ${row.status.padEnd(4)} ${row.id.padEnd(22)} ${row.detail}`);
  }
  for (const x of s.servers.invalid) L.push(`  ${st.fail} ${x.url}  ${x.error}`);
  L.push('');

  L.push(stepHead('gather', s.gather, st));
  if (s.gather.status === 'done') {
    const g = s.gather;
    L.push(`    ${g.candidates.length} candidate(s); first after ${fmtMs(g.firstMs)} ms, last after ${fmtMs(g.lastMs)} ms, ${g.timedOut ? 'gathering did not complete in time' : `complete after ${fmtMs(g.completeMs)} ms`}`);
    for (const k of g.candidates) L.push(`    ${String(k.atMs.toFixed(0)).padStart(6)} ms  ${k.type.padEnd(5)} ${k.protocol} ${k.address}:${k.port}${k.relayProtocol ? ` relay over ${k.relayProtocol}` : ''}${k.url ? `  ${k.url}` : ''}`);
    for (const e of g.errors) L.push(`    ${st.fail} ${e.url}: ${e.errorCode !== undefined ? `${e.errorCode} ` : ''}${e.errorText}`);
    for (const u of g.unsupported) L.push(`    ${st.warn} ${u.url}: not verified: ${u.reason}`);
    const uses = g.weriftPeerUses;
    const urls = r.input.servers.reduce((n, x) => n + x.urls.length, 0);
    if (uses && urls > [uses.stun, uses.turn].filter(Boolean).length) L.push(`    ${c.dim(`a werift peer given this configuration uses only ${[uses.stun, uses.turn].filter(Boolean).join(' and ') || 'no server'} (its first STUN and first TURN URL); browsers use every URL`)}`);
  }
  L.push('');

  L.push(stepHead('nat', s.nat, st));
  if (s.nat.status === 'done') {
    L.push(`    NAT type    ${s.nat.natType} (mapping ${s.nat.mapping}, filtering ${s.nat.filtering}) against ${s.nat.server ?? '-'}`);
    if (s.nat.publicAddress) L.push(`    public      ${s.nat.publicAddress}`);
    L.push(`    hairpin     ${s.nat.hairpin === null ? 'not tested' : s.nat.hairpin ? 'yes' : 'no'}`);
  }
  const pm = s.portmap;
  if (pm.status === 'done') {
    const one = (name: string, p?: { present: boolean; externalAddress?: string; error?: string }) => `    ${name.padEnd(11)} ${p?.present ? `${c.green('present')}${p.externalAddress ? `, external address ${p.externalAddress}` : ''}` : `absent${p?.error ? ` (${p.error})` : ''}`}`;
    L.push(`    port mapping on gateway ${pm.gateway ?? '-'}:`);
    L.push(one('UPnP IGD', pm.upnp), one('NAT-PMP', pm.natpmp), one('PCP', pm.pcp));
  } else L.push(`    port mapping: ${pm.status === 'skipped' ? 'skipped' : `not verified: ${pm.reason ?? ''}`}`);
  L.push('');

  L.push(stepHead('e2e', s.e2e, st));
  for (const e of s.e2e.relays) {
    const mark = e.verdict === 'works' ? st.ok : e.verdict === 'failed' ? st.fail : st.warn;
    const what = e.verdict === 'works'
      ? `data channel open in ${fmtMs(e.connectMs?.total)} ms${e.rttMs ? `, RTT p50 ${fmtMs(e.rttMs.p50)} ms (${e.rttMs.samples} probes)` : ''}`
      : e.verdict === 'failed' ? `failed${e.error ? ` in ${e.error.phase}: ${e.error.message}` : ''}` : `not verified: ${e.reason ?? ''}`;
    L.push(`  ${mark} ${e.url}  ${what}`);
  }
  L.push('');

  L.push(c.bold('6. Forecast: a call with a remote peer behind ...'));
  for (const row of r.forecast.rows) L.push(`    ${row.remote.padEnd(21)} ${PATH_WORDS[row.path].padEnd(16)}${st.verbose ? `  ${c.dim(row.why)}` : ''}`.trimEnd());
  L.push(`    ${c.dim(r.forecast.basis)}`);
  return L.join('\n');
}

/** One round's summary line for monitoring events. */
function roundFields(r: CheckReport): Record<string, unknown> {
  return { ok: r.ok && !r.interrupted, connect: r.verdict.connect, verdict: r.verdict.text, broken: r.broken.length, elapsedMs: r.elapsedMs, ...(r.interrupted ? { interrupted: true } : {}) };
}

async function runCheckCommand(args: string[], opts: CheckOptions, ctx: RunContext): Promise<CommandOutcome> {
  if (opts.metricsPort !== undefined && opts.every === undefined) throw new RtcprobeError('USAGE', '--metrics-port needs --every (it serves the latest round of a monitoring run)');
  if (opts.rounds !== undefined && opts.every === undefined) throw new RtcprobeError('USAGE', '--rounds needs --every');
  let ca: Buffer | undefined;
  if (opts.ca !== undefined) {
    try {
      ca = readFileSync(opts.ca);
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot read --ca ${opts.ca}: ${(err as Error).message}`, { cause: err });
    }
  }
  const { list, source } = await iceServersOf(args, opts, ctx, ca);
  const { runCheck } = await import('../core/check/run.js');
  const round = async (signal: AbortSignal, onStep?: (n: StepName, s: StepBase) => void) =>
    runCheck({
      iceServers: list,
      source,
      skip: new Set(opts.skip ?? []),
      timeoutMs: opts.timeout,
      stepTimeoutMs: opts.stepTimeout,
      insecure: opts.insecure,
      ...(ca ? { ca } : {}),
      loopback: opts.loopback,
      ...(opts.hostAddress?.length ? { additionalHostAddresses: opts.hostAddress } : {}),
      ...(opts.gateway ? { gateway: opts.gateway } : {}),
      probes: opts.probes,
      signal,
      now: Date.now(),
      ...(onStep ? { onStep } : {}),
    });

  if (opts.every === undefined) {
    const progress = await ctx.progress('checking: network, servers, gathering, NAT, port mapping, end to end');
    const done: string[] = [];
    try {
      const r = await round(ctx.signal, (n) => {
        done.push(n);
        progress.update(`checking: ${done.length} of ${STEPS.length} steps done (${done.join(', ')})`);
      });
      // An interrupted run is partial: never exit 0 on it (the CLI turns this into 130).
      return { exitCode: r.ok && !r.interrupted ? 0 : 1, json: r, human: (st) => renderCheckHuman(r, st) };
    } finally {
      progress.stop();
    }
  }
  return monitor(opts, ctx, round);
}

/**
 * Monitoring: a round every --every, each reported as a JSON Lines event
 * (`round`, with the full report) and, with --metrics-port, served as
 * Prometheus text. SIGINT/SIGTERM interrupts the round in progress, which
 * still reports what it has, and the run ends with exit 0.
 */
async function monitor(opts: CheckOptions, ctx: RunContext, round: (signal: AbortSignal) => Promise<CheckReport>): Promise<CommandOutcome> {
  const { sleep } = await import('../core/sleep.js');
  const { serveMetrics } = await import('../core/check/metrics.js');
  const state: { rounds: number; last?: CheckReport; lastAt?: number } = { rounds: 0 };
  const every = opts.every!;
  const server = opts.metricsPort !== undefined ? await serveMetrics(opts.metricsHost, opts.metricsPort, state) : undefined;
  const startedAt = new Date().toISOString();
  ctx.onForcedStop(() => ({ rounds: state.rounds, lastOk: state.last?.ok ?? false }));
  try {
    ctx.events.emit('start', { everyMs: every, ...(opts.rounds ? { rounds: opts.rounds } : {}), ...(server ? { metrics: `http://${opts.metricsHost.includes(':') ? `[${opts.metricsHost}]` : opts.metricsHost}:${server.port}/metrics` } : {}) },
      (st) => `${st.c.bold('Monitoring')}: a check every ${every / 1000} s${server ? `; metrics on http://${opts.metricsHost}:${server.port}/metrics` : ''} (Ctrl-C or SIGTERM stops it)`);
    const t0 = performance.now();
    for (let i = 0; opts.rounds === undefined || i < opts.rounds; i++) {
      if (i > 0) {
        try {
          await sleep(Math.max(0, t0 + i * every - performance.now()), ctx.signal);
        } catch {
          break;
        }
      }
      if (ctx.signal.aborted) break;
      const r = await round(ctx.signal);
      if (!r.interrupted) {
        state.rounds++;
        state.last = r;
        state.lastAt = Date.now();
      }
      ctx.events.emit('round', { round: i + 1, ...roundFields(r), report: r }, (st) => `${new Date().toISOString().slice(11, 19)}  round ${i + 1}: ${r.interrupted ? `${st.warn} interrupted, results partial` : `${r.ok ? st.ok : st.fail} ${r.verdict.text}`}`);
      if (ctx.signal.aborted) break;
    }
  } finally {
    await server?.close();
  }
  const last = state.last;
  const interrupted = ctx.signal.aborted;
  const json = { command: 'check', event: 'summary', startedAt, rounds: state.rounds, everyMs: every, interrupted, ok: last?.ok ?? false, ...(last ? { last: roundFields(last) } : {}) };
  // A clean stop (signal) exits 0; a run that ended by --rounds exits as its last round did.
  const exitCode = interrupted ? 0 : last?.ok ? 0 : 1;
  return {
    exitCode,
    json,
    jsonLines: true,
    human: (st) => `${st.c.bold('Monitoring ended')}: ${state.rounds} round(s)${interrupted ? ', stopped by a signal' : ''}; last: ${last ? last.verdict.text : 'none completed'}`,
  };
}

