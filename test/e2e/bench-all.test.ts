// `rtcprobe bench --topology all` (the built CLI): mesh, SFU, MCU and TURN
// (coturn started for the run) one after another on one audio workload, and
// the comparison showing the expected trade-off: mesh upload ≈ N−1 streams,
// SFU upload ≈ 1 and download ≈ N−1, MCU upload ≈ 1 and download ≈ 1.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, runJson } from '../helpers/cli.js';
import { describeWith } from '../helpers/system.js';
import { findFreePortRange } from '../helpers/ports.js';

interface Row {
  topology: string;
  peers: number;
  run: boolean;
  notRun?: string;
  ok?: boolean;
  connections?: { expected: number; up: number };
  upload?: { perPeerBps: number; ratio?: number };
  download?: { perPeerBps: number; ratio?: number };
  serverCpu: { status: string; pctOfCore?: number };
  delay?: { kind: string; p50Ms: number; p99Ms: number };
}
interface AllJson { command: string; topology: string; ok: boolean; complete: boolean; verdict: string; comparison: Row[]; runs: Record<string, unknown> }

const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-bench-all-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeWith({ commands: ['turnserver'] }, 'bench --topology all', () => {
  it('runs mesh, sfu, mcu and turn with 3 peers and compares them (JSON, CSV, HTML)', async () => {
    const csv = join(dir, 'all.csv');
    const html = join(dir, 'all.html');
    const r = await runJson<AllJson>(['bench', '--topology', 'all', '--peers', '3', '--duration', '2', '--warmup', '1', '--csv', csv, '--html', html], { timeout: 150_000 });
    expect(r.code, r.stderr).toBe(0);
    const j = r.json;
    expect(j).toMatchObject({ command: 'bench', topology: 'all', ok: true, complete: true });
    expect(j.verdict).toMatch(/^all, 3 peers: mesh, sfu, mcu, turn measured, every connection up/);
    expect(j.comparison.map((c) => c.topology)).toEqual(['mesh', 'sfu', 'mcu', 'turn']);
    expect(Object.keys(j.runs).sort()).toEqual(['mcu', 'mesh', 'sfu', 'turn']);
    const row = (t: string) => j.comparison.find((c) => c.topology === t)!;
    for (const c of j.comparison) {
      expect(c.run).toBe(true);
      expect(c.connections!.up).toBe(c.connections!.expected);
    }
    // Ratios in streams of the workload. Tolerances are wide (a loaded 2-core machine, RTCP and the
    // clock probes are in the bytes; through the SFU the peer also echoes the others' probes).
    expect(row('mesh').upload!.ratio).toBeGreaterThan(1.6);
    expect(row('mesh').upload!.ratio).toBeLessThan(2.4);
    expect(row('turn').upload!.ratio).toBeGreaterThan(1.6);
    expect(row('turn').upload!.ratio).toBeLessThan(2.4);
    expect(row('sfu').upload!.ratio).toBeGreaterThan(0.7);
    expect(row('sfu').upload!.ratio).toBeLessThan(1.5);
    expect(row('sfu').download!.ratio).toBeGreaterThan(1.5);
    expect(row('sfu').download!.ratio).toBeLessThan(2.5);
    expect(row('mcu').upload!.ratio).toBeGreaterThan(0.75);
    expect(row('mcu').upload!.ratio).toBeLessThan(1.3);
    expect(row('mcu').download!.ratio).toBeGreaterThan(0.75);
    expect(row('mcu').download!.ratio).toBeLessThan(1.3);
    // Server CPU: none for a mesh; measured (from /proc, over the window) for the SFU, the MCU and the coturn started here.
    expect(row('mesh').serverCpu.status).toBe('none');
    for (const t of ['sfu', 'mcu', 'turn']) expect(row(t).serverCpu.status).toBe('measured');
    expect(row('sfu').serverCpu.pctOfCore).toBeGreaterThan(0);
    expect(row('mcu').serverCpu.pctOfCore).toBeGreaterThan(0);
    // Delay: audio one-way for mesh/sfu/turn, mouth-to-ear (20 ms packetization at least) for the MCU.
    for (const t of ['mesh', 'sfu', 'turn']) {
      expect(row(t).delay!.kind).toBe('audio one-way');
      expect(row(t).delay!.p99Ms).toBeGreaterThanOrEqual(row(t).delay!.p50Ms);
    }
    expect(row('mcu').delay!.kind).toBe('mouth-to-ear');
    expect(row('mcu').delay!.p50Ms).toBeGreaterThan(20);
    const lines = readFileSync(csv, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(5);
    expect(lines.slice(1).map((l) => l.split(',')[1])).toEqual(['mesh', 'sfu', 'mcu', 'turn']);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<section id="comparison">');
    expect(page).not.toMatch(/(src|href)=["']?https?:/);
  }, 180_000);
});

describe('bench --topology all without a TURN server', () => {
  it('says turn was not run, and why, in the verdict and its row (no silent gap)', async () => {
    // A PATH without turnserver: the bench looks for it there.
    const r = await runJson<AllJson>(['bench', '--topology', 'all', '--peers', '2', '--duration', '3', '--warmup', '1'], { env: { PATH: dir }, timeout: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.complete).toBe(false);
    expect(r.json.verdict).toMatch(/turn not run: no TURN server: coturn \(turnserver\) is not installed here and no --turn was given/);
    const turn = r.json.comparison.find((c) => c.topology === 'turn')!;
    expect(turn).toMatchObject({ run: false, notRun: expect.stringMatching(/no TURN server/) });
    expect(turn.upload).toBeUndefined();
    expect(turn.delay).toBeUndefined();
    expect(r.json.runs.turn).toBeUndefined();
    expect(r.json.comparison.filter((c) => c.run).map((c) => c.topology)).toEqual(['mesh', 'sfu', 'mcu']);
  }, 150_000);
});

describe('bench --topology all with a TURN server that does not answer', () => {
  it('the turn row fails with the reason, the others stand, exit 1', async () => {
    // A free UDP port: nothing answers there.
    const port = await findFreePortRange(1);
    const r = await runJson<AllJson>(['bench', '--topology', 'all', '--peers', '2', '--duration', '3', '--warmup', '1', '--timeout', '3000', '--turn', `turn:127.0.0.1:${port}?transport=udp`, '--user', 'u', '--password', 'p'], { timeout: 150_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.verdict).toMatch(/turn failed: turn, 2 peers: 0 of 1 connections up/);
    const turn = r.json.comparison.find((c) => c.topology === 'turn')!;
    expect(turn).toMatchObject({ run: true, ok: false, connections: { expected: 1, up: 0 }, serverCpu: { status: 'not measured' } });
    expect(turn.upload).toBeUndefined();
    expect(turn.delay).toBeUndefined();
    for (const t of ['mesh', 'sfu', 'mcu']) expect(r.json.comparison.find((c) => c.topology === t)!.ok).toBe(true);
  }, 150_000);
});

describe('bench --topology all: usage', () => {
  it('refuses --turn without credentials, traffic options, --procs and --slo', async () => {
    for (const [args, re] of [
      [['--turn', 'turn:127.0.0.1:3478'], /--turn needs --user and --password, or --secret/],
      [['--channels', 'audio,video'], /one fixed audio workload/],
      [['--procs', '2'], /--procs, --signal.*do not apply/],
      [['--slo', 'dc.rtt.p99<5ms'], /--slo and --server do not apply/],
    ] as const) {
      const r = await runCli(['bench', '--topology', 'all', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(re);
    }
  });
});
