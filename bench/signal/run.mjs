// Benchmark of the signaling relay against a bare `ws` forwarder, on loopback.
//
//   npm run bench:signal -- [--clients 2000] [--duration 5] [--warmup 1] [--runs 3] [--window 1]
//                           [--scenarios bare,relay,redis] [--json]
//
// Each run starts the servers as child processes, opens --clients WebSocket
// clients in pairs (one room per pair), and lets every pair bounce signal
// messages back and forth with --window messages in flight (closed loop) for
// --duration seconds after --warmup. Scenarios, interleaved in every run:
//   bare   bench/signal/bare.mjs: forwards frames between partners, no protocol
//   relay  rtcprobe signal serve (one instance, memory bus)
//   redis  two rtcprobe signal serve instances behind a local redis-server;
//          the two peers of every pair sit on different instances
//   bare-batched (only with --scenarios) the bare forwarder writing at the end of
//          the event-loop turn, as the relay does: separates I/O strategy from protocol cost
// Reported per scenario (medians over runs): relayed messages per second,
// p50 and p99 one-way latency (send to receive, same clock), server memory per
// connection (RSS growth of the server processes once all clients joined,
// divided by the clients). Ratios are to the bare forwarder of the same run.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { median } from '../lib/stats.mjs';

const kib = (bytes) => (Number.isFinite(bytes) ? (bytes / 1024).toFixed(1) : 'n/a');

const root = fileURLToPath(new URL('../../', import.meta.url));
const BIN = `${root}bin/rtcprobe.js`;
const BARE = `${root}bench/signal/bare.mjs`;

