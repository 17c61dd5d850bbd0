/**
 * The room server of a benchmark run (`--topology sfu`): `rtcprobe sfu serve`
 * started as a child process on the run's relay and room, so its CPU and
 * memory are its own; stopped with SIGTERM, its summary becomes the run's
 * server report.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { RtcprobeError } from '../errors.js';
import type { RoomServerReport } from '../bench/report.js';

export interface RoomServerChild {
  peerId: string;
  pid?: number;
  /** Stop it (SIGTERM, SIGKILL after 8 s) and read its summary; idempotent. */
  stop(): Promise<RoomServerReport | undefined>;
}

export async function startRoomServer(o: { self: string[]; role: 'sfu' | 'mcu'; url: string; room: string; timeoutMs: number; signal: AbortSignal; args?: string[] }): Promise<RoomServerChild> {
  const peerId = `zz-${o.role}`;
  const args = [...o.self.slice(1), o.role, 'serve', '--signal', o.url, '--room', o.room, '--peer-id', peerId, '--loopback', '--json', '--listen', '127.0.0.1:0', ...(o.args ?? [])];
  const child = spawn(o.self[0]!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      return;
    }
    for (const w of waiters) w();
  });
  let stopping: Promise<RoomServerReport | undefined> | undefined;
  const stop = (): Promise<RoomServerReport | undefined> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(t);
      }
      const s = lines.find((l) => l.event === 'stopped') as
        | { process?: { cpuMs?: number; maxRssBytes?: number }; totals?: { rtpOut?: { packets?: number; bytes?: number }; forwardMs?: { mean?: number }; drops?: Record<string, number>; loopDelayMs?: { p99: number; max: number } } }
        | undefined;
      if (!s) return undefined;
      return {
        role: o.role,
        ...(child.pid ? { pid: child.pid } : {}),
        cpuMs: s.process?.cpuMs ?? 0,
        maxRssBytes: s.process?.maxRssBytes ?? 0,
        forwardedPackets: s.totals?.rtpOut?.packets ?? 0,
        forwardedBytes: s.totals?.rtpOut?.bytes ?? 0,
        ...(s.totals?.forwardMs?.mean !== undefined ? { forwardMeanMs: s.totals.forwardMs.mean } : {}),
        drops: s.totals?.drops ?? {},
        ...(s.totals?.loopDelayMs ? { loopDelayMs: s.totals.loopDelayMs } : {}),
      };
    })();
    return stopping;
  };
  const ready = await new Promise<boolean>((resolve) => {
    const check = () => {
      if (lines.some((l) => l.event === 'listening')) done(true);
      else if (child.exitCode !== null || child.signalCode !== null) done(false);
    };
    const t = setTimeout(() => done(false), o.timeoutMs);
    const onAbort = () => done(false);
    o.signal.addEventListener('abort', onAbort, { once: true });
    function done(v: boolean) {
      clearTimeout(t);
      waiters.delete(check);
      o.signal.removeEventListener('abort', onAbort);
      resolve(v);
    }
    waiters.add(check);
    void exited.then(check);
    check();
  });
  if (!ready) {
    await stop();
    if (o.signal.aborted) throw new RtcprobeError('ABORTED', `aborted while the ${o.role} server was starting`);
    const err = lines.find((l) => l.error) as { error?: { message?: string } } | undefined;
    throw new RtcprobeError('CONNECTION', `the ${o.role} server did not start: ${err?.error?.message ?? (stderr.trim().split('\n').pop() || `no ready line within ${o.timeoutMs} ms`)}`);
  }
  return { peerId, ...(child.pid ? { pid: child.pid } : {}), stop };
}
