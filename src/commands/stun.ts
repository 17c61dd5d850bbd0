import { InvalidArgumentError } from 'commander';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { IdnNames } from '../core/dns/idn.js';
import { hintFor, RtcprobeError } from '../core/errors.js';
import type { StunProbeOptions, StunServerResult } from '../core/stun-probe.js';
import type { MappingChange, WatchServerSummary } from '../core/stun/mapping-watch.js';
import { ADDRESS_CLASS_LABEL, classifyAddress, type AddressClass } from '../core/stun/address-class.js';
import { familyFor } from '../core/resolve.js';
import { formatHostPort, parseServer, type ServerSpec } from '../core/uri.js';
import { fmtMs, fmtPct, type CommandOutcome, type Style } from '../output.js';
import { collect, defineCommand, defineOptions, intOption, type OptionValues } from './options.js';
import { RETRANSMIT_OPTIONS, retransmitFrom, TLS_OPTIONS, timeoutOption } from './shared-options.js';
import type { RunContext } from './context.js';

/** Servers queried when none is given. Public, well known, answer on UDP 3478/19302. */
export const DEFAULT_STUN_SERVERS = [
  'stun.l.google.com:19302',
  'stun1.l.google.com:19302',
  'stun.cloudflare.com:3478',
];

export interface FamilyVerdict {
  family: 4 | 6;
  answered: number;
  total: number;
  publicAddresses: string[];
  agree: boolean | null;
}

export interface StunJson {
  command: 'stun';
  ok: boolean;
  verdict: {
    answered: number;
    total: number;
    /** Distinct mapped IP addresses seen across servers (whatever their class). */
    publicAddresses: string[];
    /**
     * True when every answering server saw the same mapped IP (per family
     * under --family both); null when no server answered: no data, no claim.
     */
    agree: boolean | null;
    alg: boolean;
    /** The addresses of publicAddresses with their class (loopback, private, cgnat, link-local, public). */
    addresses: { address: string; class: AddressClass }[];
    /** Under --family both: the same figures per family. */
    byFamily?: FamilyVerdict[];
  };
  servers: StunServerResult[];
  /** Watch mode only (--every / --duration). */
  event?: 'summary';
  watch?: WatchJson;
}

export interface WatchJson {
  everyMs: number;
  durationMs: number | null;
  startedAt: string;
  endedAt: string;
  rounds: number;
  /** Stopped by SIGINT/SIGTERM before --duration ran out. */
  interrupted: boolean;
  /** No NAT mapping change seen; null when no server answered twice. */
  stable: boolean | null;
  changes: (Omit<MappingChange, 'at' | 'previousAt'> & { at: string; previousAt: string })[];
  servers: (Omit<WatchServerSummary, 'firstAnswerAt' | 'lastAnswerAt'> & { firstAnswerAt: string | null; lastAnswerAt: string | null })[];
}

function familyVerdict(family: 4 | 6, servers: StunServerResult[]): FamilyVerdict {
  const mine = servers.filter((s) => s.family === family);
  const answered = mine.filter((s) => s.ok);
  const publicAddresses = [...new Set(answered.map((s) => s.mappedAddress!.address))];
  return { family, answered: answered.length, total: mine.length, publicAddresses, agree: answered.length === 0 ? null : publicAddresses.length <= 1 };
}

export function verdictOf(servers: StunServerResult[], both = false): StunJson['verdict'] {
  const answered = servers.filter((s) => s.ok);
  const publicAddresses = [...new Set(answered.map((s) => s.mappedAddress!.address))];
  const families = ([4, 6] as const).map((f) => familyVerdict(f, servers)).filter((f) => f.total > 0);
  return {
    answered: answered.length,
    total: servers.length,
    publicAddresses,
    agree: answered.length === 0 ? null : families.every((f) => f.agree !== false),
    alg: answered.some((s) => s.alg),
    addresses: publicAddresses.map((address) => ({ address, class: classifyAddress(address) })),
    ...(both ? { byFamily: families } : {}),
  };
}

const addr = (a?: { address: string; port: number }) => (a ? formatHostPort(a.address, a.port) : '-');

const CLASS_NOTE: Record<AddressClass, string> = {
  public: '',
  loopback: 'the server runs on this host; this is not the address others see',
  private: 'the server is inside a private network with you; not the address the Internet sees',
  cgnat: 'a carrier-grade NAT (RFC 6598) is in between or the server shares it; not an Internet-facing address',
  'link-local': 'the server is on the local link; not the address the Internet sees',
};

