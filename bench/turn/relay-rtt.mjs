#!/usr/bin/env node
// Benchmark: data-channel RTT of a relayed WebRTC call through TURN over UDP, TCP and TLS, with
// Nagle's algorithm off on werift's TURN sockets (werift as installed, carried patch 007) and on
// (werift 0.24.4 as published: setNoDelay() calls not passed on), in the same run.
// One loopback coturn (UDP, TCP, TLS with a throwaway certificate). Each call is its own process
// (relay-rtt-worker.mjs): two relay-only werift peers, a reliable data channel, BENCH_COUNT
// (default 500) sequential 100-byte probes. BENCH_RUNS rounds (default 5) of five calls
// (UDP; TCP and TLS each with Nagle off and on), in an order that reverses every round.
// Per call: p50, p99, max, the probes that took >= 30 ms (a delayed ACK on Linux is 40 ms) and the
// set-up time (offer to both data channels open);
// printed as medians over the rounds with their spread, as ratios to a baseline of the same
// rounds, and pooled over all rounds. A call that fails, or that ran on another transport than
// asked for, gives no figure that round; a variant without any figure makes the exit code 1.
//   npm run bench:turn-rtt      (BENCH_RUNS, BENCH_COUNT)
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortRange, stunPing } from '../lib/ports.mjs';
import { have, main, run, spawnTracked, tempDir } from '../lib/procs.mjs';
import { fmt, footer, header, printTable } from '../lib/report.mjs';
import { quantile } from '../lib/stats.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const WORKER = fileURLToPath(new URL('./relay-rtt-worker.mjs', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const COUNT = Number(process.env.BENCH_COUNT ?? 500);
const PEAK_MS = 30;
const USER = 'bench';
const PASSWORD = 'bench-password';

