import { isIP } from 'node:net';
import { RtcprobeError, toRtcprobeError } from '../core/errors.js';
import { familyForAll, literalFamily } from '../core/resolve.js';
import type { NatFamilyResult } from '../core/nat/runner.js';
import type { Addr, BindingObservation, Behaviour, Forecast, NatType, NatVerdict, Rating } from '../core/nat/types.js';
import { formatHostPort, parseServer, type ServerSpec } from '../core/uri.js';
import type { CommandOutcome, Style } from '../output.js';
import { collect, defineCommand, defineOptions, intOption, type OptionValues } from './options.js';
import { RETRANSMIT_OPTIONS, retransmitFrom, timeoutOption } from './shared-options.js';
import type { RunContext } from './context.js';

/**
 * Used when no --server is given. These public servers do not implement
 * RFC 5780, so without a server of your own the run compares their mappings
 * and leaves filtering unknown.
 */
export const DEFAULT_NAT_SERVERS = ['stun.l.google.com:19302', 'stun.cloudflare.com:3478'];

/** One family's result: where it ran, the verdict, and the raw tests. */
export type NatFamilyJson = { family: 4 | 6; server: string; elapsedMs: number } & NatVerdict & {
  tests: NatFamilyResult['observations'];
};

export interface NatJson {
  command: 'nat';
  ok: boolean;
  /** Present (true) when a signal stopped the run: the results are partial. */
  interrupted?: boolean;
  /** The verdict of the first family tested (IPv4 unless --family 6). */
  mapping: Behaviour;
  filtering: Behaviour;
  natType: NatType;
  rating: Rating;
  forecast: Forecast;
  warnings: string[];
  families: NatFamilyJson[];
}

const NAT_NAMES: Record<NatType, string> = {
  'open-internet': 'open internet (no NAT)',
  'full-cone': 'full cone',
  'restricted-cone': 'restricted cone',
  'port-restricted-cone': 'port-restricted cone',
  symmetric: 'symmetric',
  'udp-blocked': 'UDP blocked',
  unknown: 'unknown',
};

function toFamilyJson(r: NatFamilyResult): NatFamilyJson {
  return { family: r.family, server: r.observations.server, elapsedMs: r.elapsedMs, ...r.verdict, tests: r.observations };
}

const addr = (a?: Addr | null) => (a ? formatHostPort(a.address, a.port) : '-');

function testLine(o: BindingObservation): string {
  const cr = o.changeRequest ? ` CHANGE-REQUEST(${[o.changeRequest.changeIp ? 'ip' : '', o.changeRequest.changePort ? 'port' : ''].filter(Boolean).join('+')})` : '';
  const what = `${o.test.padEnd(12)} ${o.server} ${addr(o.local)} -> ${addr(o.destination)}${cr}`;
  let res: string = o.outcome;
  if (o.outcome === 'answered') res = `mapped ${addr(o.mapped)} from ${addr(o.source)}`;
  if (o.outcome === 'wrong-source') res = `answer from ${addr(o.source)}, expected ${addr(o.expectedSource)}`;
  if (o.outcome === 'error-response') res = `error ${o.errorCode?.code} ${o.errorCode?.reason ?? ''}`;
  if (o.outcome === 'failed' || o.outcome === 'skipped' || o.outcome === 'unreachable') res = `${o.outcome}: ${o.detail ?? ''}`;
  return `${what}: ${res} (${o.transmissions} sent${o.elapsedMs !== undefined ? `, ${o.elapsedMs} ms` : ''})`;
}