function humanServer(s: StunServerResult, st: Style): string[] {
  const { c } = st;
  const head = `${s.ok ? st.ok : st.fail} ${c.bold(s.server)}  ${s.transport.toUpperCase()}/IPv${s.family}`;
  const lines = [head];
  const row = (k: string, v: string) => lines.push(`    ${k.padEnd(10)} ${v}`);
  if (s.error) row('error', c.red(`${s.error.code}: ${s.error.message}`));
  if (s.error && hintFor(s.error.code)) row('hint', hintFor(s.error.code)!);
  if (s.idn) row('name', `${s.idn.unicode} (ASCII ${s.idn.ascii})`);
  if (s.srv) {
    row('SRV', s.srv.fallback
      ? `${s.srv.query}: ${s.srv.error ?? 'nothing usable'}; default port used`
      : `${s.srv.query} -> ${s.srv.target ? formatHostPort(s.srv.target.host, s.srv.target.port) : '-'} (${s.srv.records.length} record(s))`);
  }
  if (s.resolvedAddress) row('server', addr(s.resolvedAddress));
  if (s.localAddress) row('local', addr(s.localAddress));
  if (s.mappedAddress) {
    row('mapped', `${addr(s.mappedAddress)}${s.mappedAddressClass ? ` (${s.mappedAddressClass})` : ''}` + (s.mappingChanged ? c.yellow('  (changed between requests)') : ''));
  }
  if (s.alg) row('ALG', c.yellow(`MAPPED-ADDRESS ${addr(s.legacyMappedAddress)} differs from XOR-MAPPED-ADDRESS: a middlebox rewrites addresses`));
  if (s.responseOrigin) row('origin', addr(s.responseOrigin));
  if (s.sourceAddress) row('source', `${addr(s.sourceAddress)} (SOURCE-ADDRESS, RFC 3489)`);
  if (s.changedAddress) row('changed', `${addr(s.changedAddress)} (CHANGED-ADDRESS, RFC 3489)`);
  if (s.ok) {
    row('RFC 5780', s.otherAddress
      ? `yes, OTHER-ADDRESS ${addr(s.otherAddress)}`
      : s.classic
        ? 'no OTHER-ADDRESS: a classic RFC 3489 server (MAPPED-ADDRESS with SOURCE-/CHANGED-ADDRESS)'
        : 'no OTHER-ADDRESS (NAT behaviour tests unsupported)');
  }
  if (s.software !== undefined) row('software', s.software);
  if (s.tls) row('TLS', `${s.tls.protocol ?? ''} ${s.tls.authorized ? 'certificate trusted' : c.yellow(`certificate NOT trusted: ${s.tls.authorizationError}`)}`);
  if (s.errorResponse) row('response', c.yellow(`error ${s.errorResponse.code} ${s.errorResponse.reason}`));
  if (s.sent > 0) {
    const r = s.rtt;
    const rtt = r ? `min ${fmtMs(r.min)}  median ${fmtMs(r.median)}  p95 ${fmtMs(r.p95)}  max ${fmtMs(r.max)} ms` : 'no sample';
    row('rtt', `${rtt}  (${s.received}/${s.sent} answered, loss ${fmtPct(s.loss ?? 0)}${s.retransmissions ? `, ${s.retransmissions} retransmission(s)` : ''})`);
  }
  if (s.ignored.length > 0) {
    row('ignored', `${s.ignored.length} packet(s)${st.verbose ? ':' : ' (--verbose lists them)'}`);
    if (st.verbose) for (const m of s.ignored) lines.push(`      - ${m.reason} from ${addr(m.from)}: ${m.detail}`);
  }
  return lines;
}

/** The verdict line(s) for one family's (or all) answers. */
function verdictLines(v: { answered: number; total: number; publicAddresses: string[]; agree: boolean | null }, st: Style, prefix = ''): string[] {
  const { c } = st;
  if (v.answered === 0) return [`${st.fail} ${c.bold(`${prefix}No STUN server answered`)} (${v.total} tried)`];
  if (v.agree) {
    const a = v.publicAddresses[0]!;
    const cls = classifyAddress(a);
    const note = CLASS_NOTE[cls];
    return [`${cls === 'public' ? st.ok : st.warn} ${c.bold(`${prefix}${ADDRESS_CLASS_LABEL[cls]} ${a}`)}: ${v.answered}/${v.total} server(s) answered${v.answered > 1 ? ' and agree' : ''}${note ? ` (${note})` : ''}`];
  }
  const list = v.publicAddresses.map((a) => `${a} (${classifyAddress(a)})`).join(', ');
  return [`${st.warn} ${c.bold(`${prefix}Servers disagree on the mapped address: ${list}`)} (${v.answered}/${v.total} answered; several uplinks or a NAT pool)`];
}

