import { Chalk, type ChalkInstance } from 'chalk';
import { hintFor, type ErrorCode } from './core/errors.js';

/** A terminal stream (tty.WriteStream) has a size; 0 or undefined when the terminal reports none. */
export type OutStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** Everything a command needs from the outside world; bin/ builds it from `process`. */
export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  env: Record<string, string | undefined>;
  /** Aborted on the first SIGINT/SIGTERM: stop cleanly and report what is known. */
  signal?: AbortSignal;
  /** Aborted on a second signal: print a partial summary if there is one, and return at once. */
  forceStop?: AbortSignal;
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
  /** Run `write` with the spinner taken off the terminal, then draw it again (so that a line printed meanwhile stays whole). */
  suspend?(write: () => void): void;
}

const NO_PROGRESS: Progress = { update() {}, stop() {} };

/**
 * Whether a spinner may be drawn: only on a terminal of known width, never
 * with --json, under CI, with NO_COLOR or on a dumb terminal. A terminal
 * that reports 0 columns (a pseudo-terminal nobody sized) would make ora
 * divide by zero: it then believes the spinner covers Infinity lines and
 * clears them one by one in a loop that never ends.
 */
export function spinnerAllowed(io: Io, g: GlobalOptions): boolean {
  const set = (v: string | undefined) => v !== undefined && v !== '';
  if (g.json || !io.stderr.isTTY) return false;
  if (set(io.env.CI) || set(io.env.NO_COLOR) || io.env.TERM === 'dumb') return false;
  const cols = io.stderr.columns;
  return typeof cols === 'number' && Number.isFinite(cols) && cols > 0;
}

/** An ora spinner on stderr, when spinnerAllowed(); stopped for good if the terminal shrinks to no width. */
export async function startProgress(io: Io, g: GlobalOptions, text: string): Promise<Progress> {
  if (!spinnerAllowed(io, g)) return NO_PROGRESS;
  const { default: ora } = await import('ora');
  const stream = io.stderr as OutStream & NodeJS.EventEmitter;
  const spinner = ora({ text, stream, color: 'cyan', isEnabled: true, discardStdin: false }).start();
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    stream.off?.('resize', onResize);
    spinner.stop();
  };
  const onResize = () => {
    if (!(Number(stream.columns) > 0)) stop();
  };
  stream.on?.('resize', onResize);
  return {
    update: (t) => {
      if (!stopped) spinner.text = t;
    },
    stop,
    suspend: (write) => {
      if (stopped) return write();
      spinner.clear();
      try {
        write();
      } finally {
        spinner.render();
      }
    },
  };
}

/**
 * How a long-running command reports what happens while it runs. Under
 * --json each event is one compact JSON object on its own stdout line
 * (JSON Lines): `{"event": name, ...fields}` plus `at`, the time of writing
 * (ISO 8601), unless the fields carry their own `at`. Otherwise the event's
 * human form is printed: the lines `human` returns (nothing when it returns
 * undefined), or, without `human`, a generic "time  name  key=value" line.
 */
export interface EventWriter {
  emit(event: string, fields?: Record<string, unknown>, human?: (st: Style) => string | undefined): void;
  /** Text for people only (a banner, a reminder): stdout without --json, nothing with it. */
  note(human: (st: Style) => string): void;
}

export interface EventWriterOptions {
  /** The clock of the `at` timestamps; Date.now by default. */
  now?: () => number;
  /** Wraps every write (the CLI takes a running spinner off the terminal meanwhile). */
  around?: (write: () => void) => void;
}

const plainValue = (v: unknown): string => (typeof v === 'string' && /^[\w.:/@+\-[\]]+$/.test(v) ? v : JSON.stringify(v) ?? String(v));

/** The generic human form of an event: "12:34:56  name  key=value key=value". */
export function eventLine(event: string, fields: Record<string, unknown>, at: number): string {
  const kv = Object.entries(fields).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${plainValue(v)}`);
  return [new Date(at).toISOString().slice(11, 19), event, ...(kv.length ? [kv.join(' ')] : [])].join('  ');
}

export function createEventWriter(out: OutStream, g: GlobalOptions, o: EventWriterOptions = {}): EventWriter {
  const now = o.now ?? Date.now;
  const around = o.around ?? ((write: () => void) => write());
  let style: Style | undefined;
  const st = () => (style ??= makeStyle(g.color, g.verbose));
  const print = (text: string) => around(() => out.write(text.endsWith('\n') ? text : `${text}\n`));
  return {
    emit(event, fields = {}, human) {
      if (g.json) {
        const doc = { event, ...fields, ...(fields.at === undefined ? { at: new Date(now()).toISOString() } : {}) };
        print(JSON.stringify(doc));
        return;
      }
      const text = human ? human(st()) : eventLine(event, fields, now());
      if (text !== undefined) print(text);
    },
    note(human) {
      if (!g.json) print(human(st()));
    },
  };
}

export function render(outcome: CommandOutcome, io: Io, g: GlobalOptions): void {
  if (g.json) {
    io.stdout.write(`${outcome.jsonLines ? JSON.stringify(outcome.json) : JSON.stringify(outcome.json, null, 2)}\n`);
    return;
  }
  const text = outcome.human(makeStyle(g.color, g.verbose));
  io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

/**
 * The causes under an error, one line each ("ECONNREFUSED: connect
 * ECONNREFUSED 127.0.0.1:9"), never a stack trace; at most 5 deep.
 */
export function causeChain(cause: unknown): string[] {
  const lines: string[] = [];
  for (let c = cause, depth = 0; c !== undefined && c !== null && depth < 5; depth++) {
    const e = c as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
    const label = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
    const message = typeof e.message === 'string' ? e.message : String(c);
    lines.push(`${label}: ${message.split('\n')[0]}`);
    c = typeof c === 'object' ? e.cause : undefined;
  }
  return lines;
}

/**
 * The error for failures that stop a command before it has a result: one
 * line on stderr (plus a hint for codes that have one). With --json, also a
 * JSON document on stdout; a compact single line when the command streams
 * JSON Lines (`jsonLines`), so that every stdout line stays a document.
 */
export function renderError(err: { code: ErrorCode | string; message: string; stack?: string; cause?: unknown }, io: Io, g: GlobalOptions, o: { jsonLines?: boolean } = {}): void {
  const hint = hintFor(err.code);
  if (g.json) {
    const doc = { error: { code: err.code, message: err.message, ...(hint ? { hint } : {}) } };
    io.stdout.write(`${o.jsonLines ? JSON.stringify(doc) : JSON.stringify(doc, null, 2)}\n`);
  }
  const c = makeStyle(g.color && !!io.stderr.isTTY, g.verbose).c;
  io.stderr.write(`${c.red('error')} ${err.code}: ${err.message}\n`);
  if (hint) io.stderr.write(`  hint: ${hint}\n`);
  if (g.verbose) for (const line of causeChain(err.cause)) io.stderr.write(`  cause: ${line}\n`);
}

export const fmtMs = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));
export const fmtPct = (x: number) => `${(x * 100).toFixed(x === 0 || x === 1 ? 0 : 1)}%`;