function humanFamily(j: NatFamilyJson, st: Style): string[] {
  const { c } = st;
  const lines: string[] = [];
  const mark = j.udpBlocked ? st.fail : j.verdictReached ? (j.rating === 'hard' ? st.warn : st.ok) : st.warn;
  const rating = j.rating === 'easy' ? c.green('Easy') : j.rating === 'hard' ? c.red('Hard') : 'rating unknown';
  lines.push(`${mark} ${c.bold(`IPv${j.family}: ${NAT_NAMES[j.natType]}`)}  ${rating} for P2P`);
  const row = (k: string, v: string) => lines.push(`    ${k.padEnd(10)} ${v}`);
  row('forecast', j.forecast.text);
  row('mapping', j.mapping);
  row('filtering', j.filtering);
  if (j.publicAddress) {
    const pp = j.mapping === 'none' ? '' : j.portPreserved ? ', port preserved' : ', port changed';
    row('public', `${addr(j.publicAddress)} (local ${addr(j.localAddress)}${pp})`);
  } else if (j.localAddress) row('local', addr(j.localAddress));
  row('hairpin', j.hairpin === null ? 'not tested / not applicable' : j.hairpin ? 'yes' : 'no');
  row('ALG', j.alg ? c.yellow('yes: MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS') : 'none seen');
  const support = j.rfc5780.status === 'classic' ? 'classic' : j.rfc5780.supported === true ? 'yes' : j.rfc5780.supported === false ? c.yellow('no') : 'unknown';
  row('RFC 5780', `${support}: ${j.rfc5780.detail}`);
  if (j.mappingVariesByDestination !== null) row('servers', j.mappingVariesByDestination ? 'mapping varies by destination' : 'every server saw the same mapping');
  if (j.lifetime) row('lifetime', j.lifetime.text);
  row('time', `${(j.elapsedMs / 1000).toFixed(2)} s against ${j.server}`);
  for (const w of j.warnings) lines.push(`  ${st.warn} ${w}`);
  if (st.verbose) {
    lines.push('    tests:');
    for (const o of [...j.tests.mapping, ...j.tests.filtering, ...j.tests.compare]) lines.push(`      ${testLine(o)}`);
    if (j.tests.hairpin) {
      const h = j.tests.hairpin;
      lines.push(`      hairpin      -> ${addr(h.target)}: ${h.received ? `arrived from ${addr(h.from)}` : 'did not arrive'} (${h.transmissions} sent)`);
    }
    for (const p of j.tests.lifetime?.probes ?? []) lines.push(`      lifetime     after ${p.afterSeconds} s: ${p.alive === null ? p.detail ?? 'unknown' : p.alive ? 'alive' : 'expired'}`);
    for (const i of j.tests.ignored) lines.push(`      ignored      ${i.socket} from ${addr(i.from)}: ${i.reason}`);
  } else if (j.tests.ignored.length > 0) {
    lines.push(`    ${j.tests.ignored.length} unexpected datagram(s) ignored (--verbose lists them)`);
  }
  return lines;
}

export function renderNatHuman(j: NatJson, st: Style): string {
  const lines: string[] = [];
  for (const f of j.families) {
    lines.push(...humanFamily(f, st));
    lines.push('');
  }
  return lines.join('\n').trimEnd();
}

const natOptions = defineOptions([
  { flags: '-s, --server <host[:port]>', description: 'STUN server (repeatable, or as arguments); the first that answers runs the RFC 5780 tests, several are also compared', parse: collect },
  { flags: '-f, --family <n>', description: 'IP family: 4, 6 or both (separate results); default: that of IP literals, else 4', choices: ['4', '6', 'both'] },
  { flags: '-l, --local-address <ip>', description: 'bind every test socket here (default: the address of the route to the server)' },
  timeoutOption('first contact with a server: limit per transaction, retransmissions included', { default: 3000, min: 1 }),
  { flags: '-w, --wait <ms>', description: 'least time a test whose silence is the answer waits (filtering, hairpin); it also waits at least 7 RTOs', default: 500, parse: intOption(1, 120000) },
  ...RETRANSMIT_OPTIONS,
  { flags: '--min-rto <ms>', description: 'floor of the RTO derived from the measured RTT (3 x RTT)', default: 50, parse: intOption(1, 60000) },
  { flags: '--no-hairpin', description: 'skip the hairpinning test' },
  { flags: '--lifetime <seconds>', description: 'also measure how long an idle mapping lives, up to this bound (0: off)', default: 0, parse: intOption(0, 3600) },
]);

type NatOptions = OptionValues<typeof natOptions>;

export const natCommand = defineCommand({
  name: 'nat',
  summary: 'NAT behaviour discovery (RFC 5780): mapping, filtering, hairpinning, P2P forecast',
  args: '[server...]',
  options: natOptions,
  run: runNat,
});