export function renderStunHuman(j: StunJson, st: Style): string {
  const v = j.verdict;
  const lines: string[] = [];
  if (v.byFamily) for (const f of v.byFamily) lines.push(...verdictLines(f, st, `IPv${f.family}: `));
  else lines.push(...verdictLines(v, st));
  if (v.alg) lines.push(`${st.warn} An ALG rewrites STUN addresses on this path (MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS)`);
  lines.push('');
  for (const s of j.servers) lines.push(...humanServer(s, st));
  return lines.join('\n');
}

/** Parse a duration: `500ms`, `10s`, `2m`, `1h`; a bare number is seconds. */
export function parseDuration(value: string, min = 1, max = 7 * 24 * 3600 * 1000): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError(`"${value}" is not a duration (e.g. 500ms, 10s, 2m, 1h).`);
  const unit = (m[2] ?? 's').toLowerCase();
  const ms = Math.round(Number(m[1]) * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60000 : 3600000));
  if (ms < min || ms > max) throw new InvalidArgumentError(`must be between ${min} ms and ${max / 3600000} h.`);
  return ms;
}

/** Default pause between rounds when only --duration is given. */
export const DEFAULT_EVERY_MS = 5000;

const stunOptions = defineOptions([
  { flags: '-c, --count <n>', description: 'Binding requests per server', default: 5, parse: intOption(1, 10000) },
  { flags: '-i, --interval <ms>', description: 'pause between requests to one server', default: 20, parse: intOption(0, 60000) },
  timeoutOption('per-request limit, retransmissions included', { default: 3000, min: 1 }),
  { flags: '--transport <proto>', description: 'udp, tcp or tls (stuns: URIs imply tls)', choices: ['udp', 'tcp', 'tls'] },
  { flags: '-f, --family <n>', description: 'IP family: 4, 6 or both (default: an IP literal\'s own, else 4)', choices: ['4', '6', 'both'] },
  ...RETRANSMIT_OPTIONS,
  ...TLS_OPTIONS,
  { flags: '--every <dur>', description: 'watch mode: repeat the probe every <dur> (500ms, 10s, 2m) and follow the mapped address', parse: (v: string) => parseDuration(v, 100) },
  { flags: '--duration <dur>', description: 'watch mode: stop after <dur> (default: until interrupted)', parse: (v: string) => parseDuration(v, 1) },
  { flags: '--dns-server <ip[:port]>', description: 'ask this DNS server (SRV, A, AAAA) instead of the system resolver; repeatable', parse: collect },
  { flags: '--no-srv', description: 'do not look up SRV records for host names given without a port' },
]);

type StunOptions = OptionValues<typeof stunOptions>;

export const stunCommand = defineCommand({
  name: 'stun',
  summary: 'query STUN servers: public address, RFC 5780 support, RTT and loss',
  args: '[server...]',
  options: stunOptions,
  run: runStun,
});

interface Target {
  spec: ServerSpec;
  family: 4 | 6;
  idn?: IdnNames;
}

