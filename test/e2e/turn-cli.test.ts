import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BIN, ROOT, runCli, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';

describe('rtcprobe turn: usage errors exit 2 before any network traffic', () => {
  it.each([
    [['turn'], /turn: or turns: URI/],
    [['turn', 'stun:127.0.0.1:3478'], /STUN URI/],
    [['turn', 'turn://127.0.0.1'], /no "\/\/"/],
    [['turn', 'turn:127.0.0.1', '--password', 'x'], /--password needs --user/],
    [['turn', 'turn:127.0.0.1', '--user', 'x'], /--user needs --password/],
    [['turn', 'turn:127.0.0.1', '--secret', 'abc', '--password', 'x', '--user', 'u'], /exclude each other/],
    [['turn', '--ice-servers', '/nonexistent/ice.json'], /cannot read --ice-servers/],
    [['turn', 'turn:127.0.0.1', '--size', '4'], /between 12 and/],
  ])('%j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('rtcprobe turn: credentials in a URI', () => {
  it('are never echoed, on stdout or stderr, and --user/--password are suggested', async () => {
    for (const extra of [[], ['--json']]) {
      const r = await runCli(['turn', 'turn:alice:S3cret@127.0.0.1', ...extra]);
      expect(r.code, why(r)).toBe(2);
      expect(r.stdout + r.stderr).not.toContain('S3cret');
      expect(r.stdout + r.stderr).toMatch(/--user and --password/);
      expect(r.stdout + r.stderr).toContain('turn:***@127.0.0.1');
    }
  });
});

describeWith({ commands: ['turnserver'] }, 'rtcprobe turn: human output and module loading', () => {
  let coturn: Coturn;
  let verbose: Coturn;
  beforeAll(async () => {
    coturn = await startCoturn({ users: [{ user: 'human', password: 'human-readable-pw' }], args: ['--allow-loopback-peers'] });
    // --verbose: coturn logs every request it processes; the SIGINT test follows the run through it.
    verbose = await startCoturn({ users: [{ user: 'human', password: 'human-readable-pw' }], args: ['--allow-loopback-peers', '--verbose'] });
  });
  afterAll(async () => {
    await coturn?.stop();
    await verbose?.stop();
  });

  it('SIGINT mid-run: partial JSON with an aborted row, exit 130, and both allocations released', async () => {
    const count = (re: RegExp) => (verbose.logs().match(re) ?? []).length;
    const child = spawn(process.execPath, [BIN, 'turn', `turn:127.0.0.1:${verbose.port}`, '--user', 'human', '--password', 'human-readable-pw', '--count', '100000', '--rate', '20', '--json'], { cwd: ROOT });
    let stdout = '';
    child.stdout.on('data', (d) => { stdout += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // The run is in its (very long) data path once both allocations have their permission.
      await vi.waitFor(() => expect(count(/CREATE_PERMISSION processed, success/g)).toBe(2), { timeout: 20000, interval: 50 });
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      child.kill('SIGKILL');
    }
    const j = JSON.parse(stdout) as { ok: boolean; checks: { id: string; status: string; detail: string }[] };
    expect(j.ok).toBe(false);
    expect(j.checks.find((c) => c.id === 'udp.permission')?.status).toBe('pass');
    const aborted = j.checks.find((c) => c.id === 'udp.aborted');
    expect(aborted?.status).toBe('fail');
    expect(aborted?.detail).toMatch(/^ABORTED/);
    // Both allocations were released with LIFETIME=0 (coturn's log reaches us through a pipe: poll it, bounded).
    await vi.waitFor(() => expect(count(/refreshed, realm=<[^>]*>, username=<human>, lifetime=0/g)).toBe(2), { timeout: 5000, interval: 50 });
  });

  it('puts the verdict first, lists every check and masks credentials', async () => {
    const r = await runCli(['turn', `turn:127.0.0.1:${coturn.port}`, '--user', 'human', '--password', 'human-readable-pw', '--count', '5', '--no-color']);
    expect(r.code, r.stdout).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^✔ TURN server works/);
    expect(r.stdout).toMatch(/udp\.relay-channel\s+ChannelData: 5\/5 echoed/);
    expect(r.stdout).toContain('authenticated as hu***');
    expect(r.stdout).not.toContain('human-readable-pw');
  });

  it('a failing run names the first failure and its hint at the top', async () => {
    const r = await runCli(['turn', `turn:127.0.0.1:${coturn.port}`, '--user', 'human', '--password', 'nope-nope', '--no-color']);
    expect(r.code, why(r)).toBe(1);
    expect(r.stdout.split('\n')[0]).toMatch(/^✖ TURN check failed: the server rejected these credentials/);
    expect(r.stdout.split('\n')[1]).toMatch(/hint: wrong user name or password/);
  });

  it('never loads werift', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-trace-'));
    const trace = join(dir, 'trace');
    try {
      const hook = fileURLToPath(new URL('../helpers/trace-register.mjs', import.meta.url));
      const code = await new Promise<number>((resolve) => {
        execFile(process.execPath, ['--import', hook, BIN, 'turn', `turn:127.0.0.1:${coturn.port}`, '--user', 'human', '--password', 'human-readable-pw', '--count', '3', '--json'], {
          cwd: ROOT, env: { PATH: process.env.PATH ?? '', RTCPROBE_TRACE_FILE: trace },
        }, (err) => resolve(err ? ((err as { code?: number }).code ?? -1) : 0));
      });
      expect(code).toBe(0);
      const loaded = readFileSync(trace, 'utf8');
      expect(loaded).toMatch(/dist\/core\/turn\/checks\.js/);
      expect(loaded).not.toMatch(/node_modules\/werift/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
