#!/usr/bin/env node
// Benchmark: `rtcprobe nat` against coturn's `turnutils_natdiscovery -m -f`, in one
// run, on the same NAT lab topologies (network namespaces + nftables, see lab/).
// For each topology both tools run BENCH_RUNS times (default 5) from the client
// namespace, interleaved (the order alternates round by round); the report shows
// whether their verdicts agree and rtcprobe's wall time as a ratio to natdiscovery's,
// round by round (median, IQR, min-max). Then the same against the lab's classic
// RFC 3489 server (stund), with the classic `stun` client (Debian stun-client) as the
// reference, when it is installed (/usr/bin/stun, or STUN_CLIENT).
//   npm run bench:nat                      (needs root, iproute2, nftables, coturn, stund)
//   BENCH_RUNS=9 BENCH_TOPOLOGIES=eim-apdf,apdm npm run bench:nat
// The lab gets an id of its own (b<pid>), so its namespaces (rpn-b<pid>-*) never collide
// with another run's; it is taken down on success, failure and SIGINT/SIGTERM.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { have, main, onCleanup, run } from '../lib/procs.mjs';
import { footer, header, printTable } from '../lib/report.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LAB = fileURLToPath(new URL('../../lab/nat-lab.sh', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? 'eim-eif,eim-adf,eim-apdf,apdm').split(',');
const ID = `b${process.pid}`.slice(0, 12);
const NS = `rpn-${ID}-cli`;
const SERVER = '203.0.113.1';
const CLASSIC = '203.0.113.5';
// The classic client by absolute path: under `npm run`, node_modules/.bin comes first in
// PATH and holds another program called `stun` (the CLI of the npm package stun).
const STUN_CLIENT = process.env.STUN_CLIENT ?? '/usr/bin/stun';

const BEHAVIOUR = {
  'Endpoint Independent': 'endpoint-independent',
  'Address Dependent': 'address-dependent',
  'Address and Port Dependent': 'address-and-port-dependent',
};
function natdiscoveryVerdict(out) {
  const m = /NAT with (.+?) Mapping!/.exec(out);
  const f = /NAT with (.+?) Filtering!/.exec(out);
  return { mapping: m ? BEHAVIOUR[m[1]] ?? m[1] : 'unknown', filtering: f ? BEHAVIOUR[f[1]] ?? f[1] : 'unknown' };
}

/** The classic client's one-line verdict, e.g. "Primary: Independent Mapping, Port Dependent Filter, ...". */
function classicVerdict(out) {
  const line = /Primary: ([^\n]+)/.exec(out)?.[1] ?? '';
  if (/^Open/.test(line)) return { mapping: 'none', filtering: 'none' };
  const mapping = /Independent Mapping/.test(line) ? 'endpoint-independent' : /Dependent Mapping/.test(line) ? 'dependent' : 'unknown';
  const filtering = /Independent Filter/.test(line) ? 'endpoint-independent' : /Address Dependent Filter/.test(line) ? 'address-dependent'
    : /Port Dependent Filter/.test(line) ? 'address-and-port-dependent' : 'unknown';
  return { mapping, filtering };
}
// The classic client does not tell address- from address-and-port-dependent mapping.
const sameMapping = (classic, ours) => classic === ours || (classic === 'dependent' && /dependent$/.test(ours) && ours !== 'endpoint-independent');

// Bounded runs: natdiscovery needs about 6 s, the classic client about 1 s, rtcprobe under 1 s.
const inNs = (cmd, args, timeoutMs) => run('ip', ['netns', 'exec', NS, cmd, ...args], { cwd: ROOT, timeoutMs });
const rtcprobeNat = (server) => inNs(process.execPath, [BIN, 'nat', '-s', server, '--no-hairpin', '--json'], 30_000);
const parse = (r) => { try { return JSON.parse(r.stdout); } catch { return { mapping: 'unparsable', filtering: 'unparsable' }; } };

/** Both tools `RUNS` times, interleaved: the reference first in even rounds, rtcprobe first in odd ones. */
async function compare(reference, ours, judge) {
  const ref = [];
  const rp = [];
  const verdicts = new Set();
  let agreeAll = true;
  for (let i = 0; i < RUNS; i++) {
    let a;
    let b;
    if (i % 2 === 0) { a = await reference(); b = await ours(); } else { b = await ours(); a = await reference(); }
    // A run that had to be killed gives no figure (NaN) and no verdict.
    ref.push(a.timedOut ? NaN : a.ms);
    rp.push(b.timedOut ? NaN : b.ms);
    if (a.timedOut) { verdicts.add('the reference tool timed out (no figure, no verdict)'); continue; }
    if (b.timedOut) { agreeAll = false; verdicts.add('FAILED: rtcprobe timed out'); continue; }
    const { agree, text } = judge(a, parse(b));
    if (!agree) agreeAll = false;
    verdicts.add(`${agree ? 'agree' : 'DISAGREE'}: ${text}`);
  }
  return { ref, rp, verdicts: [...verdicts], agree: agreeAll };
}