async function runStun(args: string[], opts: StunOptions, ctx: RunContext): Promise<CommandOutcome> {
  const inputs = args.length > 0 ? args : DEFAULT_STUN_SERVERS;
  const { asciiServerArgument } = await import('../core/dns/idn.js');
  const { checkDnsServer, createDnsClient } = await import('../core/dns/client.js');
  // Parse everything before touching the network: one bad argument is a usage error.
  const parsed = inputs.map((input) => {
    const { argument, idn } = asciiServerArgument(input);
    const spec = { ...parseServer(argument, 'stun'), input };
    return { spec, ...(idn ? { idn } : {}) };
  });
  const { effectiveTransport, probeStunServer } = await import('../core/stun-probe.js');
  for (const { spec: s } of parsed) {
    if (s.scheme === 'turn' || s.scheme === 'turns') {
      throw new RtcprobeError('BAD_SERVER', `"${s.input}" is a TURN URI; use "rtcprobe turn" for TURN servers`);
    }
    effectiveTransport(s, opts.transport);
  }
  let ca: Buffer | undefined;
  if (opts.ca !== undefined) {
    try {
      ca = readFileSync(opts.ca);
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot read --ca ${opts.ca}: ${(err as Error).message}`, { cause: err });
    }
  }
  const dnsServers = (opts.dnsServer ?? []).map(checkDnsServer);
  const both = opts.family === 'both';
  // Under --family both an IP literal is probed in its own family only.
  const targets: Target[] = parsed.flatMap(({ spec, idn }) => {
    const literal = isIP(spec.host);
    const families: (4 | 6)[] = both ? (literal ? [literal as 4 | 6] : [4, 6]) : [familyFor(spec.host, opts.family)];
    return families.map((family) => ({ spec, family, ...(idn ? { idn } : {}) }));
  });
  const dns = createDnsClient({ ...(dnsServers.length ? { servers: dnsServers } : {}), timeout: opts.timeout });

  const probe = (t: Target, extra: Partial<StunProbeOptions> = {}) =>
    probeStunServer(t.spec, {
      ...(opts.transport ? { transport: opts.transport } : {}),
      family: t.family,
      count: opts.count,
      interval: opts.interval,
      timeout: opts.timeout,
      retransmit: retransmitFrom(opts),
      insecure: opts.insecure,
      ...(ca ? { ca } : {}),
      signal: ctx.signal,
      dns,
      srv: opts.srv,
      ...(t.idn ? { idn: t.idn } : {}),
      ...extra,
    });

  try {
    if (opts.every !== undefined || opts.duration !== undefined) {
      return await runWatch(targets, probe, opts, ctx, both);
    }
    const progress = await ctx.progress(`querying ${targets.length} STUN server(s)`);
    let done = 0;
    try {
      const servers = await Promise.all(
        targets.map(async (t) => {
          const r = await probe(t);
          progress.update(`${++done}/${targets.length} STUN server(s) done`);
          return r;
        }),
      );
      const json: StunJson = { command: 'stun', ok: false, verdict: verdictOf(servers, both), servers };
      json.ok = json.verdict.answered > 0;
      return { exitCode: json.ok ? 0 : 1, json, human: (st) => renderStunHuman(json, st) };
    } finally {
      progress.stop();
    }
  } finally {
    dns.cancel();
  }
}

type Probe = (t: Target, extra?: Partial<StunProbeOptions>) => Promise<StunServerResult>;

const iso = (ms: number) => new Date(ms).toISOString();
const clock = (ms: number) => iso(ms).slice(11, 19);

/**
 * Watch mode: one probe of every server per round, every `--every`, until
 * `--duration` runs out or a signal stops it. UDP rounds reuse the local
 * port of the first answer, so that what is followed is the NAT's mapping
 * of one local endpoint.
 */
async function runWatch(targets: Target[], probe: Probe, opts: StunOptions, ctx: RunContext, both: boolean): Promise<CommandOutcome> {
  const { MappingTracker } = await import('../core/stun/mapping-watch.js');
  const { sleep } = await import('../core/sleep.js');
  const every = opts.every ?? DEFAULT_EVERY_MS;
  const duration = opts.duration ?? null;
  const tracker = new MappingTracker();
  const localPorts = new Map<number, number>();
  const startedAt = Date.now();
  const t0 = performance.now();
  let last: StunServerResult[] = [];
  let interrupted = false;
  const allChanges: MappingChange[] = [];

  ctx.events.note(() => `Watching ${targets.length} STUN server(s) every ${every} ms${duration !== null ? ` for ${duration} ms` : ' until interrupted'} (Ctrl-C or SIGTERM stops it with a summary)`);
  for (let round = 0; ; round++) {
    const results = await Promise.all(
      targets.map(async (t, i) => {
        const lp = localPorts.get(i);
        let r = await probe(t, lp ? { localPort: lp } : {});
        // The port we had is taken now: carry on from a new one (the change is then not the NAT's).
        if (lp && r.error?.code === 'SOCKET') r = await probe(t);
        if (r.ok && r.transport === 'udp' && r.localAddress) localPorts.set(i, r.localAddress.port);
        return r;
      }),
    );
    if (ctx.signal.aborted) {
      interrupted = true;
      break;
    }
    const now = Date.now();
    last = results;
    const changes = tracker.observeRound(
      now,
      results.map((r, i) => ({
        key: String(i),
        server: r.server,
        family: r.family,
        mapped: r.ok ? r.mappedAddress : null,
        localPort: r.localAddress?.port ?? null,
      })),
    );
    allChanges.push(...changes);
    ctx.events.emit(
      'round',
      {
        round: round + 1,
        at: iso(now),
        servers: results.map((r) => ({
          server: r.server, family: r.family, ok: r.ok, mappedAddress: r.mappedAddress, mappedAddressClass: r.mappedAddressClass,
          localAddress: r.localAddress ?? null, rtt: r.rtt, loss: r.loss, error: r.error,
        })),
      },
      (st) => results.map((r) => {
        const what = r.ok ? `${addr(r.mappedAddress!)}  ${r.rtt ? `${fmtMs(r.rtt.median)} ms` : ''}` : st.c.red(`${r.error?.code ?? 'no answer'}`);
        return `${clock(now)}  #${round + 1}  ${r.server} IPv${r.family}  ${what}`;
      }).join('\n'),
    );
    for (const c of changes) {
      ctx.events.emit('change', { ...c, at: iso(c.at), previousAt: iso(c.previousAt) }, (st) =>
        `${st.warn} ${clock(c.at)}  ${c.server} IPv${c.family}: mapping changed ${addr(c.from)} -> ${addr(c.to)} since ${clock(c.previousAt)} (${changeWords(c.kind)})`);
    }
    const next = (round + 1) * every;
    if (duration !== null && next >= duration) break;
    try {
      await sleep(Math.max(0, next - (performance.now() - t0)), ctx.signal);
    } catch {
      interrupted = true;
      break;
    }
  }
  const endedAt = Date.now();
  const summaries = tracker.summaries();
  const natChanges = allChanges.filter((c) => c.kind !== 'local-port');
  const answeredEver = summaries.some((s) => s.answered > 0);
  const stableKnown = summaries.filter((s) => s.stable !== null);
  const watch: WatchJson = {
    everyMs: every,
    durationMs: duration,
    startedAt: iso(startedAt),
    endedAt: iso(endedAt),
    rounds: tracker.rounds,
    interrupted,
    stable: natChanges.length > 0 ? false : stableKnown.length > 0 ? true : null,
    changes: allChanges.map((c) => ({ ...c, at: iso(c.at), previousAt: iso(c.previousAt) })),
    servers: summaries.map((s) => ({
      ...s,
      firstAnswerAt: s.firstAnswerAt === null ? null : iso(s.firstAnswerAt),
      lastAnswerAt: s.lastAnswerAt === null ? null : iso(s.lastAnswerAt),
    })),
  };
  const doc: StunJson = { command: 'stun', event: 'summary', ok: false, verdict: verdictOf(last, both), servers: last, watch };
  doc.ok = answeredEver && natChanges.length === 0;
  return { exitCode: doc.ok ? 0 : 1, json: doc, jsonLines: true, human: (s) => renderWatchHuman(doc, s) };
}