function parseArgs(argv) {
  const o = { clients: 2000, duration: 5, warmup: 1, runs: 3, window: 1, json: false, scenarios: 'bare,relay,redis' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') o.json = true;
    else if (a.startsWith('--') && i + 1 < argv.length) {
      const k = a.slice(2);
      if (!(k in o)) throw new Error(`unknown option ${a}`);
      o[k] = typeof o[k] === 'number' ? Number(argv[++i]) : argv[++i];
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(o.clients >= 2 && o.clients % 2 === 0 && o.clients <= 20000)) throw new Error('--clients: an even number, 2..20000');
  if (!(o.duration > 0 && o.duration <= 60)) throw new Error('--duration: 0..60 s');
  if (!(o.runs >= 1 && o.runs <= 15)) throw new Error('--runs: 1..15');
  if (!(o.window >= 1 && o.window <= 64)) throw new Error('--window: 1..64');
  o.scenarios = o.scenarios.split(',');
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (s) => process.stderr.write(`${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (!existsSync(`${root}dist/commands/signal.js`)) {
  log('dist/ is missing: run "npm run build" first');
  process.exit(2);
}

// Every process the bench starts is in `children` until it has exited. Whatever
// way the bench ends (done, failed, SIGINT, SIGTERM), they are stopped: SIGTERM,
// then SIGKILL for those still there after a grace period; a last SIGKILL on exit.
const children = new Set();
process.on('exit', () => { for (const c of children) c.kill('SIGKILL'); });

async function stopAll(graceMs = 3000) {
  const all = [...children];
  if (all.length === 0) return;
  await Promise.all(all.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => { child.kill('SIGKILL'); }, graceMs);
    child.once('exit', () => { clearTimeout(t); resolve(); });
    child.kill('SIGTERM');
  })));
}

let ending = false;
async function end(code, why) {
  if (ending) return;
  ending = true;
  if (why) log(why);
  await stopAll();
  process.exit(code);
}

for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(sig, () => {
    // A second signal while stopping: no more waiting.
    if (ending) process.exit(code);
    void end(code, `signal bench: ${sig}, stopping ${children.size} process(es)`);
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

/** Start a process and wait for its first stdout line (JSON) or a readiness text. */
function start(cmd, args, readyText) {
  return new Promise((resolve, reject) => {
    if (ending) return reject(new Error('the bench is stopping'));
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    let out = '';
    let err = '';
    const t = setTimeout(() => reject(new Error(`${cmd} did not start: ${err.slice(-300)}`)), 20000);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      if (readyText ? out.includes(readyText) : out.includes('\n')) {
        clearTimeout(t);
        child.stdout.removeAllListeners('data');
        child.stdout.resume();
        resolve({ child, pid: child.pid, ready: readyText ? {} : JSON.parse(out.slice(0, out.indexOf('\n'))) });
      }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`${cmd} exited ${code}: ${err.slice(-300)}`)); });
  });
}

function stop(proc) {
  return new Promise((resolve) => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) return resolve();
    const t = setTimeout(() => proc.child.kill('SIGKILL'), 8000);
    proc.child.once('exit', () => { clearTimeout(t); resolve(); });
    proc.child.kill('SIGTERM');
  });
}

// Extra node flags for the relay processes, e.g. SIGNAL_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
const NODE_ARGS = (process.env.SIGNAL_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const RELAY_LIMITS = ['--rate', '1000000', '--burst', '1000000', '--max-connections', '100000', '--max-rooms', '100000', '--join-timeout', '120000', '--max-message-bytes', '65536'];
const CANDIDATE = 'candidate:842163049 1 udp 1677729535 203.0.113.7 47563 typ srflx raddr 192.0.2.10 rport 47563 generation 0 ufrag sXb2 network-id 1 network-cost 10';

async function startServers(kind, redisUrl, run) {
  if (kind === 'bare' || kind === 'bare-batched') {
    const p = await start(process.execPath, [...NODE_ARGS, BARE, ...(kind === 'bare-batched' ? ['--batch'] : [])]);
    return { procs: [p], urls: [`ws://127.0.0.1:${p.ready.port}`] };
  }
  if (kind === 'relay') {
    const p = await start(process.execPath, [...NODE_ARGS, BIN, 'signal', 'serve', '--port', '0', '--json', '--instance-id', `bench-${run}`, ...RELAY_LIMITS]);
    return { procs: [p], urls: [p.ready.ws] };
  }
  const procs = [];
  for (const side of ['a', 'b']) {
    procs.push(await start(process.execPath, [...NODE_ARGS, BIN, 'signal', 'serve', '--port', '0', '--json', '--redis', redisUrl, '--instance-id', `bench-${run}-${side}`, ...RELAY_LIMITS]));
  }
  return { procs, urls: procs.map((p) => p.ready.ws) };
}

/** Open a client; for the relay protocol join its pair's room. Resolves when ready to send. */
function openClient(kind, url, pair, side) {
  return new Promise((resolve, reject) => {
    const bare = kind.startsWith('bare');
    const target = bare ? `${url}/p/${pair}` : url;
    const ws = new WebSocket(target, { perMessageDeflate: false });
    const t = setTimeout(() => reject(new Error(`client ${pair}${side} not ready`)), 60000);
    ws.on('error', (e) => { clearTimeout(t); reject(e); });
    ws.once('open', () => {
      if (bare) { clearTimeout(t); resolve(ws); return; }
      ws.send(JSON.stringify({ type: 'join', room: `bench-${pair}`, peerId: side }));
      ws.once('message', (d) => {
        clearTimeout(t);
        const m = JSON.parse(d.toString());
        if (m.type !== 'joined') reject(new Error(`join refused: ${d}`));
        else resolve(ws);
      });
    });
  });
}

async function openAll(kind, urls, pairs) {
  const a = new Array(pairs);
  const b = new Array(pairs);
  const batch = 200;
  // All "a" peers first, then all "b" peers: every "b" finds its partner in the room.
  for (const [side, arr, url] of [['a', a, urls[0]], ['b', b, urls[urls.length - 1]]]) {
    for (let i = 0; i < pairs; i += batch) {
      const n = Math.min(batch, pairs - i);
      const opened = await Promise.all(Array.from({ length: n }, (_, k) => openClient(kind, url, i + k, side)));
      opened.forEach((ws, k) => { arr[i + k] = ws; });
    }
  }
  if (kind.startsWith('bare')) await sleep(200); // the "paired" notes
  return { a, b };
}

let redisPid;

async function scenario(kind, redisUrl, run) {
  const pairs = opts.clients / 2;
  const servers = await startServers(kind, redisUrl, run);
  await sleep(300);
  const rssBefore = servers.procs.reduce((s, p) => s + rssBytes(p.pid), 0);
  const { a, b } = await openAll(kind, servers.urls, pairs);
  await sleep(500);
  const rssAfter = servers.procs.reduce((s, p) => s + rssBytes(p.pid), 0);

  let measuring = false;
  let stopping = false;
  let delivered = 0;
  let relayErrors = 0;
  const lat = [];
  const msg = (to) => (t) => `{"type":"signal","to":"${to}","data":{"t":${t},"c":"${CANDIDATE}"}}`;
  const toA = msg('a');
  const toB = msg('b');
  const wire = (ws, reply) => {
    ws.on('message', (data) => {
      const s = data.toString();
      const at = s.indexOf('"t":');
      if (at < 0) { if (s.includes('"error"')) relayErrors++; return; }
      const now = performance.now();
      if (measuring) {
        delivered++;
        lat.push(now - Number(s.slice(at + 4, s.indexOf(',', at))));
      }
      if (!stopping) queue(ws, reply(now));
    });
  };
  // Replies go out at the end of the event-loop turn, after every ready socket was read.
  let pending = [];
  const flush = () => {
    const p = pending;
    pending = [];
    for (let i = 0; i < p.length; i += 2) p[i].send(p[i + 1]);
  };
  const queue = (ws, text) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(ws, text);
  };
  for (let i = 0; i < pairs; i++) {
    wire(a[i], toB);
    wire(b[i], toA);
  }
  const t0 = performance.now();
  for (let w = 0; w < opts.window; w++) for (let i = 0; i < pairs; i++) a[i].send(toB(t0));
  await sleep(opts.warmup * 1000);
  const cpu0 = servers.procs.reduce((x, p) => x + cpuSeconds(p.pid), 0);
  const redisCpu0 = kind === 'redis' ? cpuSeconds(redisPid) : 0;
  const own0 = process.cpuUsage();
  measuring = true;
  const m0 = performance.now();
  await sleep(opts.duration * 1000);
  measuring = false;
  const elapsed = (performance.now() - m0) / 1000;
  const serverCpu = servers.procs.reduce((x, p) => x + cpuSeconds(p.pid), 0) - cpu0;
  const redisCpu = kind === 'redis' ? cpuSeconds(redisPid) - redisCpu0 : 0;
  const own = process.cpuUsage(own0);
  stopping = true;
  lat.sort((x, y) => x - y);
  const result = {
    kind,
    msgsPerSec: delivered / elapsed,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    // RSS that did not grow (GC ran, or too few clients to see) is no figure.
    memPerConnBytes: rssAfter > rssBefore ? (rssAfter - rssBefore) / opts.clients : NaN,
    /** CPU the server process(es) used per delivered message, microseconds. */
    serverCpuUsPerMsg: (serverCpu * 1e6) / Math.max(1, delivered),
    serverCpuCores: serverCpu / elapsed,
    loadCpuCores: (own.user + own.system) / 1e6 / elapsed,
    /** redis-server's share, redis scenario only (not in serverCpuUsPerMsg). */
    redisCpuCores: redisCpu / elapsed,
    relayErrors,
  };
  for (const ws of [...a, ...b]) ws.terminate();
  await Promise.all(servers.procs.map(stop));
  return result;
}

