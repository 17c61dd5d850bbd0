#!/usr/bin/env node
// Benchmark: the wall time of `rtcprobe check` against running `stun`, `nat` and `turn`
// one after another, on one loopback coturn (STUN + TURN over UDP and TCP), over
// BENCH_RUNS rounds (default 5); the order alternates round by round so that load from
// elsewhere affects both alike. Figures:
//   1. check without the werift steps (--skip portmap,gather,e2e: the same work as the
//      three commands, in parallel) vs. stun + nat + turn in sequence (the baseline),
//      and the check's own run time (the report's elapsedMs) over its slowest step
//      (1.0 = nothing beyond it);
//   2. the full check (gathering and a relayed WebRTC call per TURN URL, --skip portmap);
//   3. time to the first and to the last candidate: check's gathering (per URL, all
//      URLs) vs. werift's own RTCPeerConnection gathering on the same configuration
//      (which uses the first STUN and the first TURN URL only), both measured in-process
//      from the start of gathering.
// A round whose run fails gives no figure (never 0); a run that fails every round exits 1.
//   npm run bench:check        (BENCH_RUNS)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import { freePortRange } from '../lib/ports.mjs';
import { have, main, run, spawnTracked, tempDir } from '../lib/procs.mjs';
import { footer, header, printTable } from '../lib/report.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/rtcprobe.js');
const GATHER = fileURLToPath(new URL('./werift-gather.mjs', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const USER = 'bench';
const PASSWORD = 'bench-password';

function ping(port) {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    const t = setTimeout(() => { s.close(); resolve(false); }, 200);
    s.on('message', () => { clearTimeout(t); s.close(); resolve(true); });
    s.on('error', () => {});
    s.send(req, port, '127.0.0.1');
  });
}

