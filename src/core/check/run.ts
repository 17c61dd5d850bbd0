/**
 * The run of `rtcprobe check`: the steps in parallel, each under its own
 * time limit and the run's AbortSignal, then the relayed paths, the
 * forecast and the verdict. A step that cannot run or finish says "not
 * verified" and why; it never stops the others. Heavy modules (the TURN
 * checks, werift through src/core/rtc) load only when their step runs.
 */
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { redact } from '../secrets.js';
import type { IceServer } from '../ice/servers.js';
import { literalFamily } from '../resolve.js';
import { RFC_RETRANSMIT } from '../stun/retransmit.js';
import { effectiveTransport, parseServer, type ServerSpec, type Transport } from '../uri.js';
import { forecast, verdictOf, type BrokenServer, type RelayPath } from './forecast.js';
import type { CheckRow } from '../turn/report.js';
import type { CheckReport, E2eRow, E2eStep, GatherStep, NatStep, NetworkStep, PortmapStep, ServersStep, StepBase, StepName, StunServerRow, TurnServerRow } from './report.js';

export interface CheckOptions {
  iceServers: IceServer[];
  source: CheckReport['input']['source'];
  /** Steps not to run. */
  skip: ReadonlySet<StepName>;
  /** Limit per network operation (a transaction, a connection), ms. */
  timeoutMs: number;
  /** Limit per step, ms. */
  stepTimeoutMs: number;
  /** TLS to TURN servers: accept a certificate that does not verify. */
  insecure: boolean;
  ca?: Buffer;
  /** Gathering and end to end: also use loopback interfaces (tests on one machine). */
  loopback: boolean;
  /** Host addresses werift should add as host candidates (a namespace's address behind NAT, for instance). */
  additionalHostAddresses?: string[];
  /** The port-mapping probes ask this gateway (default: the IPv4 default route's). */
  gateway?: string;
  /** Probes over the end-to-end data channel. */
  probes: number;
  signal: AbortSignal;
  /** Current time, ms since the epoch (REST credential checks). */
  now: number;
  /** Called when a step ends. */
  onStep?: (name: StepName, step: StepBase) => void;
}

interface UrlTarget {
  url: string;
  spec: ServerSpec;
  transport: Transport;
  port: number;
  server: IceServer;
}

/** Every URL of the configuration, parsed; those that do not parse are listed apart. */
export function targetsOf(list: readonly IceServer[]): { stun: UrlTarget[]; turn: UrlTarget[]; invalid: { url: string; error: string }[] } {
  const stun: UrlTarget[] = [];
  const turn: UrlTarget[] = [];
  const invalid: { url: string; error: string }[] = [];
  for (const server of list) {
    for (const url of server.urls) {
      try {
        const spec = parseServer(url, 'stun');
        const { transport, port } = effectiveTransport(spec);
        const t = { url, spec, transport, port, server };
        (spec.scheme === 'turn' || spec.scheme === 'turns' ? turn : stun).push(t);
      } catch (err) {
        invalid.push({ url, error: toRtcprobeError(err).message });
      }
    }
  }
  return { stun, turn, invalid };
}

type Timed<T> = { ok: true; value: T; elapsedMs: number } | { ok: false; reason: string; elapsedMs: number };

/** Run one step under its limit and the run's signal; a failure or timeout becomes a reason. */
async function timed<T>(limitMs: number, signal: AbortSignal, fn: (signal: AbortSignal) => Promise<T>): Promise<Timed<T>> {
  const t0 = performance.now();
  const ctl = new AbortController();
  const stop = () => ctl.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      ctl.abort(new RtcprobeError('TIMEOUT', `step limit of ${limitMs} ms`));
      resolve('timeout');
    }, limitMs);
  });
  const elapsed = () => Math.round(performance.now() - t0);
  try {
    const r = await Promise.race([fn(ctl.signal), limit]);
    if (r === 'timeout') return { ok: false, reason: `did not finish within the step limit of ${limitMs} ms`, elapsedMs: elapsed() };
    return { ok: true, value: r as T, elapsedMs: elapsed() };
  } catch (err) {
    const e = toRtcprobeError(err);
    if (signal.aborted) return { ok: false, reason: 'interrupted', elapsedMs: elapsed() };
    return { ok: false, reason: `${e.code}: ${e.message}`, elapsedMs: elapsed() };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', stop);
  }
}

