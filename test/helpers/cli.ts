import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/rtcprobe.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user would, optionally inside a network namespace. */
export function runCli(args: string[], o: { env?: Record<string, string>; netns?: string; timeout?: number } = {}): Promise<CliResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...o.env };
  const cmd = o.netns ? 'ip' : process.execPath;
  const argv = o.netns ? ['netns', 'exec', o.netns, process.execPath, BIN, ...args] : [BIN, ...args];
  return new Promise((resolve) => {
    execFile(cmd, argv, { env, timeout: o.timeout ?? 60000, cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export async function runJson<T = Record<string, unknown>>(args: string[], o?: Parameters<typeof runCli>[1]): Promise<CliResult & { json: T }> {
  const r = await runCli([...args, '--json'], o);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
  return { ...r, json };
}

/** JSON.parse typed as what it is before any check: unknown. */
export function parseJson(text: string): unknown {
  return JSON.parse(text) as unknown;
}

/**
 * The message an exit-code assertion shows when it fails: the verdict line
 * (or the start of stdout) and the end of stderr, so a failure in CI says why.
 */
export function why(r: object): string {
  const text = (k: string) => { const v = (r as Record<string, unknown>)[k]; return typeof v === 'string' ? v : ''; };
  const stdout = text('stdout') || text('output');
  let head = stdout.slice(0, 1500);
  try {
    const j = JSON.parse(stdout) as { verdict?: unknown; error?: unknown; connections?: { failures?: unknown }; coordination?: { error?: unknown } };
    head = JSON.stringify({ verdict: j.verdict, error: j.error, failures: j.connections?.failures, coordination: j.coordination?.error });
  } catch {
    // not one JSON document: the text as it is
  }
  return `stdout: ${head}\nstderr: ${text('stderr').slice(-1500)}`;
}
