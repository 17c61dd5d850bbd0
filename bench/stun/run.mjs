#!/usr/bin/env node
// Benchmark: `rtcprobe stun --count 20` against coturn's turnutils_stunclient on the
// same loopback coturn, in one run, over several rounds, plus the cold start of
// `rtcprobe stun` as a ratio to a bare `node -e ""` timed in the same rounds.
// Every ratio is taken round by round and summarised (median, IQR, min-max).
//   npm run bench:stun            (BENCH_RUNS=N rounds, default 9)
// Ends by itself; coturn and the temp directory are removed on success, failure and
// SIGINT/SIGTERM (bench/lib/procs.mjs).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortRange } from '../lib/ports.mjs';
import { have, main, run, spawnTracked, tempDir } from '../lib/procs.mjs';
import { fmt, footer, header, printTable } from '../lib/report.mjs';
import { median } from '../lib/stats.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/rtcprobe.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 9);

main(async () => {
  for (const tool of ['turnserver', 'turnutils_stunclient']) {
    if (!have(tool)) { console.error(`bench:stun needs ${tool} (Debian package coturn)`); return 2; }
  }
  // A port p with p and p+1 (coturn's alternate port) free for UDP on both loopback addresses.
  const PORT = Number(process.env.BENCH_PORT ?? (await freePortRange(2, { hosts: ['127.0.0.1', '127.0.0.2'] })));
  const dir = tempDir('rtcprobe-bench-stun-');
  writeFileSync(join(dir, 'turnserver.conf'), '');
  const coturn = spawnTracked('turnserver', [
    '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
    '--stun-only', '--no-tls', '--no-dtls', '--listening-ip', '127.0.0.1', '--listening-ip', '127.0.0.2',
    '--listening-port', String(PORT), '--alt-listening-port', String(PORT + 1),
  ], { stdio: 'ignore' });
  let exited = false;
  coturn.once('exit', () => { exited = true; });
  // What this run started, for whoever checks that it is gone afterwards.
  process.stderr.write(`bench:stun: started coturn pid ${coturn.pid} on port ${PORT}, temp dir ${dir}\n`);

  // Ready when stunclient gets an answer (bounded polling of a real condition);
  // stunclient waits forever for a lost answer, so each try is bounded too.
  const stunclient = (timeoutMs) => run('turnutils_stunclient', ['-p', String(PORT), '127.0.0.1'], { timeoutMs });
  let ready = false;
  for (let i = 0; i < 50 && !ready && !exited; i++) {
    ready = /reflexive addr/.test(((r) => r.stdout + r.stderr)(await stunclient(2000)));
    if (!ready) await new Promise((res) => setTimeout(res, 100));
  }
  if (!ready) { console.error(exited ? 'turnserver exited before it answered' : 'coturn did not answer'); return 2; }

  const start = header('bench:stun', `BENCH_RUNS=${RUNS} npm run bench:stun`);
  const rows = { node: [], help: [], cold: [], probe20: [], stunclient: [], rttMedian: [], rttMin: [] };
  for (let i = 0; i < RUNS; i++) {
    process.stderr.write(`round ${i + 1}/${RUNS}\r`);
    rows.node.push((await run(process.execPath, ['-e', ''])).ms);
    rows.help.push((await run(process.execPath, [BIN, 'stun', '--help'])).ms);
    rows.cold.push((await run(process.execPath, [BIN, 'stun', `127.0.0.1:${PORT}`, '--count', '1', '--json'])).ms);
    const p = await run(process.execPath, [BIN, 'stun', `127.0.0.1:${PORT}`, '--count', '20', '--interval', '0', '--json'], { timeoutMs: 30_000 });
    if (p.code !== 0) { console.error(`rtcprobe stun failed (exit ${p.code}):\n${p.stdout}${p.stderr}`); return 2; }
    const j = JSON.parse(p.stdout);
    rows.probe20.push(p.ms);
    rows.rttMedian.push(j.servers[0].rtt.median);
    rows.rttMin.push(j.servers[0].rtt.min);
    const s = await stunclient(5000);
    if (!/reflexive addr/.test(s.stdout + s.stderr)) { console.error(`turnutils_stunclient got no answer:\n${s.stdout}${s.stderr}`); return 2; }
    rows.stunclient.push(s.ms);
  }
  process.stderr.write('\n');

  const table = printTable({
    title: `  ${RUNS} rounds, wall time of whole processes, loopback coturn on port ${PORT}`,
    unit: 'ms',
    rows: [
      { key: 'node', label: 'node -e ""', values: rows.node },
      { key: 'help', label: 'rtcprobe stun --help', values: rows.help, baseline: 'node' },
      { key: 'cold', label: 'rtcprobe stun --count 1 (cold start)', values: rows.cold, baseline: 'node', note: '(goal <= 3x node)' },
      { key: 'stunclient', label: 'turnutils_stunclient (3 requests)', values: rows.stunclient, note: '(reports no RTT)' },
      { key: 'probe20', label: 'rtcprobe stun --count 20 --interval 0', values: rows.probe20, baseline: 'stunclient' },
    ],
  });
  console.log(`  RTT reported by rtcprobe: median of the per-round medians ${fmt(median(rows.rttMedian), 3)} ms, of the minimums ${fmt(median(rows.rttMin), 3)} ms`);
  const end = footer(start);
  console.log(JSON.stringify({ bench: 'stun', runs: RUNS, node: process.version, start, end, spread: 'IQR (q1-q3) and min-max over rounds', table }));
  return 0;
});
