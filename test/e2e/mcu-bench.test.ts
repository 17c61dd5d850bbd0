// `rtcprobe bench --topology mcu` (the built CLI): an MCU and participants
// started for the run, every burst heard with the right source by every
// other participant, nobody hearing itself, one stream up and one down.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, runJson, why } from '../helpers/cli.js';
import { jsonLines } from '../helpers/json-lines.js';

interface Pair { source: string; listener: string; expected: number; heard: number }
interface McuJson {
  ok: boolean;
  topology: string;
  connections: { up: number };
  mouthToEarMs?: { p50: number; count: number };
  impulses: { selfHeard: number; unmatched: number; pairs: Pair[] };
  upload: { ratio: number };
  download: { ratio: number };
  server: { embedded: boolean; framesMixed: number; mixMs?: { p50: number } };
}

describe('bench --topology mcu', () => {
  it('measures mouth-to-ear through the MCU with 3 participants (and writes the CSV and the HTML page)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rtcprobe-mcu-bench-'));
    const csv = join(dir, 'mcu.csv');
    const html = join(dir, 'mcu.html');
    const r = await runJson<McuJson>(['bench', '--topology', 'mcu', '--peers', '3', '--duration', '4', '--warmup', '1', '--csv', csv, '--html', html]);
    expect(r.code, r.stderr).toBe(0);
    const j = r.json;
    expect(j.ok).toBe(true);
    expect(j.topology).toBe('mcu');
    expect(j.connections.up).toBe(3);
    expect(j.impulses.pairs).toHaveLength(6);
    for (const p of j.impulses.pairs) {
      expect(p.source).not.toBe(p.listener);
      expect(p.expected).toBeGreaterThanOrEqual(3);
      expect(p.heard).toBeGreaterThanOrEqual(p.expected - 1);
    }
    expect(j.impulses.selfHeard).toBe(0);
    // Bound for a loaded 2-core machine; the goal (p50 <= 60 ms) is checked by bench:sfu-mcu.
    expect(j.mouthToEarMs!.p50).toBeGreaterThan(20);
    expect(j.mouthToEarMs!.p50).toBeLessThan(400);
    // One PCMU stream each way (wire bytes include RTCP and header extensions): within 25 %.
    expect(j.upload.ratio).toBeGreaterThan(0.8);
    expect(j.upload.ratio).toBeLessThan(1.25);
    expect(j.download.ratio).toBeGreaterThan(0.8);
    expect(j.download.ratio).toBeLessThan(1.25);
    expect(j.server.embedded).toBe(true);
    expect(j.server.framesMixed).toBeGreaterThan(150);
    expect(j.server.mixMs!.p50).toBeGreaterThan(0);
    // CSV: one row per source → listener pair; HTML: the comparison section with the MCU row.
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toMatch(/^peers,source,listener,bursts_expected,bursts_heard,/);
    expect(rows).toHaveLength(1 + 6);
    for (const row of rows.slice(1)) expect(row).toMatch(/^3,p00\d,p00\d,\d+,\d+,/);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<section id="comparison">');
    expect(page).toContain('mouth-to-ear');
    expect(page).not.toMatch(/(src|href)=["']?https?:/);
    rmSync(dir, { recursive: true, force: true });
  }, 90_000);

  it('refuses more participants than there are bursts', async () => {
    const r = await runCli(['bench', '--topology', 'mcu', '--peers', '9']);
    expect(r.code, why(r)).toBe(2);
    expect(r.stderr).toMatch(/2 to 8 peers/);
  });
});

describe('bench --topology mcu --server', () => {
  it('uses an MCU that has already joined the room', async () => {
    const { spawn } = await import('node:child_process');
    const { SignalRelay } = await import('../../src/core/signaling/server.js');
    const { BIN } = await import('../helpers/cli.js');
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    const room = `ext-${process.pid}`;
    const mcu = spawn(process.execPath, [BIN, 'mcu', 'serve', '--signal', addr.ws, '--room', room, '--loopback', '--json'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = new Promise((res) => mcu.once('exit', res));
    try {
      await jsonLines(mcu).next((j) => j.event === 'listening', 20_000);
      const r = await runJson<McuJson>(['bench', '--topology', 'mcu', '--peers', '2', '--duration', '3', '--warmup', '1', '--server', `${addr.ws}#${room}`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.server.embedded).toBe(false);
      expect(r.json.impulses.pairs).toHaveLength(2);
      for (const p of r.json.impulses.pairs) expect(p.heard).toBeGreaterThanOrEqual(p.expected - 1);
      expect(r.json.impulses.selfHeard).toBe(0);
    } finally {
      mcu.kill('SIGTERM');
      await exited;
      await relay.close('test over');
    }
  }, 90_000);
});