main(async () => {
  if (!have('turnserver')) { console.error('bench:check needs turnserver (Debian package coturn)'); return 2; }
  const base = await freePortRange(60, { protocols: ['udp', 'tcp'] });
  const PORT = base;
  const dir = tempDir('rtcprobe-bench-check-');
  writeFileSync(join(dir, 'turnserver.conf'), '');
  const coturn = spawnTracked('turnserver', [
    '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'pid'),
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(PORT), '--alt-listening-port', String(PORT + 1),
    '--min-port', String(base + 10), '--max-port', String(base + 59), '--no-tls', '--no-dtls',
    '--lt-cred-mech', '--user', `${USER}:${PASSWORD}`, '--realm', 'bench.test', '--allow-loopback-peers',
  ], { stdio: 'ignore' });
  let exited = false;
  coturn.once('exit', () => { exited = true; });
  process.stderr.write(`bench:check: started coturn pid ${coturn.pid} on port ${PORT}, temp dir ${dir}\n`);
  let ready = false;
  for (let i = 0; i < 50 && !ready && !exited; i++) ready = await ping(PORT);
  if (!ready) { console.error('coturn did not answer'); return 2; }

  const stun = `stun:127.0.0.1:${PORT}`;
  const turnUdp = `turn:127.0.0.1:${PORT}`;
  const turnTcp = `turn:127.0.0.1:${PORT}?transport=tcp`;
  const file = join(dir, 'ice.json');
  writeFileSync(file, JSON.stringify({ iceServers: [{ urls: [stun] }, { urls: [turnUdp, turnTcp], username: USER, credential: PASSWORD }] }));

  const start = header('bench:check', `check vs stun+nat+turn in sequence, loopback coturn, ${RUNS} rounds`);
  const rows = { lite: [], liteRun: [], liteOverSlowest: [], seq: [], full: [], fullRun: [], fullOverSlowest: [], checkFirst: [], checkLast: [], weriftFirst: [], weriftLast: [], weriftComplete: [] };
  const slowest = (j) => Math.max(...Object.values(j.steps).map((s) => s.elapsedMs ?? 0));
  async function check(extra) {
    const r = await run(process.execPath, [BIN, 'check', '--ice-servers', file, ...extra, '--json'], { cwd: ROOT, timeoutMs: 120_000 });
    let j;
    try { j = JSON.parse(r.stdout); } catch { return undefined; }
    return r.code === 0 ? { ms: r.ms, j } : undefined;
  }
  async function sequence() {
    let total = 0;
    for (const args of [['stun', stun], ['nat', `127.0.0.1:${PORT}`], ['turn', turnUdp, turnTcp, '-u', USER, '-p', PASSWORD, '--count', '10']]) {
      const r = await run(process.execPath, [BIN, ...args, '--json'], { cwd: ROOT, timeoutMs: 120_000 });
      // nat exits 1 on loopback (no RFC 5780 server: no verdict) and still measures what it can.
      if (r.code === null || r.code === 2) return NaN;
      total += r.ms;
    }
    return total;
  }
  for (let i = 0; i < RUNS; i++) {
    const steps = [
      async () => { const c = await check(['--skip', 'portmap,gather,e2e']); rows.lite.push(c ? c.ms : NaN); rows.liteRun.push(c ? c.j.elapsedMs : NaN); rows.liteOverSlowest.push(c ? c.j.elapsedMs / slowest(c.j) : NaN); },
      async () => { rows.seq.push(await sequence()); },
      async () => {
        const c = await check(['--skip', 'portmap', '--loopback']);
        rows.full.push(c ? c.ms : NaN);
        rows.fullRun.push(c ? c.j.elapsedMs : NaN);
        rows.fullOverSlowest.push(c ? c.j.elapsedMs / slowest(c.j) : NaN);
        rows.checkFirst.push(c?.j.steps.gather.firstMs ?? NaN);
        rows.checkLast.push(c?.j.steps.gather.lastMs ?? NaN);
      },
      async () => {
        const r = await run(process.execPath, [GATHER, file, '10000'], { cwd: ROOT, timeoutMs: 30_000 });
        let j;
        try { j = JSON.parse(r.stdout); } catch { j = {}; }
        rows.weriftFirst.push(j.firstMs ?? NaN);
        rows.weriftLast.push(j.lastMs ?? NaN);
        rows.weriftComplete.push(j.completeMs ?? NaN);
      },
    ];
    if (i % 2 === 1) steps.reverse();
    for (const s of steps) await s();
    process.stderr.write(`round ${i + 1}/${RUNS} done\n`);
  }
  const result = {};
  result.wall = printTable({ title: '1-2. wall time of a run (process start to exit)', unit: 'ms', rows: [
    { key: 'seq', label: 'stun + nat + turn, in sequence', values: rows.seq },
    { key: 'lite', label: 'check --skip portmap,gather,e2e', values: rows.lite, baseline: 'seq' },
    { key: 'full', label: 'check --skip portmap (werift steps)', values: rows.full, baseline: 'seq', note: 'includes the CLI\'s 2 s grace for werift\'s timers after the output' },
    { key: 'liteRun', label: 'check --skip portmap,gather,e2e: report ready', values: rows.liteRun, baseline: 'seq', note: 'elapsedMs of the report: in-process, no start-up' },
    { key: 'fullRun', label: 'check --skip portmap: report ready', values: rows.fullRun, baseline: 'seq' },
  ] });
  result.overSlowest = printTable({ title: 'check run (report elapsedMs) / its slowest step (1.0: nothing beyond the slowest part)', unit: 'x', digits: 2, rows: [
    { key: 'liteOverSlowest', label: 'check --skip portmap,gather,e2e', values: rows.liteOverSlowest },
    { key: 'fullOverSlowest', label: 'check --skip portmap', values: rows.fullOverSlowest },
  ] });
  result.gather = printTable({ title: '3. candidates: ms from the start of gathering', unit: 'ms', rows: [
    { key: 'weriftFirst', label: 'werift RTCPeerConnection: first', values: rows.weriftFirst },
    { key: 'checkFirst', label: 'check gathering: first', values: rows.checkFirst, baseline: 'weriftFirst' },
    { key: 'weriftLast', label: 'werift RTCPeerConnection: last', values: rows.weriftLast },
    { key: 'checkLast', label: 'check gathering: last', values: rows.checkLast, baseline: 'weriftLast' },
    { key: 'weriftComplete', label: 'werift RTCPeerConnection: complete', values: rows.weriftComplete },
  ] });
  footer(start);
  mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench/results/check.json'), JSON.stringify({ rounds: RUNS, rows, result }, null, 2));
  const failedEverywhere = Object.values(rows).some((v) => v.every((x) => !Number.isFinite(x)));
  return failedEverywhere ? 1 : 0;
});
