// Process bookkeeping for the benchmarks: every child a bench starts is tracked by
// pid, every resource it creates (temp directory, network namespace) registers a
// clean-up, and the bench ends by itself on success, on failure and on
// SIGINT/SIGTERM/SIGHUP, after stopping what it started and nothing else.
//
//   import { main, run, spawnTracked, onCleanup, tempDir } from '../lib/procs.mjs';
//   main(async () => { ...; return exitCode; });
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Children still running, by pid. */
const children = new Map();
/** Clean-up functions (synchronous), run once each, last registered first. */
const cleanups = [];
let stopping = false;
let shutdownPromise;

export class Interrupted extends Error {}

/** True once the bench has started to shut down (signal, error or end). */
export const isStopping = () => stopping;

/** Start a child and track it until it exits. Refused once the bench is shutting down. */
export function spawnTracked(cmd, args, opts = {}) {
  if (stopping) throw new Interrupted('shutting down, not starting ' + cmd);
  const child = spawn(cmd, args, opts);
  if (child.pid !== undefined) {
    children.set(child.pid, child);
    child.once('exit', () => children.delete(child.pid));
  }
  child.once('error', () => { if (child.pid !== undefined) children.delete(child.pid); });
  return child;
}

/**
 * Run a command to completion (tracked). Resolves with wall time in ms, exit code
 * (null when killed), signal, stdout, stderr and timedOut; rejects only when the
 * command cannot be started. A run that outlives timeoutMs gets SIGTERM, then SIGKILL.
 */
export function run(cmd, args, { timeoutMs = 120_000, ...opts } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let child;
    try {
      child = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    } catch (err) {
      reject(err);
      return;
    }
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 2000).unref();
    }, timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (stopping) reject(new Interrupted(`${cmd} stopped by the shutdown`));
      else resolve({ ms, code, signal, stdout, stderr, timedOut });
    });
  });
}

/** Register a synchronous clean-up (remove a directory, delete a namespace...). */
export function onCleanup(fn) {
  cleanups.push(fn);
}

/** A fresh temporary directory, removed at the end. */
export function tempDir(prefix = 'rtcprobe-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Whether a command is on PATH. */
export function have(tool) {
  try {
    execFileSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function runCleanups() {
  while (cleanups.length) {
    const fn = cleanups.pop();
    try { fn(); } catch (err) { process.stderr.write(`clean-up failed: ${err.message}\n`); }
  }
}

/** Last resort, synchronous (process 'exit'): SIGKILL whatever is left, then the clean-ups. */
function killAllSync() {
  stopping = true;
  for (const [pid] of children) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  children.clear();
  runCleanups();
}

/** Stop every tracked child (SIGTERM, up to graceMs, then SIGKILL), then run the clean-ups. */
export function shutdown(graceMs = 3000) {
  stopping = true;
  shutdownPromise ??= (async () => {
    const waiting = [...children.values()].map((c) => new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) { resolve(); return; }
      c.once('exit', resolve);
      try { c.kill('SIGTERM'); } catch { resolve(); }
    }));
    let timer;
    await Promise.race([Promise.all(waiting), new Promise((r) => { timer = setTimeout(r, graceMs); })]);
    clearTimeout(timer);
    for (const c of children.values()) {
      try { c.kill('SIGKILL'); } catch { /* already gone */ }
    }
    children.clear();
    runCleanups();
  })();
  return shutdownPromise;
}

const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * Run a bench: fn resolves with the exit code (default 0). Whatever happens, the bench
 * stops its children, runs its clean-ups and exits: 130/143/129 on a signal (a second
 * signal forces it), 2 when fn throws (message only, no stack trace).
 */
export function main(fn) {
  process.on('exit', killAllSync);
  for (const [sig, code] of Object.entries(SIGNAL_EXIT)) {
    process.on(sig, () => {
      if (stopping) { killAllSync(); process.exit(code); }
      process.stderr.write(`\n${sig}: stopping the processes this bench started\n`);
      shutdown().finally(() => process.exit(code));
    });
  }
  (async () => {
    let code;
    try {
      code = (await fn()) ?? 0;
    } catch (err) {
      if (err instanceof Interrupted) return; // the signal handler exits
      process.stderr.write(`bench failed: ${err?.message ?? err}\n`);
      code = 2;
    }
    if (shutdownPromise) return; // a signal is being handled
    await shutdown();
    process.exit(code);
  })();
}