const skipped = (): StepBase => ({ status: 'skipped', reason: 'not asked for (--skip)', elapsedMs: 0 });

async function stunRows(targets: UrlTarget[], o: CheckOptions, signal: AbortSignal): Promise<StunServerRow[]> {
  const { probeStunServer } = await import('../stun/probe.js');
  return Promise.all(targets.map(async (t): Promise<StunServerRow> => {
    const r = await probeStunServer(t.spec, {
      family: literalFamily(t.spec.host) ?? 4,
      count: 3,
      interval: 20,
      timeout: o.timeoutMs,
      retransmit: RFC_RETRANSMIT,
      insecure: o.insecure,
      ...(o.ca ? { ca: o.ca } : {}),
      signal,
    });
    return {
      url: t.url,
      transport: r.transport,
      ok: r.ok,
      ...(r.mappedAddress ? { mappedAddress: `${r.mappedAddress.family === 6 ? `[${r.mappedAddress.address}]` : r.mappedAddress.address}:${r.mappedAddress.port}` } : {}),
      ...(r.rtt ? { rttMs: r.rtt.median } : {}),
      ...(r.error ? { error: `${r.error.code}: ${r.error.message}` } : {}),
    };
  }));
}

/** The short form of `rtcprobe turn` for each URL, all at once: reach, auth, allocation, relayed path with an outside peer. */
async function turnRows(targets: UrlTarget[], o: CheckOptions, signal: AbortSignal): Promise<TurnServerRow[]> {
  const { runTurnChecks } = await import('../turn/checks.js');
  return Promise.all(targets.map(async (t): Promise<TurnServerRow> => {
    const t0 = performance.now();
    const c = t.server.username !== undefined && t.server.credential !== undefined ? { username: t.server.username, password: t.server.credential } : undefined;
    const report = await runTurnChecks([{ spec: t.spec, origin: 'ice-servers', ...(c ? { credentials: c, source: 'ice-servers' as const } : {}) }], {
      family: literalFamily(t.spec.host) ?? 4,
      timeout: o.timeoutMs,
      count: 10,
      size: 100,
      rate: 50,
      security: false,
      quota: 0,
      tcpRelay: false,
      insecure: o.insecure,
      ...(o.ca ? { ca: o.ca } : {}),
      now: o.now,
      signal,
    });
    const reach = report.checks.find((r) => r.id.endsWith('.reach'));
    const info = report.servers[0];
    const path = report.paths.find((p) => p.received > 0);
    return {
      url: t.url,
      transport: t.transport,
      port: t.port,
      verdict: report.verdict,
      headline: report.headline.text,
      ...(info?.relayed ? { relayedAddress: info.relayed } : {}),
      ...(path?.rtt ? { rttMs: path.rtt.median } : {}),
      answered: reach?.status === 'pass',
      checks: report.checks,
      elapsedMs: Math.round(performance.now() - t0),
    };
  }));
}

