// `rtcprobe mcu serve` (the built CLI) in a relay room with real participants:
// /healthz, /metrics in the Prometheus format with the MCU's series, and a
// clean stop on SIGTERM with a summary.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SignalRelay } from '../../src/core/signaling/server.js';
import { ImpulseClient } from '../../src/core/rtc/mcu-client.js';
import { BIN } from '../helpers/cli.js';
import { until } from '../helpers/mcu-room.js';

const BUILT = existsSync(fileURLToPath(new URL('../../dist/commands/mcu.js', import.meta.url)));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Every sample line of a Prometheus text exposition: name{labels} value. */
function parseProm(text: string): { name: string; labels: string; value: number }[] {
  const out: { name: string; labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    out.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

describe('rtcprobe mcu serve', () => {
  it('serves a room: /healthz, /metrics with its series, and a summary on SIGTERM', async () => {
    if (!BUILT) throw new Error('dist/ is missing: run "npm run build" first (npm test does)');
    const relay = new SignalRelay({ host: '127.0.0.1', port: 0 });
    const addr = await relay.listen();
    cleanups.push(() => relay.close('test over'));
    const room = `mcu-cli-${process.pid}`;
    const child: ChildProcess = spawn(process.execPath, [BIN, 'mcu', 'serve', '--signal', addr.ws, '--room', room, '--listen', '127.0.0.1:0', '--loopback', '--jitter-ms', '60', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    const lines: Record<string, unknown>[] = [];
    let onLine: (() => void) | undefined;
    createInterface({ input: child.stdout! }).on('line', (l) => {
      lines.push(JSON.parse(l) as Record<string, unknown>);
      onLine?.();
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr}`)), 20_000);
      onLine = () => {
        const l = lines.find((x) => x.event === 'listening');
        if (l) {
          clearTimeout(t);
          resolve(l);
        }
      };
    });
    expect(ready.jitterMs).toBe(60);
    const http = String(ready.http);
    const ac = new AbortController();
    cleanups.push(async () => ac.abort());
    const clients = ['a', 'b'].map((id, i) => new ImpulseClient({ url: addr.ws, room, peerId: id, iceServers: [], loopback: true, burstId: i, timeoutMs: 20_000, signal: ac.signal }));
    for (const c of clients) cleanups.push(() => c.stop());
    await Promise.all(clients.map((c) => c.start()));
    for (const c of clients) c.startSending({ periodFrames: 25 });
    // One packet of an unknown payload type, so that the drop series has a sample.
    clients[0]!.sendFrame(new Uint8Array(160), { payloadType: 99 });
    const health = async () => (await fetch(new URL('/healthz', http))).json() as Promise<{ ok: boolean; participants: number; framesMixed: number }>;
    let h = await health();
    // until() checks the last /healthz answer: refresh it while waiting.
    const poll = setInterval(() => void health().then((x) => (h = x)), 100);
    await until(() => h.participants === 2 && h.framesMixed > 50, 15_000, 'two participants mixed').finally(() => clearInterval(poll));
    expect(h.ok).toBe(true);
    const res = await fetch(new URL('/metrics', http));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const samples = parseProm(await res.text());
    const one = (name: string, labels = '') => samples.find((s) => s.name === name && s.labels === labels)?.value;
    expect(one('rtcprobe_mcu_participants')).toBe(2);
    expect(one('rtcprobe_mcu_frames_mixed_total')).toBeGreaterThan(50);
    expect(one('rtcprobe_mcu_packets_sent_total')).toBeGreaterThanOrEqual(one('rtcprobe_mcu_frames_mixed_total')!);
    expect(one('rtcprobe_mcu_mix_seconds_count')).toBeGreaterThan(50);
    expect(one('rtcprobe_mcu_mix_seconds_bucket', '{le="+Inf"}')).toBe(one('rtcprobe_mcu_mix_seconds_count'));
    expect(one('rtcprobe_mcu_dropped_total', '{reason="payload-type"}')).toBe(1);
    for (const n of ['rtcprobe_mcu_underruns_total', 'rtcprobe_mcu_late_total', 'rtcprobe_mcu_frames_concealed_total', 'rtcprobe_mcu_jitter_depth_frames']) expect(one(n), n).toBeDefined();
    expect(one('rtcprobe_mcu_jitter_depth_frames')).toBe(3);
    // A clean stop.
    const stopped = new Promise<Record<string, unknown>>((resolve) => {
      onLine = () => {
        const l = lines.find((x) => x.event === 'stopped');
        if (l) resolve(l);
      };
    });
    child.kill('SIGTERM');
    const [code, summary] = await Promise.all([exited, stopped]);
    expect(code).toBe(0);
    expect(summary).toMatchObject({ command: 'mcu', action: 'serve', ok: true, room, participants: { total: 2 } });
    expect(Number(summary.framesMixed)).toBeGreaterThan(50);
    expect((summary.mixMs as { p50: number }).p50).toBeGreaterThan(0);
    expect(summary.dropped).toEqual({ 'payload-type': 1 });
  }, 60_000);
});
