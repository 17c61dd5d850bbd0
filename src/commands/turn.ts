import { readFileSync } from 'node:fs';
import { RtcprobeError } from '../core/errors.js';
import { formatBps } from '../core/turn/units.js';
import type { CheckRow, TurnReport, TurnTarget } from '../core/turn/checks.js';
import type { TurnCredentials } from '../core/turn/protocol.js';
import { familyForAll } from '../core/resolve.js';
import { maskUserinfo, parseServer, type ServerSpec } from '../core/uri.js';
import type { CommandOutcome, Style } from '../output.js';
import { defineCommand, defineOptions, intOption, type OptionValues } from './options.js';
import { caOption, insecureOption, pickCredentials, timeoutOption, TURN_CREDENTIAL_OPTIONS } from './shared-options.js';
import type { RunContext } from './context.js';

export { pickCredentials };

export interface TurnJson extends TurnReport {
  command: 'turn';
  summary: { pass: number; warn: number; fail: number; skip: number };
}

function statusIcon(r: CheckRow, st: Style): string {
  switch (r.status) {
    case 'pass': return st.ok;
    case 'warn': return st.warn;
    case 'fail': return st.fail;
    default: return st.c.dim('-');
  }
}

export function renderTurnHuman(j: TurnJson, st: Style): string {
  const { c } = st;
  const s = j.summary;
  const lines: string[] = [];
  const counts = `${s.pass} passed, ${s.warn} warning(s), ${s.fail} failed, ${s.skip} skipped`;
  if (s.fail > 0) {
    const first = j.checks.find((r) => r.status === 'fail')!;
    lines.push(`${st.fail} ${c.bold(`TURN check failed: ${first.detail}`)}`);
    if (first.hint) lines.push(`  ${c.yellow('hint:')} ${first.hint}`);
  } else if (j.verdict === 'not-verified') {
    const u = j.unverified;
    const why = u.length === 1 ? u[0]!.reason : `${u.length} servers not verified (${u.map((x) => x.server).join(', ')})`;
    lines.push(`${st.warn} ${c.bold(`TURN server reached, but not verified: ${why}`)}`);
  } else if (s.warn > 0) {
    const w = j.warnings;
    lines.push(`${st.warn} ${c.bold(`TURN server works, with ${s.warn} warning${s.warn === 1 ? '' : 's'}: ${w.join(', ')}`)}`);
  } else {
    lines.push(`${st.ok} ${c.bold('TURN server works')}`);
  }
  lines.push(`  ${counts}`);
  for (const b of j.bandwidth ?? []) {
    if (b.bestBps !== undefined) {
      lines.push(`  relayed bandwidth via ${b.server}: ${formatBps(b.bestBps)} each way with loss <= ${+(b.lossThreshold * 100).toFixed(2)}%${b.lossStartBps !== undefined ? `, loss began at ${formatBps(b.lossStartBps)}` : ''}`);
    }
  }
  if (j.relay?.rtt) {
    const r = j.relay;
    lines.push(`  relayed path via ${r.address} (${r.mode}): RTT median ${r.rtt!.median} ms, p99 ${r.rtt!.p99} ms, loss ${(r.loss * 100).toFixed(1)}%, jitter ${r.jitter ?? '-'} ms`);
  }
  lines.push('');
  const width = Math.min(32, Math.max(...j.checks.map((r) => r.id.length)));
  let lastServer: string | undefined;
  for (const r of j.checks) {
    if (r.server && r.server !== lastServer) {
      lines.push(c.bold(r.server));
      lastServer = r.server;
    }
    lines.push(`${statusIcon(r, st)} ${r.id.padEnd(width)} ${r.detail}`);
    if (r.hint && (r.status === 'fail' || r.status === 'warn' || st.verbose)) lines.push(`  ${' '.repeat(width)} ${c.yellow('→')} ${r.hint}`);
  }
  return lines.join('\n');
}

