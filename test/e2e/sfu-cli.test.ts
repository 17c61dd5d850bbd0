// `rtcprobe sfu serve` (the built CLI): /healthz, /metrics, a clean stop with
// a summary, and two SFU instances serving two rooms through two relay
// instances sharing Redis.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeWith } from '../helpers/system.js';
import { startRedis, track, until } from '../helpers/signal.js';
import { MeshPeer } from '../../src/core/rtc/mesh.js';
import type { SfuServeJson } from '../../src/commands/sfu.js';

const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));

interface Proc {
  child: ChildProcess;
  lines: () => Record<string, unknown>[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const procs: Proc[] = [];
const stops: (() => Promise<unknown>)[] = [];

function start(args: string[]): Proc {
  const child = track(spawn(process.execPath, [BIN, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let out = '';
  child.stdout!.on('data', (d) => { out += d.toString(); });
  child.stderr!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const p: Proc = { child, exited, lines: () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) };
  procs.push(p);
  return p;
}

async function event(p: Proc, name: string): Promise<Record<string, unknown>> {
  await until(() => p.lines().some((l) => l.event === name) || p.child.exitCode !== null, 30_000, `event ${name}`);
  const l = p.lines().find((x) => x.event === name);
  if (!l) throw new Error(`process exited before "${name}": ${JSON.stringify(p.lines())}`);
  return l;
}

/** A Prometheus text exposition, parsed: `name{labels}` → value; every line must be a comment or a sample. */
function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|NaN|\+Inf)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

describeWith({ commands: ['redis-server'] }, 'rtcprobe sfu serve (built CLI)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });
  afterEach(async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => {});
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
  });

  it('two SFU instances serve two rooms through two relays on one Redis; /metrics and /healthz; SIGTERM prints a summary', async () => {
    const relays = ['ra', 'rb'].map((id) => start(['signal', 'serve', '--port', '0', '--redis', redis.url, '--instance-id', `${id}-${process.pid}`, '--rate', '10000', '--burst', '10000']));
    const [ra, rb] = await Promise.all(relays.map((r) => event(r, 'listening')));
    const wsA = String(ra!.ws);
    const wsB = String(rb!.ws);
    const room1 = `one-${process.pid}`;
    const room2 = `two-${process.pid}`;
    // SFU 1 serves room 1 through relay A, SFU 2 room 2 through relay B.
    const s1 = start(['sfu', 'serve', '--signal', wsA, '--room', room1, '--peer-id', 'sfu-1', '--loopback']);
    const s2 = start(['sfu', 'serve', '--signal', wsB, '--room', room2, '--peer-id', 'sfu-2', '--loopback']);
    const [l1, l2] = await Promise.all([event(s1, 'listening'), event(s2, 'listening')]);
    const ac = new AbortController();
    stops.push(async () => ac.abort());
    // The clients of each room join through the other relay: the room is shared through Redis.
    const clients: MeshPeer[] = [];
    for (const [room, url] of [[room1, wsB], [room1, wsA], [room2, wsA], [room2, wsB]] as const) {
      const p = new MeshPeer({ url, room, peerId: `c${clients.length}`, iceServers: [], loopback: true, traffic: { channels: ['data', 'audio'], dataRate: 10 }, timeoutMs: 20_000, signal: ac.signal });
      stops.push(() => p.stop());
      clients.push(p);
      await p.start();
    }
    await until(() => clients.every((c) => c.states().up === 1), 40_000, 'every client connected to its SFU');
    expect(clients.map((c) => c.remotes)).toEqual([['sfu-1'], ['sfu-1'], ['sfu-2'], ['sfu-2']]);
    const metrics = async (l: Record<string, unknown>) => parseProm(await (await fetch(new URL('/metrics', String(l.http)))).text());
    await until(async () => ((await metrics(l1)).get('rtcprobe_sfu_rtp_forwarded_packets_total') ?? 0) > 50 && ((await metrics(l2)).get('rtcprobe_sfu_rtp_forwarded_packets_total') ?? 0) > 50, 30_000, 'forwarding in both rooms');
    for (const l of [l1, l2]) {
      const m = await metrics(l);
      expect(m.get('rtcprobe_sfu_participants')).toBe(2);
      expect(m.get('rtcprobe_sfu_rooms')).toBe(1);
      expect(m.get('rtcprobe_sfu_rtp_forwarded_bytes_total')).toBeGreaterThan(0);
      expect(m.get('rtcprobe_sfu_dc_forwarded_messages_total')).toBeGreaterThan(0);
      expect(m.get('rtcprobe_sfu_forward_seconds_count')).toBeGreaterThan(50);
      expect(m.get('rtcprobe_sfu_forward_seconds_bucket{le="+Inf"}')).toBe(m.get('rtcprobe_sfu_forward_seconds_count'));
      const health = (await (await fetch(new URL('/healthz', String(l.http)))).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ ok: true, rooms: 1, participants: 2 });
    }
    // Each client hears the other client of its room only.
    for (const c of clients) {
      const [conn] = await c.connections();
      expect(conn!.audio!.stream.received).toBeGreaterThan(10);
      expect(conn!.audio!.sources ?? 1).toBe(1);
    }
    await Promise.all(clients.map((c) => c.stop()));
    for (const s of [s1, s2]) s.child.kill('SIGTERM');
    const exits = await Promise.all([s1.exited, s2.exited]);
    expect(exits.map((e) => e.code)).toEqual([0, 0]);
    for (const [s, room] of [[s1, room1], [s2, room2]] as const) {
      const final = s.lines().find((l) => l.event === 'stopped') as unknown as SfuServeJson;
      expect(final).toMatchObject({ command: 'sfu', action: 'serve', ok: true, rooms: [room] });
      expect(final.totals.rtpOut.packets).toBeGreaterThan(50);
      expect(final.process.maxRssBytes).toBeGreaterThan(0);
      expect(final.participants).toHaveLength(2);
    }
  }, 180_000);
});