function changeWords(kind: MappingChange['kind']): string {
  if (kind === 'address') return 'new public IP';
  if (kind === 'port') return 'same local port, new mapped port: the NAT re-mapped';
  return 'sent from another local port: not counted as a NAT change';
}

export function renderWatchHuman(j: StunJson, st: Style): string {
  const { c } = st;
  const w = j.watch!;
  const lines: string[] = [];
  const span = `${w.rounds} round(s) from ${w.startedAt.slice(11, 19)} to ${w.endedAt.slice(11, 19)} UTC${w.interrupted ? ', interrupted' : ''}`;
  const nat = w.changes.filter((x) => x.kind !== 'local-port');
  if (!w.servers.some((s) => s.answered > 0)) lines.push(`${st.fail} ${c.bold('No STUN server answered')} (${span})`);
  else if (nat.length > 0) lines.push(`${st.warn} ${c.bold(`Mapped address changed ${nat.length} time(s)`)} (${span})`);
  else if (w.stable) lines.push(`${st.ok} ${c.bold('Mapped address stable')} (${span})`);
  else lines.push(`${st.warn} ${c.bold('Mapping stability not verified')}: no server answered twice (${span})`);
  for (const x of w.changes) lines.push(`    ${x.at.slice(11, 23)}  ${x.server} IPv${x.family}: ${addr(x.from)} -> ${addr(x.to)}, between ${x.previousAt.slice(11, 23)} and ${x.at.slice(11, 23)} UTC (${changeWords(x.kind)})`);
  lines.push('');
  for (const s of w.servers) {
    const state = s.stable === null ? 'not verified' : s.stable ? 'stable' : 'changed';
    lines.push(`${s.answered > 0 ? (s.stable === false ? st.warn : st.ok) : st.fail} ${c.bold(s.server)}  IPv${s.family}  ${s.answered}/${s.rounds} round(s) answered, ${state}`);
    for (const m of s.mappings) lines.push(`    mapped     ${addr(m)} (${classifyAddress(m.address)})`);
  }
  if (j.servers.length > 0) {
    lines.push('', 'Last round:');
    lines.push(renderStunHuman(j, st));
  }
  return lines.join('\n');
}
