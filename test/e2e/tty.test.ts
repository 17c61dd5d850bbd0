import { execFileSync, spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import type { StunJson } from '../../src/commands/stun.js';
import { BIN, ROOT, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { startResponder, type Responder } from '../helpers/responder.js';
import { describeWith } from '../helpers/system.js';

interface PtyRun {
  /** Everything the terminal saw, up to maxBytes. */
  output: string;
  /** Bytes the terminal saw in all (counting on past maxBytes until the run was cut). */
  bytes: number;
  /** The CLI's exit code, null when the run had to be killed. */
  code: number | null;
  ms: number;
}

interface PtyOptions {
  cols: number;
  rows: number;
  env?: Record<string, string>;
  /** Output beyond this ends the run (killed): a runaway writer cannot fill the disk or the memory. */
  maxBytes?: number;
  /** The run is killed after this long. */
  timeoutMs?: number;
  /** Called with the CLI's pid once it runs; for sending it signals. */
  onStart?: (pid: number) => void;
  /** Kept up to date with the output so far. */
  live?: { output: string };
}

const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * Run the CLI on a pseudo-terminal (util-linux script) of the given size,
 * bounded in output and time. The shell prints its pid and execs node, so
 * the test knows the CLI's pid and kills it (SIGKILL) whatever happens.
 */
function onPty(args: string[], o: PtyOptions): Promise<PtyRun> {
  const maxBytes = o.maxBytes ?? 256 * 1024;
  const inner = `stty cols ${o.cols} rows ${o.rows}; echo "pid=$$"; exec ${[process.execPath, BIN, ...args].map(q).join(' ')}`;
  const started = Date.now();
  const child = spawn('script', ['-qfec', inner, '/dev/null'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let bytes = 0;
  let pid: number | undefined;
  const killAll = () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    child.kill('SIGKILL');
  };
  return new Promise((resolve) => {
    const timer = setTimeout(killAll, o.timeoutMs ?? 20000);
    child.stdout.on('data', (d: Buffer) => {
      bytes += d.length;
      if (output.length < maxBytes) output += d.toString('utf8');
      if (o.live) o.live.output = output;
      if (pid === undefined) {
        const m = /pid=(\d+)/.exec(output);
        if (m) {
          pid = Number(m[1]);
          o.onStart?.(pid);
        }
      }
      if (bytes > maxBytes) killAll();
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      killAll();
      resolve({ output, bytes, code, ms: Date.now() - started });
    });
  });
}

const SIZED = { cols: 80, rows: 24 };
const NO_SIZE = { cols: 0, rows: 0 };
const COLOUR = /\u001b\[3\dm/;
// ora's spinner frames (dots) and its cursor moves
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

describeWith({ commands: ['script', 'stty'] }, 'on a terminal', () => {
  let silent: Responder;
  beforeAll(async () => {
    silent = await startResponder(() => []);
  });
  afterAll(async () => {
    await silent.close();
  });

  it('a spinner shows progress, and colour is on', async () => {
    const r = await onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '500'], SIZED);
    expect(r.code, why(r)).toBe(1);
    expect(r.output).toContain('querying 1 STUN server(s)');
    expect(r.output).toMatch(SPINNER);
    expect(r.output).toMatch(COLOUR);
  });

  it('--json: no spinner and no colour, even on a terminal', async () => {
    const r = await onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '500', '--json'], SIZED);
    expect(r.output).not.toContain('querying');
    expect(r.output).not.toContain('\u001b[');
    const doc = r.output.replace(/\r\n/g, '\n').replace(/^pid=\d+\n/, '');
    expect((JSON.parse(doc) as StunJson).servers[0]!.error?.code).toBe('TIMEOUT');
  });

  it.each([
    ['NO_COLOR=1', { NO_COLOR: '1' }],
    ['TERM=dumb', { TERM: 'dumb' }],
    ['CI=true', { CI: 'true' }],
  ])('%s: no spinner on a terminal', async (_name, env) => {
    const r = await onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '500'], { ...SIZED, env });
    expect(r.code, why(r)).toBe(1);
    expect(r.output).toMatch(/No STUN server answered/);
    expect(r.output).not.toContain('querying');
    expect(r.output).not.toMatch(SPINNER);
  });

  it('a terminal shrunk to no width mid-run: the spinner stops for good, and one SIGINT still ends the run', async () => {
    const before = silent.received.length;
    let pid = 0;
    const live = { output: '' };
    const run = onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '60000'], { ...SIZED, timeoutMs: 20000, live, onStart: (p) => { pid = p; } });
    await vi.waitFor(() => expect(silent.received.length).toBeGreaterThan(before), { timeout: 10000, interval: 20 });
    const tty = readlinkSync(`/proc/${pid}/fd/2`);
    expect(tty).toMatch(/^\/dev\/pts\/\d+$/);
    // The spinner is drawing; then the terminal loses its size (the kernel sends SIGWINCH).
    await vi.waitFor(() => expect(live.output).toMatch(SPINNER), { timeout: 5000, interval: 10 });
    execFileSync('stty', ['-F', tty, 'cols', '0', 'rows', '0']);
    // A frame may be on its way; after that, nothing. No event says "nothing more
    // was drawn": give a spinner (a frame every 80 ms) several frames' time.
    await new Promise((r) => setTimeout(r, 200));
    const mark = live.output.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(live.output.slice(mark)).not.toMatch(SPINNER);
    process.kill(pid, 'SIGINT');
    const r = await run;
    expect(r.code, why(r)).toBe(130);
    expect(r.output).toContain('querying');
    expect(r.bytes).toBeLessThan(16 * 1024);
  });

  it('a terminal without a size: one SIGINT ends a run in flight (exit 130), no spinner, little output', async () => {
    const before = silent.received.length;
    let pid = 0;
    const run = onPty(['stun', `127.0.0.1:${silent.port}`, '--count', '1', '--timeout', '60000'], { ...NO_SIZE, timeoutMs: 15000, onStart: (p) => { pid = p; } });
    // Interrupt once the request has reached the server: the run is in flight.
    await vi.waitFor(() => expect(silent.received.length).toBeGreaterThan(before), { timeout: 10000, interval: 20 });
    process.kill(pid, 'SIGINT');
    const r = await run;
    expect(r.code, why(r)).toBe(130);
    expect(r.ms).toBeLessThan(15000);
    expect(r.bytes).toBeLessThan(4096);
    expect(r.output).toContain('ABORTED');
    expect(r.output).not.toContain('querying');
  });
});

