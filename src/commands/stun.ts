import { readFileSync } from 'node:fs';
import { hintFor, RtcprobeError } from '../core/errors.js';
import type { StunServerResult } from '../core/stun-probe.js';
import { formatHostPort, parseServer, type ServerSpec, type Transport } from '../core/uri.js';
import { fmtMs, fmtPct, type CommandOutcome, type Style } from '../output.js';
import { intOption, type CommandSpec } from './options.js';
import type { RunContext } from './context.js';

/** Servers queried when none is given. Public, well known, answer on UDP 3478/19302. */
export const DEFAULT_STUN_SERVERS = [
  'stun.l.google.com:19302',
  'stun1.l.google.com:19302',
  'stun.cloudflare.com:3478',
];

export interface StunJson {
  command: 'stun';
  ok: boolean;
  verdict: {
    answered: number;
    total: number;
    /** Distinct public (mapped) IP addresses seen across servers. */
    publicAddresses: string[];
    /** True when every answering server saw the same public IP. */
    agree: boolean;
    alg: boolean;
  };
  servers: StunServerResult[];
}

function verdictOf(servers: StunServerResult[]): StunJson['verdict'] {
  const answered = servers.filter((s) => s.ok);
  const publicAddresses = [...new Set(answered.map((s) => s.mappedAddress!.address))];
  return {
    answered: answered.length,
    total: servers.length,
    publicAddresses,
    agree: publicAddresses.length <= 1,
    alg: answered.some((s) => s.alg),
  };
}

const addr = (a?: { address: string; port: number }) => (a ? formatHostPort(a.address, a.port) : '-');

function humanServer(s: StunServerResult, st: Style): string[] {
  const { c } = st;
  const head = `${s.ok ? st.ok : st.fail} ${c.bold(s.server)}  ${s.transport.toUpperCase()}/IPv${s.family}`;
  const lines = [head];
  const row = (k: string, v: string) => lines.push(`    ${k.padEnd(10)} ${v}`);
  if (s.error) row('error', c.red(`${s.error.code}: ${s.error.message}`));
  if (s.error && hintFor(s.error.code)) row('hint', hintFor(s.error.code)!);
  if (s.resolvedAddress) row('server', addr(s.resolvedAddress));
  if (s.localAddress) row('local', addr(s.localAddress));
  if (s.mappedAddress) row('mapped', addr(s.mappedAddress) + (s.mappingChanged ? c.yellow('  (changed between requests)') : ''));
  if (s.alg) row('ALG', c.yellow(`MAPPED-ADDRESS ${addr(s.legacyMappedAddress)} differs from XOR-MAPPED-ADDRESS: a middlebox rewrites addresses`));
  if (s.responseOrigin) row('origin', addr(s.responseOrigin));
  if (s.ok) row('RFC 5780', s.otherAddress ? `yes, OTHER-ADDRESS ${addr(s.otherAddress)}` : 'no OTHER-ADDRESS (NAT behaviour tests unsupported)');
  if (s.software !== undefined) row('software', s.software);
  if (s.tls) row('TLS', `${s.tls.protocol ?? ''} ${s.tls.authorized ? 'certificate trusted' : c.yellow(`certificate NOT trusted: ${s.tls.authorizationError}`)}`);
  if (s.errorResponse) row('response', c.yellow(`error ${s.errorResponse.code} ${s.errorResponse.reason}`));
  if (s.sent > 0) {
    const r = s.rtt;
    const rtt = r ? `min ${fmtMs(r.min)}  median ${fmtMs(r.median)}  p95 ${fmtMs(r.p95)}  max ${fmtMs(r.max)} ms` : 'no sample';
    row('rtt', `${rtt}  (${s.received}/${s.sent} answered, loss ${fmtPct(s.loss)}${s.retransmissions ? `, ${s.retransmissions} retransmission(s)` : ''})`);
  }
  if (s.ignored.length > 0) {
    row('ignored', `${s.ignored.length} packet(s)${st.verbose ? ':' : ' (--verbose lists them)'}`);
    if (st.verbose) for (const m of s.ignored) lines.push(`      - ${m.reason} from ${addr(m.from)}: ${m.detail}`);
  }
  return lines;
}