async function main() {
  let redis;
  const scenarios = [...opts.scenarios];
  if (scenarios.includes('redis')) {
    const port = await freePort();
    try {
      redis = await start('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], 'Ready to accept connections');
      redis.url = `redis://127.0.0.1:${port}`;
      redisPid = redis.pid;
    } catch (e) {
      log(`redis scenario skipped: ${e.message}`);
      scenarios.splice(scenarios.indexOf('redis'), 1);
    }
  }
  log(`signal bench: ${opts.clients} clients (${opts.clients / 2} pairs), window ${opts.window}, ${opts.warmup}+${opts.duration} s, ${opts.runs} run(s), scenarios ${scenarios.join(', ')}`);
  const runs = [];
  for (let r = 0; r < opts.runs; r++) {
    const row = {};
    for (const kind of scenarios) {
      row[kind] = await scenario(kind, redis?.url, r);
      const x = row[kind];
      log(`  run ${r + 1} ${kind.padEnd(5)} ${x.msgsPerSec.toFixed(0).padStart(7)} msg/s  p50 ${x.p50Ms.toFixed(2)} ms  p99 ${x.p99Ms.toFixed(2)} ms  ${kib(x.memPerConnBytes)} KiB/conn  server ${x.serverCpuUsPerMsg.toFixed(1)} µs CPU/msg (${x.serverCpuCores.toFixed(2)} cores, load ${x.loadCpuCores.toFixed(2)}${kind === 'redis' ? `, redis-server ${x.redisCpuCores.toFixed(2)}` : ''})${x.relayErrors ? `  ${x.relayErrors} relay errors` : ''}`);
    }
    runs.push(row);
  }
  if (redis) await stop(redis);

  const summary = {};
  for (const kind of scenarios) {
    const get = (f) => median(runs.map((row) => row[kind][f]));
    summary[kind] = { msgsPerSec: get('msgsPerSec'), p50Ms: get('p50Ms'), p99Ms: get('p99Ms'), memPerConnBytes: get('memPerConnBytes'), serverCpuUsPerMsg: get('serverCpuUsPerMsg') };
    if (kind !== 'bare' && runs[0].bare) {
      // Ratios per run, then the median: the baseline of the same run.
      const ratio = (f) => median(runs.map((row) => row[kind][f] / row.bare[f]));
      summary[kind].vsBare = { throughput: ratio('msgsPerSec'), p50: ratio('p50Ms'), p99: ratio('p99Ms'), memPerConn: ratio('memPerConnBytes'), serverCpuPerMsg: ratio('serverCpuUsPerMsg') };
    }
  }
  const doc = { bench: 'signal', clients: opts.clients, window: opts.window, durationS: opts.duration, runs: opts.runs, node: process.version, summary, perRun: runs };
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const lines = [
    `medians over ${opts.runs} run(s), ${opts.clients} clients, window ${opts.window}; "x" columns: median of per-run ratios to bare`,
    `  scenario      msg/s      x   p50 ms      x   p99 ms      x  KiB/conn      x  µs CPU/msg      x`,
  ];
  const x = (s, f) => (s.vsBare ? (Number.isFinite(s.vsBare[f]) ? s.vsBare[f].toFixed(2) : 'n/a') : '1.00').padStart(6);
  for (const kind of scenarios) {
    const s = summary[kind];
    lines.push(`  ${kind.padEnd(8)} ${s.msgsPerSec.toFixed(0).padStart(10)} ${x(s, 'throughput')}   ${s.p50Ms.toFixed(2).padStart(6)} ${x(s, 'p50')}   ${s.p99Ms.toFixed(2).padStart(6)} ${x(s, 'p99')}  ${kib(s.memPerConnBytes).padStart(8)} ${x(s, 'memPerConn')}  ${s.serverCpuUsPerMsg.toFixed(1).padStart(10)} ${x(s, 'serverCpuPerMsg')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => end(0),
  (e) => end(1, `bench failed: ${e.stack ?? e}`),
);
