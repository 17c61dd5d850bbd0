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
//   LAB=1 npm run bench:check  (root) the same rounds behind a symmetric NAT of the NAT lab
//     (lab/nat-lab.sh up apdm, id bk<pid>): every command runs in the client namespace,
//     STUN/NAT against the lab's RFC 5780 coturn (203.0.113.1:3478), TURN against a second
//     coturn in the public namespace (203.0.113.1:41000, UDP only); no --loopback. The lab
//     is taken down at the end, on failure and on Ctrl-C.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePortRange, stunPing } from '../lib/ports.mjs';
import { have, main, onCleanup, run, spawnTracked, tempDir } from '../lib/procs.mjs';
import { footer, header, printTable } from '../lib/report.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/rtcprobe.js');
const GATHER = fileURLToPath(new URL('./werift-gather.mjs', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const USER = 'bench';
const PASSWORD = 'bench-password';
const LAB = process.env.LAB === '1';
const LAB_SCRIPT = join(ROOT, 'lab/nat-lab.sh');
const LAB_ID = `bk${process.pid}`.slice(0, 12);
const CLI_NS = `rpn-${LAB_ID}-cli`;
const PUB_NS = `rpn-${LAB_ID}-pub`;
const LAB_TURN_IP = '203.0.113.1';
const LAB_TURN_PORT = 41000;

/** node with args, in the lab's client namespace when LAB=1. */
const node = (args) => (LAB ? ['ip', ['netns', 'exec', CLI_NS, process.execPath, ...args]] : [process.execPath, args]);

/** Build the NAT lab (symmetric NAT) with a TURN server on its public side; taken down by the clean-ups. */
async function labUp(dir) {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('LAB=1 needs root (network namespaces, nftables)');
  for (const t of ['ip', 'nft', 'turnserver']) if (!have(t)) throw new Error(`LAB=1 needs ${t}`);
  onCleanup(() => {
    try { execFileSync('bash', [LAB_SCRIPT, 'down', '--id', LAB_ID], { stdio: 'ignore', timeout: 30_000 }); } catch { /* reported by the lab's own status */ }
  });
  const up = await run('bash', [LAB_SCRIPT, 'up', 'apdm', '--id', LAB_ID], { timeoutMs: 60_000 });
  if (up.code !== 0) throw new Error(`nat-lab up apdm failed: ${up.stderr.slice(-1000)}`);
  process.stderr.write(`bench:check: NAT lab ${LAB_ID} up (symmetric NAT), client namespace ${CLI_NS}\n`);
  const coturn = spawnTracked('ip', ['netns', 'exec', PUB_NS, 'turnserver',
    '-c', join(dir, 'turnserver.conf'), '--no-cli', '--log-file', 'stdout', '--simple-log', '--pidfile', join(dir, 'lab-turn.pid'),
    '--listening-ip', LAB_TURN_IP, '--relay-ip', LAB_TURN_IP, '--listening-port', String(LAB_TURN_PORT), '--alt-listening-port', String(LAB_TURN_PORT + 1),
    '--min-port', String(LAB_TURN_PORT + 10), '--max-port', String(LAB_TURN_PORT + 59), '--no-tls', '--no-dtls',
    '--lt-cred-mech', '--user', `${USER}:${PASSWORD}`, '--realm', 'bench.test'], { stdio: 'ignore' });
  process.stderr.write(`bench:check: started coturn pid ${coturn.pid} in ${PUB_NS} on ${LAB_TURN_IP}:${LAB_TURN_PORT}, temp dir ${dir}\n`);
  // Ready once a Binding request from the client namespace gets an answer (through the NAT).
  for (let i = 0; i < 20; i++) {
    const [cmd, args] = node([BIN, 'stun', `stun:${LAB_TURN_IP}:${LAB_TURN_PORT}`, '--json']);
    const r = await run(cmd, args, { cwd: ROOT, timeoutMs: 15_000 });
    if (r.code === 0) return;
    if (coturn.exitCode !== null) break;
  }
  throw new Error('the lab\'s TURN server did not answer');
}

main(async () => {
  if (!have('turnserver')) { console.error('bench:check needs turnserver (Debian package coturn)'); return 2; }
  const dir = tempDir('rtcprobe-bench-check-');
  writeFileSync(join(dir, 'turnserver.conf'), '');
  let stun;
  let natTarget;
  let turnUrls;
  if (LAB) {
    await labUp(dir);
    stun = 'stun:203.0.113.1:3478';
    natTarget = '203.0.113.1';
    turnUrls = [`turn:${LAB_TURN_IP}:${LAB_TURN_PORT}`];
  } else {
    const base = await freePortRange(60, { protocols: ['udp', 'tcp'] });
    const PORT = base;
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
    for (let i = 0; i < 50 && !ready && !exited; i++) ready = await stunPing(PORT);
    if (!ready) { console.error('coturn did not answer'); return 2; }
    stun = `stun:127.0.0.1:${PORT}`;
    natTarget = `127.0.0.1:${PORT}`;
    turnUrls = [`turn:127.0.0.1:${PORT}`, `turn:127.0.0.1:${PORT}?transport=tcp`];
  }
  const file = join(dir, 'ice.json');
  writeFileSync(file, JSON.stringify({ iceServers: [{ urls: [stun] }, { urls: turnUrls, username: USER, credential: PASSWORD }] }));

  const start = header('bench:check', LAB
    ? `check vs stun+nat+turn in sequence, NAT lab ${LAB_ID} (symmetric NAT, coturn behind it), ${RUNS} rounds`
    : `check vs stun+nat+turn in sequence, loopback coturn, ${RUNS} rounds`);
  const rows = { lite: [], liteRun: [], liteOverSlowest: [], seq: [], full: [], fullRun: [], fullOverSlowest: [], checkFirst: [], checkLast: [], weriftFirst: [], weriftLast: [], weriftComplete: [] };
  const weriftTypes = [];
  const checkTypes = [];
  const slowest = (j) => Math.max(...Object.values(j.steps).map((s) => s.elapsedMs ?? 0));
  async function check(extra) {
    const [cmd, args] = node([BIN, 'check', '--ice-servers', file, ...extra, '--json']);
    const r = await run(cmd, args, { cwd: ROOT, timeoutMs: 120_000 });
    let j;
    try { j = JSON.parse(r.stdout); } catch { return undefined; }
    return r.code === 0 ? { ms: r.ms, j } : undefined;
  }
  async function sequence() {
    let total = 0;
    for (const cli of [['stun', stun], ['nat', natTarget], ['turn', ...turnUrls, '-u', USER, '-p', PASSWORD, '--count', '10']]) {
      const [cmd, args] = node([BIN, ...cli, '--json']);
      const r = await run(cmd, args, { cwd: ROOT, timeoutMs: 120_000 });
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
        const c = await check(['--skip', 'portmap', ...(LAB ? [] : ['--loopback'])]);
        rows.full.push(c ? c.ms : NaN);
        rows.fullRun.push(c ? c.j.elapsedMs : NaN);
        rows.fullOverSlowest.push(c ? c.j.elapsedMs / slowest(c.j) : NaN);
        rows.checkFirst.push(c?.j.steps.gather.firstMs ?? NaN);
        rows.checkLast.push(c?.j.steps.gather.lastMs ?? NaN);
        checkTypes.push((c?.j.steps.gather.candidates ?? []).map((x) => x.type).join(','));
      },
      async () => {
        const [cmd, args] = node([GATHER, file, '10000', LAB ? 'interfaces' : 'loopback']);
        const r = await run(cmd, args, { cwd: ROOT, timeoutMs: 30_000 });
        let j;
        try { j = JSON.parse(r.stdout); } catch { j = {}; }
        rows.weriftFirst.push(j.firstMs ?? NaN);
        rows.weriftLast.push(j.lastMs ?? NaN);
        rows.weriftComplete.push(j.completeMs ?? NaN);
        weriftTypes.push((j.types ?? []).join(','));
      },
    ];
    if (i % 2 === 1) steps.reverse();
    for (const s of steps) await s();
    process.stderr.write(`round ${i + 1}/${RUNS} done (candidates: check ${checkTypes.at(-1) || 'none'}; werift ${weriftTypes.at(-1) || 'none'})\n`);
  }
  const result = {};
  result.wall = printTable({ title: '1-2. wall time of a run (process start to exit)', unit: 'ms', rows: [
    { key: 'seq', label: 'stun + nat + turn, in sequence', values: rows.seq },
    { key: 'lite', label: 'check --skip portmap,gather,e2e', values: rows.lite, baseline: 'seq' },
    { key: 'full', label: 'check --skip portmap (werift steps)', values: rows.full, baseline: 'seq', note: 'includes any time the process lives on after its output' },
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
  writeFileSync(join(ROOT, `bench/results/${LAB ? 'check-lab' : 'check'}.json`), JSON.stringify({ rounds: RUNS, lab: LAB ? { id: LAB_ID, topology: 'apdm' } : undefined, rows, candidateTypes: { check: checkTypes, werift: weriftTypes }, result }, null, 2));
  const failedEverywhere = Object.values(rows).some((v) => v.every((x) => !Number.isFinite(x)));
  return failedEverywhere ? 1 : 0;
});