export function renderStunHuman(j: StunJson, st: Style): string {
  const { c } = st;
  const v = j.verdict;
  const lines: string[] = [];
  if (v.answered === 0) {
    lines.push(`${st.fail} ${c.bold('No STUN server answered')} (${v.total} tried)`);
  } else if (v.agree) {
    lines.push(`${st.ok} ${c.bold(`Public address ${v.publicAddresses[0]}`)}: ${v.answered}/${v.total} server(s) answered${v.answered > 1 ? ' and agree' : ''}`);
  } else {
    lines.push(`${st.warn} ${c.bold(`Servers disagree on the public address: ${v.publicAddresses.join(', ')}`)} (${v.answered}/${v.total} answered; several uplinks or a NAT pool)`);
  }
  if (v.alg) lines.push(`${st.warn} An ALG rewrites STUN addresses on this path (MAPPED-ADDRESS differs from XOR-MAPPED-ADDRESS)`);
  lines.push('');
  for (const s of j.servers) lines.push(...humanServer(s, st));
  return lines.join('\n');
}

export const stunCommand: CommandSpec = {
  name: 'stun',
  summary: 'query STUN servers: public address, RFC 5780 support, RTT and loss',
  args: '[server...]',
  options: [
    { flags: '-c, --count <n>', description: 'Binding requests per server', default: 5, parse: intOption(1, 10000) },
    { flags: '-i, --interval <ms>', description: 'pause between requests to one server', default: 20, parse: intOption(0, 60000) },
    { flags: '-t, --timeout <ms>', description: 'per-request limit, retransmissions included', default: 3000, parse: intOption(1, 120000) },
    { flags: '--transport <proto>', description: 'udp, tcp or tls (stuns: URIs imply tls)', choices: ['udp', 'tcp', 'tls'] },
    { flags: '-f, --family <n>', description: 'IP family: 4 or 6', default: '4', choices: ['4', '6'] },
    { flags: '--rto <ms>', description: 'initial UDP retransmission timeout (RFC 8489 RTO)', default: 500, parse: intOption(1, 60000) },
    { flags: '--rc <n>', description: 'UDP requests per transaction, first one included (RFC 8489 Rc)', default: 7, parse: intOption(1, 20) },
    { flags: '--rm <n>', description: 'wait Rm*RTO after the last request (RFC 8489 Rm)', default: 16, parse: intOption(1, 64) },
    { flags: '--insecure', description: 'TLS: accept a certificate that does not verify' },
    { flags: '--ca <file>', description: 'TLS: trust this PEM CA bundle in addition to the system store' },
  ],
  run: runStun,
};

async function runStun(args: string[], opts: Record<string, unknown>, ctx: RunContext): Promise<CommandOutcome> {
  const inputs = args.length > 0 ? args : DEFAULT_STUN_SERVERS;
  // Parse everything before touching the network: one bad argument is a usage error.
  const specs: ServerSpec[] = inputs.map((s) => parseServer(s, 'stun'));
  const { effectiveTransport, probeStunServer } = await import('../core/stun-probe.js');
  for (const s of specs) {
    if (s.scheme === 'turn' || s.scheme === 'turns') {
      throw new RtcprobeError('BAD_SERVER', `"${s.input}" is a TURN URI; use "rtcprobe turn" for TURN servers`);
    }
    effectiveTransport(s, opts.transport as Transport | undefined);
  }
  let ca: Buffer | undefined;
  if (typeof opts.ca === 'string') {
    try {
      ca = readFileSync(opts.ca);
    } catch (err) {
      throw new RtcprobeError('USAGE', `cannot read --ca ${opts.ca}: ${(err as Error).message}`, { cause: err });
    }
  }
  const progress = await ctx.progress(`querying ${specs.length} STUN server(s)`);
  let done = 0;
  try {
    const servers = await Promise.all(
      specs.map(async (spec) => {
        const r = await probeStunServer(spec, {
          ...(opts.transport ? { transport: opts.transport as Transport } : {}),
          family: Number(opts.family) === 6 ? 6 : 4,
          count: opts.count as number,
          interval: opts.interval as number,
          timeout: opts.timeout as number,
          retransmit: { rto: opts.rto as number, rc: opts.rc as number, rm: opts.rm as number },
          insecure: !!opts.insecure,
          ...(ca ? { ca } : {}),
          signal: ctx.signal,
        });
        progress.update(`${++done}/${specs.length} STUN server(s) done`);
        return r;
      }),
    );
    const json: StunJson = { command: 'stun', ok: false, verdict: verdictOf(servers), servers };
    json.ok = json.verdict.answered > 0;
    return { exitCode: json.ok ? 0 : 1, json, human: (st) => renderStunHuman(json, st) };
  } finally {
    progress.stop();
  }
}