/** Which families to test, and the servers each one uses. */
function plan(specs: ServerSpec[], family: string | undefined, local: string | undefined): { family: 4 | 6; servers: ServerSpec[] }[] {
  const hosts = specs.map((s) => s.host);
  if (family === 'both') {
    return ([4, 6] as const).map((f) => {
      const servers = specs.filter((s) => (literalFamily(s.host) ?? f) === f);
      if (servers.length === 0) throw new RtcprobeError('USAGE', `--family both: no server can be reached over IPv${f} (${hosts.join(', ')} ${hosts.length > 1 ? 'are' : 'is'} IPv${f === 4 ? 6 : 4} only)`);
      return { family: f, servers };
    });
  }
  const anyLiteral = hosts.some((h) => literalFamily(h) !== undefined);
  const localFamily = local !== undefined ? isIP(local) : 0;
  // Without --family, literals decide; failing them, the --local-address does.
  const requested = family ?? (!anyLiteral && (localFamily === 4 || localFamily === 6) ? String(localFamily) : undefined);
  return [{ family: familyForAll(hosts, requested), servers: specs }];
}

async function runNat(args: string[], opts: NatOptions, ctx: RunContext): Promise<CommandOutcome> {
  const given = [...args, ...(opts.server ?? [])];
  const inputs = given.length > 0 ? given : DEFAULT_NAT_SERVERS;
  const specs: ServerSpec[] = inputs.map((s) => parseServer(s, 'stun'));
  for (const s of specs) {
    if (s.scheme === 'turn' || s.scheme === 'turns' || s.scheme === 'stuns' || (s.transport && s.transport !== 'udp')) {
      throw new RtcprobeError('BAD_SERVER', `"${s.input}": NAT behaviour discovery runs over UDP only; give a stun: server or host[:port]`);
    }
  }
  const local = opts.localAddress;
  if (local !== undefined && !isIP(local)) throw new RtcprobeError('USAGE', `--local-address "${local}" is not an IP address`);
  const runs = plan(specs, opts.family, local);
  if (local !== undefined && (runs.length > 1 || isIP(local) !== runs[0]!.family)) {
    throw new RtcprobeError('USAGE', `--local-address ${local} does not match --family ${String(opts.family ?? `${runs[0]!.family} (that of the servers)`)}`);
  }
  const { runNatFamily } = await import('../core/nat/runner.js');
  const progress = await ctx.progress(`testing NAT behaviour against ${specs[0]!.input}`);
  try {
    const running = Promise.all(
      runs.map(({ family, servers }) =>
        runNatFamily({
          servers,
          family,
          ...(local ? { localAddress: local } : {}),
          retransmit: retransmitFrom(opts),
          timeout: opts.timeout,
          wait: opts.wait,
          minRto: opts.minRto,
          hairpin: opts.hairpin,
          lifetime: opts.lifetime,
          signal: ctx.signal,
        }),
      ),
    );
    let results: NatFamilyResult[];
    try {
      results = await running;
    } catch (err) {
      const e = toRtcprobeError(err);
      if (e.code === 'SOCKET' && local !== undefined) {
        throw new RtcprobeError('SOCKET', `cannot bind to --local-address ${local}: is it an address of this machine? (${e.message})`, { cause: err });
      }
      throw e;
    }
    const fams = results.map(toFamilyJson);
    const head = fams[0]!;
    const interrupted = results.some((r) => r.observations.interrupted === true);
    const json: NatJson = {
      command: 'nat',
      ok: fams.every((f) => f.verdictReached),
      ...(interrupted ? { interrupted } : {}),
      mapping: head.mapping,
      filtering: head.filtering,
      natType: head.natType,
      rating: head.rating,
      forecast: head.forecast,
      warnings: fams.flatMap((f) => (fams.length > 1 ? f.warnings.map((w) => `IPv${f.family}: ${w}`) : f.warnings)),
      families: fams,
    };
    return { exitCode: json.ok ? 0 : 1, json, human: (st) => renderNatHuman(json, st) };
  } finally {
    progress.stop();
  }
}