main(async () => {
  for (const tool of ['ip', 'nft', 'turnserver', 'turnutils_natdiscovery']) {
    if (!have(tool)) { console.error(`bench:nat needs ${tool} (packages iproute2, nftables, coturn)`); return 2; }
  }
  if (process.getuid?.() !== 0) { console.error('bench:nat needs root (network namespaces)'); return 2; }
  const hasStunClient = existsSync(STUN_CLIENT);
  if (!hasStunClient) console.log(`  no classic stun client at ${STUN_CLIENT} (Debian stun-client): the stund comparison is left out`);
  onCleanup(() => execFileSync('bash', [LAB, 'down', '--id', ID], { stdio: 'ignore' }));

  const start = header('bench:nat', `BENCH_RUNS=${RUNS} BENCH_TOPOLOGIES=${TOPOLOGIES.join(',')} npm run bench:nat`);
  const coturnRows = [];
  const classicRows = [];
  const perTopology = [];
  let allAgree = true;
  for (const topology of TOPOLOGIES) {
    const up = await run('bash', [LAB, 'up', topology, '--id', ID], { timeoutMs: 60_000 });
    if (up.code !== 0) { console.error(`nat-lab up ${topology} failed (exit ${up.code}):\n${up.stderr}`); return 2; }
    const c = await compare(
      () => inNs('turnutils_natdiscovery', ['-m', '-f', SERVER], 60_000),
      () => rtcprobeNat(SERVER),
      (a, vb) => {
        const va = natdiscoveryVerdict(a.stdout + a.stderr);
        return {
          agree: va.mapping === vb.mapping && va.filtering === vb.filtering,
          text: `natdiscovery ${va.mapping}/${va.filtering}, rtcprobe ${vb.mapping}/${vb.filtering}${vb.natType ? ` (${vb.natType})` : ''}`,
        };
      },
    );
    allAgree &&= c.agree;
    coturnRows.push({ topology, ...c });
    console.log(`  ${topology}: ${c.verdicts.join('; ')}`);
    if (hasStunClient) {
      const k = await compare(
        () => inNs(STUN_CLIENT, [CLASSIC], 20_000),
        () => rtcprobeNat(CLASSIC),
        (a, vb) => {
          const va = classicVerdict(a.stdout + a.stderr);
          // Behind a dependent mapping the classic client does not test filtering at all.
          return {
            agree: sameMapping(va.mapping, vb.mapping) && (va.filtering === vb.filtering || (va.mapping === 'dependent' && va.filtering === 'unknown')),
            text: `stun ${va.mapping}/${va.filtering}, rtcprobe ${vb.mapping}/${vb.filtering}${vb.natType ? ` (${vb.natType})` : ''}`,
          };
        },
      );
      allAgree &&= k.agree;
      classicRows.push({ topology, ...k });
      console.log(`  ${topology} (stund): ${k.verdicts.join('; ')}`);
    }
    perTopology.push(topology);
  }
  const down = await run('bash', [LAB, 'down', '--id', ID], { timeoutMs: 60_000 });
  if (down.code !== 0) console.error(`nat-lab down: exit ${down.code} ${down.stderr}`);

  /** Per round, the sum over topologies: round i of every topology ran in the same pass. */
  const sumRounds = (rows, field) => Array.from({ length: RUNS }, (_, i) => rows.reduce((s, r) => s + r[field][i], 0));
  const table = (title, refLabel, rows) => printTable({
    title,
    unit: 's',
    digits: 2,
    rows: [
      ...rows.flatMap((r) => [
        { key: `${r.topology}.ref`, label: `${r.topology}: ${refLabel}`, values: r.ref.map((x) => x / 1000) },
        { key: `${r.topology}.rtcprobe`, label: `${r.topology}: rtcprobe nat`, values: r.rp.map((x) => x / 1000), baseline: `${r.topology}.ref` },
      ]),
      { key: 'sum.ref', label: `sum: ${refLabel}`, values: sumRounds(rows, 'ref').map((x) => x / 1000) },
      { key: 'sum.rtcprobe', label: 'sum: rtcprobe nat', values: sumRounds(rows, 'rp').map((x) => x / 1000), baseline: 'sum.ref' },
    ],
  });
  console.log('');
  const coturnTable = table(`  coturn (${SERVER}), ${RUNS} rounds per topology, wall time`, 'natdiscovery -m -f', coturnRows);
  const classicTable = classicRows.length ? table(`  classic stund (${CLASSIC}), ${RUNS} rounds per topology, wall time`, 'stun (classic)', classicRows) : undefined;
  console.log(`  verdicts ${allAgree ? 'agree on every run' : 'DISAGREE on some run (see above)'}; goal for the coturn sum: <= 0.25x natdiscovery`);
  const end = footer(start);
  if (process.env.BENCH_JSON) {
    console.log(JSON.stringify({ bench: 'nat', runs: RUNS, start, end, spread: 'IQR (q1-q3) and min-max over rounds', coturn: coturnTable, classic: classicTable, agree: allAgree }));
  }
  return allAgree ? 0 : 1;
});
