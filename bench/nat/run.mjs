#!/usr/bin/env node
// Benchmark: `rtcprobe nat` against coturn's `turnutils_natdiscovery -m -f`, in one
// run, on the same NAT lab topologies (network namespaces + nftables, see lab/).
// For each topology both tools run alternately BENCH_RUNS times (default 5) from
// the client namespace; the report shows whether their verdicts agree and the
// ratio of median wall times (rtcprobe / natdiscovery). Then the same against
// the lab's classic RFC 3489 server (stund), with the classic `stun` client
// (Debian stun-client) as the reference, when it is installed.
//   npm run bench:nat                      (needs root, iproute2, nftables, coturn, stund)
//   BENCH_RUNS=9 BENCH_TOPOLOGIES=eim-apdf,apdm npm run bench:nat
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LAB = fileURLToPath(new URL('../../lab/nat-lab.sh', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TOPOLOGIES = (process.env.BENCH_TOPOLOGIES ?? 'eim-eif,eim-adf,eim-apdf,apdm').split(',');
const ID = 'bench';
const NS = `rpn-${ID}-cli`;
const SERVER = '203.0.113.1';
const CLASSIC = '203.0.113.5';
const hasStunClient = (() => { try { execFileSync('sh', ['-c', 'command -v stun'], { stdio: 'ignore' }); return true; } catch { return false; } })();

for (const tool of ['ip', 'nft', 'turnserver', 'turnutils_natdiscovery']) {
  try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch {
    console.error(`bench:nat needs ${tool} (packages iproute2, nftables, coturn)`);
    process.exit(2);
  }
}
if (process.getuid?.() !== 0) {
  console.error('bench:nat needs root (network namespaces)');
  process.exit(2);
}

const down = () => { try { execFileSync('bash', [LAB, 'down', '--id', ID], { stdio: 'ignore' }); } catch { /* best effort */ } };
process.on('exit', down);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function timed(cmd, args) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    execFile(cmd, args, { cwd: ROOT, timeout: 120000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      resolve({ ms: performance.now() - t0, code: err ? err.code ?? -1 : 0, stdout, stderr });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

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

const rows = [];
const classicRows = [];
let allAgree = true;
for (const topology of TOPOLOGIES) {
  execFileSync('bash', [LAB, 'up', topology, '--id', ID], { stdio: 'ignore' });
  const nd = [];
  const rp = [];
  const verdicts = new Set();
  for (let i = 0; i < RUNS; i++) {
    const a = await timed('ip', ['netns', 'exec', NS, 'turnutils_natdiscovery', '-m', '-f', SERVER]);
    const va = natdiscoveryVerdict(a.stdout + a.stderr);
    nd.push(a.ms);
    const b = await timed('ip', ['netns', 'exec', NS, process.execPath, BIN, 'nat', '-s', SERVER, '--no-hairpin', '--json']);
    rp.push(b.ms);
    let vb = { mapping: 'unparsable', filtering: 'unparsable' };
    try { vb = JSON.parse(b.stdout); } catch { /* reported below */ }
    const agree = va.mapping === vb.mapping && va.filtering === vb.filtering;
    if (!agree) allAgree = false;
    verdicts.add(`${agree ? 'agree' : 'DISAGREE'}: natdiscovery ${va.mapping}/${va.filtering}, rtcprobe ${vb.mapping}/${vb.filtering}${vb.natType ? ` (${vb.natType})` : ''}`);
  }
  const row = { topology, runs: RUNS, natdiscoveryMs: median(nd), rtcprobeMs: median(rp), ratio: median(rp) / median(nd), verdicts: [...verdicts] };
  rows.push(row);
  console.log(`${topology.padEnd(10)} natdiscovery ${(row.natdiscoveryMs / 1000).toFixed(2)} s  rtcprobe ${(row.rtcprobeMs / 1000).toFixed(2)} s  ratio ${row.ratio.toFixed(3)}  ${row.verdicts.join('; ')}`);
  if (hasStunClient) {
    const cl = [];
    const rc = [];
    const cv = new Set();
    for (let i = 0; i < RUNS; i++) {
      const a = await timed('ip', ['netns', 'exec', NS, 'stun', CLASSIC]);
      const va = classicVerdict(a.stdout + a.stderr);
      cl.push(a.ms);
      const b = await timed('ip', ['netns', 'exec', NS, process.execPath, BIN, 'nat', '-s', CLASSIC, '--no-hairpin', '--json']);
      rc.push(b.ms);
      let vb = { mapping: 'unparsable', filtering: 'unparsable' };
      try { vb = JSON.parse(b.stdout); } catch { /* reported below */ }
      // Behind a dependent mapping the classic client does not test filtering at all.
      const agree = sameMapping(va.mapping, vb.mapping) && (va.filtering === vb.filtering || (va.mapping === 'dependent' && va.filtering === 'unknown'));
      if (!agree) allAgree = false;
      cv.add(`${agree ? 'agree' : 'DISAGREE'}: stun ${va.mapping}/${va.filtering}, rtcprobe ${vb.mapping}/${vb.filtering}${vb.natType ? ` (${vb.natType})` : ''}`);
    }
    const c = { topology, runs: RUNS, stunClientMs: median(cl), rtcprobeMs: median(rc), ratio: median(rc) / median(cl), verdicts: [...cv] };
    classicRows.push(c);
    console.log(`${''.padEnd(10)} stund: stun ${(c.stunClientMs / 1000).toFixed(2)} s  rtcprobe ${(c.rtcprobeMs / 1000).toFixed(2)} s  ratio ${c.ratio.toFixed(3)}  ${c.verdicts.join('; ')}`);
  }
}
down();

const totalNd = rows.reduce((s, r) => s + r.natdiscoveryMs, 0);
const totalRp = rows.reduce((s, r) => s + r.rtcprobeMs, 0);
console.log('');
console.log(`median wall time over ${RUNS} runs per tool and topology, summed over ${rows.length} topologies:`);
console.log(`  turnutils_natdiscovery -m -f  ${(totalNd / 1000).toFixed(2)} s`);
console.log(`  rtcprobe nat --no-hairpin     ${(totalRp / 1000).toFixed(2)} s`);
console.log(`  ratio rtcprobe/natdiscovery   ${(totalRp / totalNd).toFixed(3)} (goal <= 0.25)`);
if (classicRows.length) {
  const totalCl = classicRows.reduce((s, r) => s + r.stunClientMs, 0);
  const totalRc = classicRows.reduce((s, r) => s + r.rtcprobeMs, 0);
  console.log(`  classic server (stund): stun ${(totalCl / 1000).toFixed(2)} s, rtcprobe ${(totalRc / 1000).toFixed(2)} s, ratio ${(totalRc / totalCl).toFixed(3)}`);
}
console.log(`  verdicts ${allAgree ? 'agree on every run' : 'DISAGREE on some run (see above)'}`);
if (process.env.BENCH_JSON) console.log(JSON.stringify({ rows, classicRows, ratio: totalRp / totalNd, agree: allAgree }, null, 2));
process.exitCode = allAgree ? 0 : 1;
