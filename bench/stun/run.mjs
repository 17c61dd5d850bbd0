#!/usr/bin/env node
// Benchmark: `rtcprobe stun --count 20` against coturn's turnutils_stunclient on the
// same loopback coturn, in one run, over several rounds (medians), plus the cold start
// of `rtcprobe stun` as a ratio to a bare `node -e ""` measured in the same rounds.
//   npm run bench:stun            (BENCH_RUNS=N to change the number of rounds)
import { spawn, execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, median, timed } from '../lib/measure.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/rtcprobe.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 9);

/** A port p with p and p+1 (coturn's alternate port) free for UDP on both loopback addresses. */
async function freePortPair() {
  const tryBind = (port, host) => new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(0); });
    s.bind(port, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  for (let i = 0; i < 100; i++) {
    const p = await tryBind(0, '127.0.0.1');
    if (p && p < 65535 && (await tryBind(p, '127.0.0.2')) && (await tryBind(p + 1, '127.0.0.1')) && (await tryBind(p + 1, '127.0.0.2'))) return p;
  }
  throw new Error('no free port pair');
}
const PORT = Number(process.env.BENCH_PORT ?? (await freePortPair()));

for (const tool of ['turnserver', 'turnutils_stunclient', 'timeout']) {
  try { execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }); } catch {
    console.error(`bench:stun needs ${tool} (Debian package coturn)`);
    process.exit(2);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-bench-'));
writeFileSync(join(dir, 'turnserver.conf'), '');
const coturn = spawn('turnserver', [
  '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
  '--stun-only', '--no-tls', '--no-dtls', '--listening-ip', '127.0.0.1', '--listening-ip', '127.0.0.2',
  '--listening-port', String(PORT), '--alt-listening-port', String(PORT + 1),
], { stdio: 'ignore' });
coturn.on('exit', (code) => { if (!ready) { console.error(`turnserver exited (${code}) before it was ready`); process.exit(2); } });
const cleanup = () => { coturn.kill('SIGTERM'); rmSync(dir, { recursive: true, force: true }); };
process.on('exit', cleanup);

// Ready when stunclient gets an answer (bounded polling of a real condition).
var ready = false;
for (let i = 0; i < 50 && !ready; i++) {
  // stunclient waits forever for a lost answer: bound it with timeout(1).
  const r = await timed('timeout', ['2', 'turnutils_stunclient', '-p', String(PORT), '127.0.0.1']);
  ready = /reflexive addr/.test(r.stdout + r.stderr);
  if (!ready) await new Promise((res) => setTimeout(res, 100));
}
if (!ready) { console.error('coturn did not answer'); process.exit(2); }

const rows = { node: [], help: [], cold: [], probe20: [], stunclient: [], rttMedian: [], rttMin: [] };
for (let i = 0; i < RUNS; i++) {
  rows.node.push((await timed(process.execPath, ['-e', ''])).ms);
  rows.help.push((await timed(process.execPath, [BIN, 'stun', '--help'])).ms);
  rows.cold.push((await timed(process.execPath, [BIN, 'stun', `127.0.0.1:${PORT}`, '--count', '1', '--json'])).ms);
  const p = await timed(process.execPath, [BIN, 'stun', `127.0.0.1:${PORT}`, '--count', '20', '--interval', '0', '--json']);
  if (p.code !== 0) { console.error(p.stdout, p.stderr); process.exit(2); }
  const j = JSON.parse(p.stdout);
  rows.probe20.push(p.ms);
  rows.rttMedian.push(j.servers[0].rtt.median);
  rows.rttMin.push(j.servers[0].rtt.min);
  const s = await timed('timeout', ['5', 'turnutils_stunclient', '-p', String(PORT), '127.0.0.1']);
  if (!/reflexive addr/.test(s.stdout + s.stderr)) { console.error('stunclient failed', s.stdout, s.stderr); process.exit(2); }
  rows.stunclient.push(s.ms);
}

const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
const result = {
  runs: RUNS,
  node: process.version,
  medians_ms: m,
  ratios: {
    coldStartVsNode: m.cold / m.node,
    helpStartVsNode: m.help / m.node,
    probe20VsStunclient: m.probe20 / m.stunclient,
  },
};
console.log(`bench:stun  ${RUNS} rounds, medians (ms), loopback coturn ${PORT}`);
console.log(`  node -e ""                               ${fmt(m.node, 1)}`);
console.log(`  rtcprobe stun --help                     ${fmt(m.help, 1)}   (${fmt(result.ratios.helpStartVsNode)}x node)`);
console.log(`  rtcprobe stun --count 1 (cold start)     ${fmt(m.cold, 1)}   (${fmt(result.ratios.coldStartVsNode)}x node; goal <= 3x)`);
console.log(`  rtcprobe stun --count 20 --interval 0    ${fmt(m.probe20, 1)}   (${fmt(result.ratios.probe20VsStunclient)}x turnutils_stunclient)`);
console.log(`  turnutils_stunclient (3 requests)        ${fmt(m.stunclient, 1)}   (reports no RTT)`);
console.log(`  RTT reported by rtcprobe: median of medians ${fmt(m.rttMedian, 3)} ms, median of mins ${fmt(m.rttMin, 3)} ms`);
console.log(JSON.stringify(result));
