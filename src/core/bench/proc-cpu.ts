/**
 * CPU time of another process on this machine, from /proc/<pid>/stat
 * (Linux): user + system time, in ms. Used to take a server process's CPU
 * over the measurement window only (not its start-up).
 */
import { readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
export const USER_HZ = 100;

/** utime + stime of a /proc/<pid>/stat line, ms; undefined when the line does not parse. Pure. */
export function parseProcStatCpuMs(stat: string): number | undefined {
  // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || rest.length < 13) return undefined;
  return ((utime + stime) * 1000) / USER_HZ;
}

/** CPU time of process `pid` so far, ms; undefined when it cannot be read (gone, not Linux). */
export async function procCpuMs(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    return parseProcStatCpuMs(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A process's share of one core between two readings, %. */
export interface WindowCpu {
  role: 'sfu' | 'mcu' | 'coturn';
  pid: number;
  /** CPU time it used in the window, ms. */
  cpuMs: number;
  windowMs: number;
  /** cpuMs / windowMs × 100: percent of one core (resolution 10 ms of CPU). */
  pctOfCore: number;
}

export function windowCpu(role: WindowCpu['role'], pid: number, before: number | undefined, after: number | undefined, windowMs: number): WindowCpu | undefined {
  if (before === undefined || after === undefined || windowMs <= 0) return undefined;
  const cpuMs = Math.max(0, after - before);
  return { role, pid, cpuMs, windowMs, pctOfCore: (cpuMs / windowMs) * 100 };
}