/** The UDP servers the NAT tests run against: the configuration's stun: URLs, else its UDP TURN servers (which answer Binding too). */
function natServers(stun: UrlTarget[], turn: UrlTarget[]): ServerSpec[] {
  const udpStun = stun.filter((t) => t.transport === 'udp').map((t) => t.spec);
  if (udpStun.length) return udpStun;
  const seen = new Set<string>();
  const out: ServerSpec[] = [];
  for (const t of turn.filter((x) => x.transport === 'udp')) {
    const key = `${t.spec.host}|${t.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(parseServer(t.spec.host.includes(':') ? `[${t.spec.host}]:${t.port}` : `${t.spec.host}:${t.port}`, 'stun'));
  }
  return out;
}

async function natStep(servers: ServerSpec[], o: CheckOptions, signal: AbortSignal): Promise<Omit<NatStep, 'status' | 'elapsedMs'>> {
  const { runNatFamily } = await import('../nat/runner.js');
  const r = await runNatFamily({
    servers,
    family: literalFamily(servers[0]!.host) ?? 4,
    retransmit: RFC_RETRANSMIT,
    timeout: o.timeoutMs,
    wait: 500,
    minRto: 50,
    hairpin: true,
    lifetime: 0,
    signal,
  });
  const v = r.verdict;
  const pub = v.publicAddress;
  return {
    server: r.observations.server,
    natType: v.natType,
    mapping: v.mapping,
    filtering: v.filtering,
    rating: v.rating,
    udpBlocked: v.udpBlocked,
    ...(pub ? { publicAddress: pub.address.includes(':') ? `[${pub.address}]:${pub.port}` : `${pub.address}:${pub.port}` } : {}),
    hairpin: v.hairpin,
    text: v.forecast.text,
  };
}

const NAT_UNKNOWN = { natType: 'unknown', mapping: 'unknown', filtering: 'unknown', rating: 'unknown', udpBlocked: false, hairpin: null } as const;

/** TLS for turns: URLs in the werift steps, as the TURN checks take it (--ca, --insecure). */
const tlsOf = (o: CheckOptions) => (o.ca || o.insecure ? { tls: { ...(o.ca ? { ca: o.ca } : {}), ...(o.insecure ? { rejectUnauthorized: false } : {}) } } : {});

/** The gatherer and the end-to-end check live in src/core/rtc (werift); loaded only when their step runs. */
async function gatherStep(o: CheckOptions, signal: AbortSignal): Promise<Omit<GatherStep, 'status' | 'elapsedMs'>> {
  const { gatherCandidates } = await import('../rtc/gather.js');
  const r = await gatherCandidates({
    iceServers: o.iceServers,
    timeoutMs: o.stepTimeoutMs,
    signal,
    loopback: o.loopback,
    ...(o.additionalHostAddresses?.length ? { additionalHostAddresses: o.additionalHostAddresses } : {}),
    ...tlsOf(o),
  });
  return {
    candidates: r.candidates.map((c) => ({ type: c.type, protocol: c.protocol, address: c.address, port: c.port, ...(c.relayProtocol ? { relayProtocol: c.relayProtocol } : {}), ...(c.url ? { url: c.url } : {}), atMs: c.atMs })),
    errors: r.errors,
    unsupported: r.unsupported,
    weriftPeerUses: r.weriftPeerUses,
    ...(r.firstMs !== undefined ? { firstMs: r.firstMs } : {}),
    ...(r.lastMs !== undefined ? { lastMs: r.lastMs } : {}),
    ...(r.completeMs !== undefined ? { completeMs: r.completeMs } : {}),
    timedOut: r.timedOut,
  };
}

async function e2eStep(turn: UrlTarget[], o: CheckOptions, signal: AbortSignal): Promise<E2eRow[]> {
  const { relayEndToEnd } = await import('../rtc/relay-e2e.js');
  return Promise.all(turn.map(async (t): Promise<E2eRow> => {
    try {
      const r = await relayEndToEnd({
        server: { urls: [t.url], ...(t.server.username !== undefined ? { username: t.server.username } : {}), ...(t.server.credential !== undefined ? { credential: t.server.credential } : {}) },
        timeoutMs: Math.max(1000, o.stepTimeoutMs - 500),
        signal,
        probes: o.probes,
        ...(o.additionalHostAddresses?.length ? { additionalHostAddresses: o.additionalHostAddresses } : {}),
        ...tlsOf(o),
      });
      return {
        url: t.url,
        transport: r.transport,
        verdict: r.verdict,
        ...(r.connectMs ? { connectMs: r.connectMs } : {}),
        ...(r.rttMs ? { rttMs: r.rttMs } : {}),
        ...(r.pair ? { pair: r.pair } : {}),
        ...(r.error ? { error: r.error } : {}),
        ...(r.reason ? { reason: r.reason } : {}),
      };
    } catch (err) {
      const e = toRtcprobeError(err);
      return { url: t.url, transport: t.transport, verdict: 'not-verified', reason: `${e.code}: ${e.message}` };
    }
  }));
}

/** The host part of a URL target, for "does this host answer over another transport?". */
const hostOf = (t: { spec: ServerSpec }) => t.spec.host.toLowerCase();

/**
 * The relayed paths, one per TURN URL: the TURN checks say works / failed /
 * no answer; the end-to-end data channel, when it ran, has the last word.
 * No answer counts as blocked when the same host answered over another
 * transport but never over this one (the server is up; this network stops
 * that transport), else the server is dead. `answered` holds "host" and
 * "host|transport" for every URL that got an answer. Pure.
 */
export function relayPathsOf(
  turn: readonly TurnServerRow[],
  e2e: readonly E2eRow[],
  answered: ReadonlySet<string>,
  hostOfUrl: (url: string) => string,
  /** Why this host's own network explains a failed row (its NAT's filtering), or undefined. */
  excuse: (row: CheckRow) => string | undefined = () => undefined,
): { relays: RelayPath[]; broken: BrokenServer[] } {
  const relays: RelayPath[] = [];
  const broken: BrokenServer[] = [];
  for (const r of turn) {
    const fails = r.checks.filter((c) => c.status === 'fail');
    const firstFail = fails.find((c) => excuse(c) === undefined);
    const excused = fails.map(excuse).filter((x): x is string => x !== undefined);
    let p: RelayPath;
    if (r.verdict === 'works') p = { url: r.url, transport: r.transport, port: r.port, status: 'works', provenBy: 'turn' };
    else if (r.verdict === 'failed' && r.answered && !firstFail && r.relayedAddress) {
      // Only rows this network explains failed: the server relayed, this host's NAT dropped the outside-peer test.
      p = { url: r.url, transport: r.transport, port: r.port, status: 'works', provenBy: 'turn', note: excused[0]! };
    }
    else if (!r.answered) {
      const cause = firstFail?.detail ?? 'no answer';
      const host = hostOfUrl(r.url);
      if (answered.has(host) && !answered.has(`${host}|${r.transport}`)) p = { url: r.url, transport: r.transport, port: r.port, status: 'blocked', cause };
      else {
        p = { url: r.url, transport: r.transport, port: r.port, status: 'failed', cause };
        broken.push({ url: r.url, cause: `no answer: ${cause}` });
      }
    } else if (r.verdict === 'failed') {
      p = { url: r.url, transport: r.transport, port: r.port, status: 'failed', cause: firstFail?.detail ?? r.headline };
      broken.push({ url: r.url, cause: firstFail?.detail ?? r.headline });
    } else p = { url: r.url, transport: r.transport, port: r.port, status: 'not-verified', cause: r.headline };
    const e = e2e.find((x) => x.url === r.url);
    if (e?.verdict === 'works') p = { ...p, status: 'works', provenBy: 'e2e' };
    else if (e?.verdict === 'failed' && p.status === 'works') p = { ...p, status: 'failed', provenBy: 'e2e', cause: `end to end: ${e.error ? `${e.error.phase}: ${e.error.message}` : e.reason ?? 'failed'}` };
    relays.push(p);
  }
  return { relays, broken };
}

/** Run every step that is not skipped, in parallel, and judge. Never throws for network trouble. */
export async function runCheck(o: CheckOptions): Promise<CheckReport> {
  const t0 = performance.now();
  const { stun, turn, invalid } = targetsOf(o.iceServers);
  const want = (s: StepName) => !o.skip.has(s);
  const report = <T extends object>(name: StepName, r: Timed<T>, empty: T): T & StepBase => {
    const step = r.ok ? { status: 'done' as const, elapsedMs: r.elapsedMs, ...r.value } : { status: 'not-verified' as const, reason: r.reason, elapsedMs: r.elapsedMs, ...empty };
    o.onStep?.(name, step);
    return step;
  };
  const notRun = <T extends object>(name: StepName, reason: string | undefined, empty: T): T & StepBase => {
    const step = reason ? { status: 'not-verified' as const, reason, elapsedMs: 0, ...empty } : { ...skipped(), ...empty };
    o.onStep?.(name, step);
    return step;
  };

  const serversP = want('servers')
    ? timed(o.stepTimeoutMs, o.signal, async (s) => {
      const [stunR, turnR] = await Promise.all([stunRows(stun, o, s), turnRows(turn, o, s)]);
      return { stun: stunR, turn: turnR, invalid };
    }).then((r) => report('servers', r, { stun: [], turn: [], invalid }))
    : Promise.resolve(notRun('servers', undefined, { stun: [], turn: [], invalid } as Omit<ServersStep, keyof StepBase>));
  const natList = natServers(stun, turn);
  const natP = !want('nat')
    ? Promise.resolve(notRun('nat', undefined, { ...NAT_UNKNOWN }))
    : natList.length === 0
      ? Promise.resolve(notRun('nat', 'no UDP STUN or TURN server in the configuration to test against', { ...NAT_UNKNOWN }))
      : timed(o.stepTimeoutMs, o.signal, (s) => natStep(natList, o, s)).then((r) => report('nat', r, { ...NAT_UNKNOWN }));
  const portmapP = want('portmap')
    ? timed(o.stepTimeoutMs, o.signal, async (s): Promise<Omit<PortmapStep, keyof StepBase>> => {
      const { probePortmap } = await import('../portmap/probe.js');
      const r = await probePortmap({ timeoutMs: Math.min(o.stepTimeoutMs, Math.max(1000, o.timeoutMs)), signal: s, ...(o.gateway ? { gateway: o.gateway } : {}) });
      return { gateway: r.gateway, upnp: r.upnp, natpmp: r.natpmp, pcp: r.pcp };
    }).then((r) => report('portmap', r, {}))
    : Promise.resolve(notRun('portmap', undefined, {}));
  const emptyGather = { candidates: [], errors: [], unsupported: [] };
  const gatherP = want('gather')
    ? timed(o.stepTimeoutMs + 1000, o.signal, (s) => gatherStep(o, s)).then((r) => report('gather', r, emptyGather))
    : Promise.resolve(notRun('gather', undefined, emptyGather));
  const e2eP = !want('e2e')
    ? Promise.resolve(notRun('e2e', undefined, { relays: [] as E2eRow[] }))
    : turn.length === 0
      ? Promise.resolve(notRun('e2e', 'no TURN server in the configuration', { relays: [] as E2eRow[] }))
      : timed(o.stepTimeoutMs + 1000, o.signal, async (s) => ({ relays: await e2eStep(turn, o, s) })).then((r) => report('e2e', r, { relays: [] as E2eRow[] }));
  const netP = want('network')
    ? timed(o.stepTimeoutMs, o.signal, async () => (await import('./network.js')).hostNetwork())
    : undefined;

  const [servers, nat, portmap, gather, e2e, net] = await Promise.all([serversP, natP, portmapP, gatherP, e2eP, netP]);

  // Which hosts answered over some URL: a silent URL of such a host is blocked, not dead.
  const targetByUrl = new Map([...stun, ...turn].map((t) => [t.url, t]));
  const hostOfUrl = (url: string) => (targetByUrl.get(url) ? hostOf(targetByUrl.get(url)!) : url);
  const answered = new Set<string>();
  for (const r of [...servers.stun.filter((x) => x.ok), ...servers.turn.filter((x) => x.answered)]) {
    answered.add(hostOfUrl(r.url));
    answered.add(`${hostOfUrl(r.url)}|${r.transport}`);
  }
  // The outside-peer test sends from the relayed address to this host's mapped address: a NAT that filters by address and port drops it.
  const filtering = nat.status === 'done' && (nat.filtering === 'address-and-port-dependent' || nat.filtering === 'address-dependent' || nat.natType === 'symmetric');
  const excuse = (row: CheckRow) =>
    filtering && /\.relay-to-peer$/.test(row.id)
      ? `the relay's datagrams to this host's outside address were dropped by this host's NAT (${nat.natType}, filtering ${nat.filtering}), which admits only the server's own address and port: not a fault of the server`
      : undefined;
  const { relays, broken } = relayPathsOf(servers.turn, e2e.relays, answered, hostOfUrl, excuse);
  // TURN URLs the server checks did not cover (--skip servers): the end-to-end call alone, or not verified.
  for (const t of turn) {
    if (relays.some((p) => p.url === t.url)) continue;
    const e = e2e.relays.find((x) => x.url === t.url);
    const status = e?.verdict === 'works' ? 'works' : e?.verdict === 'failed' ? 'failed' : 'not-verified';
    const cause = e?.verdict === 'works' ? undefined : e?.error ? `end to end: ${e.error.phase}: ${e.error.message}` : e?.reason ?? 'not checked';
    relays.push({ url: t.url, transport: t.transport, port: t.port, status, ...(e ? { provenBy: 'e2e' as const } : {}), ...(cause ? { cause } : {}) });
  }
  for (const s of servers.stun) {
    if (s.ok) continue;
    const host = hostOfUrl(s.url);
    if (!(answered.has(host) && !answered.has(`${host}|${s.transport}`))) broken.push({ url: s.url, cause: s.error ?? 'no answer' });
  }
  for (const i of invalid) broken.push({ url: i.url, cause: i.error });

  // UDP leaves the network when a server answered over UDP, or refused it (ICMP port unreachable came back from the
  // server's host); it does not when every UDP attempt went unanswered.
  const udpStun = servers.stun.filter((r) => r.transport === 'udp');
  const udpTurn = servers.turn.filter((r) => r.transport === 'udp');
  const refused = (text: string | undefined) => /ECONNREFUSED/.test(text ?? '');
  const udpOk = udpStun.some((r) => r.ok || refused(r.error)) || udpTurn.some((r) => r.answered || r.checks.some((c) => c.id.endsWith('.reach') && refused(c.detail)))
    || (nat.status === 'done' && nat.natType !== 'udp-blocked' && nat.natType !== 'unknown');
  const udp: boolean | null = udpOk ? true : udpStun.length + udpTurn.length > 0 || (nat.status === 'done' && nat.udpBlocked) ? false : null;
  const stream = (t: Transport) => servers.turn.filter((r) => r.transport === t).map((r) => ({ url: r.url, port: r.port, ok: r.answered }));
  const egress = { udp, tcp: stream('tcp'), tls: stream('tls') };
  let network: NetworkStep;
  if (!net) network = { ...skipped(), interfaces: [], defaultRoutes: [], ipv4: false, ipv6: false, egress };
  else if (net.ok) network = { status: 'done', elapsedMs: net.elapsedMs, ...net.value, egress };
  else network = { status: 'not-verified', reason: net.reason, elapsedMs: net.elapsedMs, interfaces: [], defaultRoutes: [], ipv4: false, ipv6: false, egress };
  o.onStep?.('network', network);

  const f = forecast({ natType: nat.natType, mapping: nat.mapping, udp, relays });
  const verdict = verdictOf(f, relays, broken);
  const out: CheckReport = {
    command: 'check',
    ok: verdict.ok,
    verdict,
    input: { source: o.source, servers: o.iceServers.map((s) => ({ urls: s.urls, username: s.username !== undefined, credential: s.credential !== undefined })) },
    steps: { network, servers, gather, nat, portmap, e2e },
    relays,
    forecast: f,
    broken,
    elapsedMs: Math.round(performance.now() - t0),
    ...(o.signal.aborted ? { interrupted: true } : {}),
  };
  // A safety net: no step puts a credential in its text, but remote and library error texts are not ours.
  const secrets = o.iceServers.flatMap((x) => [x.credential]);
  return secrets.some((x) => x !== undefined && x.length >= 8) ? (JSON.parse(redact(JSON.stringify(out), secrets)) as CheckReport) : out;
}
