import { Chalk, type ChalkInstance } from 'chalk';
import type { ErrorCode } from './core/errors.js';

/** Everything a command needs from the outside world; bin/ builds it from `process`. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
  signal?: AbortSignal;
}

export interface GlobalOptions {
  json: boolean;
  color: boolean;
  verbose: boolean;
}

export type ExitCode = 0 | 1 | 2;

/** What every command returns: a JSON document, a human rendering and an exit code. */
export interface CommandOutcome {
  exitCode: ExitCode;
  json: unknown;
  human: (style: Style) => string;
  /**
   * Long-running commands stream JSON Lines under --json (events while they
   * run, this document last); their final document is then one compact line.
   */
  jsonLines?: boolean;
}

export interface Style {
  c: ChalkInstance;
  verbose: boolean;
  ok: string;
  warn: string;
  fail: string;
}

export function useColor(flag: boolean, io: Io): boolean {
  if (!flag) return false;
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== '0') return true;
  return !!io.stdout.isTTY && io.env.TERM !== 'dumb';
}

export function makeStyle(color: boolean, verbose: boolean): Style {
  const c = new Chalk({ level: color ? 1 : 0 });
  return { c, verbose, ok: c.green('✔'), warn: c.yellow('⚠'), fail: c.red('✖') };
}

export interface Progress {
  update(text: string): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update() {}, stop() {} };

/** An ora spinner on stderr, only on a TTY and never with --json. */
export async function startProgress(io: Io, g: GlobalOptions, text: string): Promise<Progress> {
  if (g.json || !io.stderr.isTTY || io.env.CI) return NO_PROGRESS;
  const { default: ora } = await import('ora');
  const spinner = ora({ text, stream: io.stderr, color: 'cyan', isEnabled: true, discardStdin: false }).start();
  return { update: (t) => { spinner.text = t; }, stop: () => spinner.stop() };
}

export function render(outcome: CommandOutcome, io: Io, g: GlobalOptions): void {
  if (g.json) {
    io.stdout.write(`${outcome.jsonLines ? JSON.stringify(outcome.json) : JSON.stringify(outcome.json, null, 2)}\n`);
    return;
  }
  const text = outcome.human(makeStyle(g.color, g.verbose));
  io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/** The one-line error for failures that stop a command before it has a result. */
export function renderError(err: { code: ErrorCode | string; message: string; stack?: string; cause?: unknown }, io: Io, g: GlobalOptions): void {
  if (g.json) {
    io.stdout.write(`${JSON.stringify({ error: { code: err.code, message: err.message } }, null, 2)}\n`);
  }
  const c = makeStyle(g.color && !!io.stderr.isTTY, g.verbose).c;
  io.stderr.write(`${c.red('error')} ${err.code}: ${err.message}\n`);
  if (g.verbose && err.cause) io.stderr.write(`  cause: ${String((err.cause as Error)?.stack ?? err.cause)}\n`);
}

export const fmtMs = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));
export const fmtPct = (x: number) => `${(x * 100).toFixed(x === 0 || x === 1 ? 0 : 1)}%`;