function readFileOption(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new RtcprobeError('USAGE', `cannot read ${flag} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function parseTurnUri(input: string): ServerSpec {
  const spec = parseServer(input, 'turn');
  if (spec.scheme !== 'turn' && spec.scheme !== 'turns') {
    throw new RtcprobeError('BAD_SERVER', `"${maskUserinfo(input)}" is a STUN URI; give turn: or turns: URIs (use "rtcprobe stun" for STUN)`);
  }
  return spec;
}

const turnOptions = defineOptions([
  ...TURN_CREDENTIAL_OPTIONS,
  { flags: '--ice-servers <file>', description: 'iceServers JSON (array of RTCIceServer, or {"iceServers": [...]}): its turn:/turns: URLs and credentials are checked' },
  insecureOption('TLS: continue when the certificate does not verify (reported as a warning)'),
  caOption(),
  { flags: '-c, --count <n>', description: 'relayed messages per data path test', default: 50, parse: intOption(1, 1_000_000) },
  { flags: '-s, --size <bytes>', description: 'relayed message payload size', default: 100, parse: intOption(12, 65000) },
  { flags: '-r, --rate <n>', description: 'relayed messages per second', default: 50, parse: intOption(1, 1_000_000) },
  { flags: '--security', description: 'ask for permissions toward loopback, private, CGNAT, link-local, unspecified, multicast and IPv6 special addresses (no traffic is sent to them); each one granted is a failure' },
  { flags: '--quota <n>', description: 'try up to n extra simultaneous allocations to find the allocation quota (0 = off)', default: 0, parse: intOption(0, 1000) },
  { flags: '--tcp-relay', description: 'also try an RFC 6062 TCP allocation (turn:...?transport=tcp and turns: URIs)' },
  { flags: '--bandwidth', description: 'search the relayed throughput: raise the rate in 1 s steps from 100 kbit/s (x2 each) until a step loses more than --bandwidth-loss, then narrow the gap; 1000-byte messages' },
  { flags: '--bandwidth-max <kbit/s>', description: 'highest rate the bandwidth search tries, kbit/s each way', default: 1_000_000, parse: intOption(100, 100_000_000) },
  { flags: '--bandwidth-loss <percent>', description: 'loss (%) above which a bandwidth step fails', default: 1, parse: intOption(0, 50) },
  timeoutOption('limit per operation (DNS, connect, one transaction with its retransmissions)', { default: 3000, min: 100 }),
  { flags: '-f, --family <n>', description: 'IP family: 4 or 6 (default: that of IP literals, else 4)', choices: ['4', '6'] },
]);

type TurnOptions = OptionValues<typeof turnOptions>;

export const turnCommand = defineCommand({
  name: 'turn',
  summary: 'verify a TURN server end to end: auth, allocation, relayed path, refresh, deallocation, peer restrictions',
  args: '[uri...]',
  requireOneOf: [{ anyOf: ['<args>', '--ice-servers'], label: 'at least one turn: or turns: URI, or --ice-servers FILE' }],
  options: turnOptions,
  run: runTurn,
});


async function runTurn(args: string[], opts: TurnOptions, ctx: RunContext): Promise<CommandOutcome> {
  const { user, password, secret } = pickCredentials(opts, ctx.env, opts.iceServers !== undefined);
  const ttl = opts.ttl;
  const now = Date.now();

  const { restCredentials, restPassword, parseIceServers } = await import('../core/turn/credentials.js');
  let credentials: TurnCredentials | undefined;
  let source: TurnTarget['source'];
  let resign: TurnTarget['resign'];
  if (secret !== undefined) {
    credentials = restCredentials(secret, { ...(user ? { user } : {}), ttl, now });
    source = 'rest-secret';
    resign = (expiry) => {
      const username = user ? `${expiry}:${user}` : String(expiry);
      return { username, password: restPassword(secret, username) };
    };
  } else if (user !== undefined && password !== undefined) {
    credentials = { username: user, password };
    source = 'user';
  }

  const targets: TurnTarget[] = args.map((a) => ({
    spec: parseTurnUri(a),
    ...(credentials ? { credentials, source } : {}),
    ...(resign ? { resign } : {}),
  }));
  if (opts.iceServers !== undefined) {
    const entries = parseIceServers(readFileOption(opts.iceServers, '--ice-servers').toString('utf8'));
    if (entries.length === 0) throw new RtcprobeError('USAGE', `${opts.iceServers} lists no turn: or turns: URL`);
    for (const e of entries) {
      const c = e.username !== undefined && e.credential !== undefined ? { username: e.username, password: e.credential } : credentials;
      for (const u of e.urls) {
        targets.push({
          spec: parseTurnUri(u),
          origin: 'ice-servers',
          ...(c ? { credentials: c, source: c === credentials ? source : 'ice-servers' } : {}),
          ...(c === credentials && resign ? { resign } : {}),
        });
      }
    }
  }
  if (targets.length === 0) throw new RtcprobeError('USAGE', 'give at least one turn: or turns: URI, or --ice-servers FILE');
  const ca = opts.ca !== undefined ? readFileOption(opts.ca, '--ca') : undefined;
  const family = familyForAll(targets.map((t) => t.spec.host), opts.family);

  const { runTurnChecks } = await import('../core/turn/checks.js');
  const progress = await ctx.progress(`checking ${targets.length} TURN URI(s)`);
  try {
    const report = await runTurnChecks(targets, {
      family,
      timeout: opts.timeout,
      count: opts.count,
      size: opts.size,
      rate: opts.rate,
      security: opts.security,
      quota: opts.quota,
      tcpRelay: opts.tcpRelay,
      ...(opts.bandwidth ? { bandwidth: { maxBps: opts.bandwidthMax * 1000, lossThreshold: opts.bandwidthLoss / 100 } } : {}),
      insecure: opts.insecure,
      ...(ca ? { ca } : {}),
      now,
      ttl,
      signal: ctx.signal,
      progress: (t) => progress.update(t),
    });
    const summary = { pass: 0, warn: 0, fail: 0, skip: 0 };
    for (const r of report.checks) summary[r.status]++;
    const json: TurnJson = { command: 'turn', ...report, summary };
    return { exitCode: report.ok ? 0 : 1, json, human: (st) => renderTurnHuman(json, st) };
  } finally {
    progress.stop();
  }
}