describeWith({ commands: ['script', 'stty', 'turnserver'] }, 'on a terminal without a size (stty size: 0 0), against coturn', () => {
  let stunOnly: Coturn;
  let turn: Coturn;
  beforeAll(async () => {
    stunOnly = await startCoturn({ ips: ['127.0.0.1', '127.0.0.2'], stunOnly: true });
    turn = await startCoturn({ users: [{ user: 'tty', password: 'tty-password' }], args: ['--allow-loopback-peers'] });
  });
  afterAll(async () => {
    await stunOnly?.stop();
    await turn?.stop();
  });

  // Before, ora took the 0 columns at face value, believed its spinner line
  // covered Infinity rows and erased them in a loop that never ended: hundreds
  // of MB of cursor moves, and signals never handled.
  it.each([
    ['stun', () => ['stun', `127.0.0.1:${stunOnly.port}`, '-c', '2'], /Loopback address 127\.0\.0\.1/],
    ['nat', () => ['nat', '-s', `127.0.0.1:${stunOnly.port}`, '--no-hairpin'], /Open internet|no NAT/i],
    ['turn', () => ['turn', `turn:127.0.0.1:${turn.port}`, '--user', 'tty', '--password', 'tty-password', '--count', '3'], /TURN server works/],
  ])('%s finishes with its verdict and no spinner, in bounded output and time', async (_name, argv, verdict) => {
    const r = await onPty(argv(), { ...NO_SIZE, maxBytes: 64 * 1024, timeoutMs: 30000 });
    expect(r.bytes).toBeLessThan(16 * 1024);
    expect(r.code, why(r)).toBe(0);
    expect(r.output).toMatch(verdict);
    expect(r.output).not.toMatch(SPINNER);
  }, 40000);
});