main(async () => {
  for (const tool of ['turnserver', 'openssl']) {
    if (!have(tool)) { console.error(`bench:turn-rtt needs ${tool}`); return 2; }
  }
  const dir = tempDir('rtcprobe-bench-turn-rtt-');
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'turnserver.conf'), '');
  const base = await freePortRange(50, { protocols: ['udp', 'tcp'] });
  const PORT = base;
  const TLS_PORT = base + 2;
  const coturn = spawnTracked('turnserver', [
    '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(PORT), '--alt-listening-port', String(PORT + 1),
    '--tls-listening-port', String(TLS_PORT), '--alt-tls-listening-port', String(TLS_PORT + 1),
    '--min-port', String(base + 10), '--max-port', String(base + 49), '--no-dtls', '--cert', cert, '--pkey', key,
    '--lt-cred-mech', '--user', `${USER}:${PASSWORD}`, '--realm', 'bench.test', '--allow-loopback-peers',
  ], { stdio: 'ignore' });
  let exited = false;
  coturn.once('exit', () => { exited = true; });
  process.stderr.write(`bench:turn-rtt: started coturn pid ${coturn.pid} on port ${PORT} (TLS ${TLS_PORT}), temp dir ${dir}\n`);
  let ready = false;
  for (let i = 0; i < 50 && !ready && !exited; i++) ready = await stunPing(PORT);
  if (!ready) { console.error(exited ? 'turnserver exited before it answered' : 'coturn did not answer'); return 2; }

  const variants = [
    { key: 'udp', label: 'TURN/UDP', url: `turn:127.0.0.1:${PORT}?transport=udp`, transport: 'udp', mode: 'as-is' },
    { key: 'tcp', label: 'TURN/TCP, Nagle off (as installed)', url: `turn:127.0.0.1:${PORT}?transport=tcp`, transport: 'tcp', mode: 'as-is' },
    { key: 'tcpNagle', label: 'TURN/TCP, Nagle on (werift 0.24.4)', url: `turn:127.0.0.1:${PORT}?transport=tcp`, transport: 'tcp', mode: 'nagle' },
    { key: 'tls', label: 'TURN/TLS, Nagle off (as installed)', url: `turns:127.0.0.1:${TLS_PORT}`, transport: 'tls', mode: 'as-is' },
    { key: 'tlsNagle', label: 'TURN/TLS, Nagle on (werift 0.24.4)', url: `turns:127.0.0.1:${TLS_PORT}`, transport: 'tls', mode: 'nagle' },
  ];
  const start = header('bench:turn-rtt', `data-channel RTT through a loopback coturn, UDP/TCP/TLS, Nagle off vs on, ${RUNS} rounds x ${COUNT} sequential probes per call`);
  const rows = Object.fromEntries(variants.flatMap((v) => [[`${v.key}P50`, []], [`${v.key}P99`, []], [`${v.key}Max`, []], [`${v.key}Peaks`, []], [`${v.key}Setup`, []]]));
  const pooled = Object.fromEntries(variants.map((v) => [v.key, []]));
  const noDelay = Object.fromEntries(variants.map((v) => [v.key, []]));
  const problems = [];
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      const r = await run(process.execPath, [WORKER, v.url, USER, PASSWORD, String(COUNT), v.mode, cert], { cwd: ROOT, timeoutMs: 120_000 });
      let j;
      try { j = JSON.parse(r.stdout); } catch { j = { error: `output not JSON (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.slice(-300)}` }; }
      if (!j.error && (j.transports?.join() !== v.transport || j.rttMs.length !== COUNT)) {
        j.error = `ran over ${j.transports?.join() || 'nothing'}, ${j.rttMs.length}/${COUNT} probes back`;
      }
      const s = j.error ? [] : [...j.rttMs].sort((a, b) => a - b);
      rows[`${v.key}P50`].push(s.length ? quantile(s, 0.5) : NaN);
      rows[`${v.key}P99`].push(s.length ? quantile(s, 0.99) : NaN);
      rows[`${v.key}Max`].push(s.length ? s.at(-1) : NaN);
      rows[`${v.key}Peaks`].push(s.length ? s.filter((x) => x >= PEAK_MS).length : NaN);
      rows[`${v.key}Setup`].push(s.length ? j.setupMs : NaN);
      if (s.length) { pooled[v.key].push(...s); noDelay[v.key].push(`${j.noDelaySockets}/${j.streamSockets}`); }
      if (j.error) problems.push(`round ${i + 1}, ${v.label}: ${j.error}`);
    }
    process.stderr.write(`round ${i + 1}/${RUNS} done\n`);
  }
  for (const p of problems) console.log(`  no figure: ${p}`);
  const result = {};
  const table = (title, suffix, unit, digits, baseline) => printTable({ title, unit, digits, rows: variants.map((v) => ({
    key: `${v.key}${suffix}`, label: v.label, values: rows[`${v.key}${suffix}`], ...(baseline(v) ? { baseline: `${baseline(v)}${suffix}` } : {}),
  })) });
  result.p50 = table('1. RTT p50 per call', 'P50', 'ms', 3, (v) => (v.key === 'udp' ? undefined : 'udp'));
  result.p99 = table('2. RTT p99 per call (Nagle off against Nagle on, same transport)', 'P99', 'ms', 2, (v) => (v.mode === 'as-is' && v.key !== 'udp' ? `${v.key}Nagle` : undefined));
  result.max = table('3. RTT max per call', 'Max', 'ms', 1, (v) => (v.mode === 'as-is' && v.key !== 'udp' ? `${v.key}Nagle` : undefined));
  result.setup = table('4. call set-up: offer to both data channels open (ICE, DTLS, SCTP through the relay)', 'Setup', 'ms', 0, (v) => (v.mode === 'as-is' && v.key !== 'udp' ? `${v.key}Nagle` : undefined));
  console.log(`5. all rounds pooled (${RUNS} x ${COUNT} probes per line); probes >= ${PEAK_MS} ms and TCP_NODELAY on werift's TURN sockets, call by call`);
  result.pooled = {};
  for (const v of variants) {
    const s = pooled[v.key].sort((a, b) => a - b);
    const peaks = s.filter((x) => x >= PEAK_MS).length;
    result.pooled[v.key] = { n: s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95), p99: quantile(s, 0.99), max: s.at(-1) ?? NaN, peaks, noDelay: noDelay[v.key] };
    const q = result.pooled[v.key];
    console.log(`  ${v.label.padEnd(36)} p50 ${fmt(q.p50, 3)}  p95 ${fmt(q.p95, 2)}  p99 ${fmt(q.p99, 2)}  max ${fmt(q.max, 1)} ms  >= ${PEAK_MS} ms: ${peaks}/${s.length} (${rows[`${v.key}Peaks`].map((x) => fmt(x, 0)).join(' ')})  noDelay ${v.transport === 'udp' ? '-' : noDelay[v.key].join(' ')}`);
  }
  const missingPatch = variants.some((v) => v.mode === 'as-is' && v.transport !== 'udp' && noDelay[v.key].some((x) => x.startsWith('0/')));
  if (missingPatch) console.log('  note: werift as installed left Nagle on (patch 007 not applied): both variants measure the same thing');
  footer(start);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/turn-rtt.json'), JSON.stringify({ rounds: RUNS, count: COUNT, peakMs: PEAK_MS, rows, problems, result }, null, 2));
  return variants.some((v) => pooled[v.key].length === 0) ? 1 : 0;
});
