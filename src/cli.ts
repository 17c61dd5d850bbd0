import { Command, CommanderError, Option } from 'commander';
import { RtcprobeError, toRtcprobeError } from './core/errors.js';
import { COMMON_OPTIONS, joinAnd, missingRequired, readOptions, type CommandSpec } from './commands/options.js';
import { COMMANDS } from './commands/index.js';
import { createEventWriter, makeStyle, render, renderError, startProgress, useColor, type ExitCode, type GlobalOptions, type Io, type Progress } from './output.js';

export const VERSION = '0.1.0';


/** A command's options and the common ones, on a commander command. */
export function addOptions(cmd: Command, spec: Pick<CommandSpec, 'options'>): void {
  for (const o of [...spec.options, ...COMMON_OPTIONS]) {
    const opt = new Option(o.flags, o.description);
    if (o.choices) opt.choices(o.choices);
    if (o.parse) opt.argParser(o.parse as (v: string, p: unknown) => unknown);
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
  }
}

/** A partial summary as indented "key  value" lines, nested keys joined with dots. */
function flatten(o: Record<string, unknown>, prefix = ''): [string, string][] {
  const rows: [string, string][] = [];
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) rows.push(...flatten(v as Record<string, unknown>, key));
    else rows.push([key, Array.isArray(v) ? v.join(', ') : String(v)]);
  }
  return rows;
}

function renderPartial(partial: Record<string, unknown>, io: Io, g: GlobalOptions): void {
  if (g.json) {
    io.stdout.write(`${JSON.stringify({ ...partial, partial: true })}\n`);
    return;
  }
  const st = makeStyle(g.color, g.verbose);
  const rows = flatten(partial);
  const width = Math.max(0, ...rows.map(([k]) => k.length));
  io.stdout.write([`${st.warn} ${st.c.bold('partial summary')} (stopped without a clean stop)`, ...rows.map(([k, v]) => `    ${k.padEnd(width)}  ${v}`)].join('\n') + '\n');
}

/**
 * Run the CLI. Returns the exit code; never calls process.exit and never
 * throws for user or network errors. When `io.forceStop` aborts (a second
 * signal), it prints the partial summary the running command offered, if
 * any, and returns at once without waiting for the command.
 */
export async function main(argv: string[], io: Io): Promise<ExitCode> {
  const signal = io.signal ?? new AbortController().signal;
  let exitCode: ExitCode = 0;
  let global: GlobalOptions = { json: argv.includes('--json'), color: false, verbose: argv.includes('--verbose') || argv.includes('-v') };
  global.color = useColor(!argv.includes('--no-color'), io);
  /** The command being parsed or run, for the help hint of a usage error and for JSON Lines errors. */
  let current: { path: string; spec?: CommandSpec } = { path: 'rtcprobe' };
  let partial: (() => Record<string, unknown>) | undefined;
  const spinners = new Set<Progress>();

  const program = new Command('rtcprobe')
    .description('WebRTC network diagnostics: STUN, NAT, TURN, signaling, headless peers')
    .version(VERSION, '-V, --version')
    .exitOverride((err) => {
      current = { path: 'rtcprobe' };
      throw err;
    })
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {},
    });

  const register = (parent: Command, spec: CommandSpec, parentPath: string): void => {
    const path = `${parentPath} ${spec.name}`;
    const cmd = parent.command(spec.name).summary(spec.summary).description(spec.summary).exitOverride((err) => {
      current = { path, spec };
      throw err;
    });
    for (const sub of spec.subcommands ?? []) register(cmd, sub, path);
    const run = spec.run;
    if (!run) return;
    if (spec.args) cmd.argument(spec.args);
    addOptions(cmd, spec);
    cmd.action(async (...actionArgs: unknown[]) => {
      current = { path, spec };
      const command = actionArgs[actionArgs.length - 1] as Command;
      const opts = command.opts();
      global = { json: !!opts.json, color: useColor(opts.color !== false, io), verbose: !!opts.verbose };
      const positional = spec.args ? ((actionArgs[0] as string[] | string | undefined) ?? []) : [];
      const args = Array.isArray(positional) ? positional : [positional];
      const missing = missingRequired(spec, args, opts, io.env);
      if (missing.length > 0) throw new RtcprobeError('USAGE', `"${path.replace(/^rtcprobe /, '')}" needs ${joinAnd(missing)}`);
      const typed = readOptions(spec.options, opts, io.env, (key) => command.getOptionValueSource(key));
      // Output written while a spinner runs takes it off the terminal first.
      const around = (write: () => void): void => {
        const live = [...spinners];
        const step = (i: number): void => {
          const s = live[i];
          if (!s) return write();
          if (s.suspend) s.suspend(() => step(i + 1));
          else step(i + 1);
        };
        step(0);
      };
      const outcome = await run(args, typed.values, {
        env: io.env,
        global,
        signal,
        events: createEventWriter(io.stdout, global, { around }),
        warn: (text) => around(() => io.stderr.write(`warning: ${text}\n`)),
        source: typed.source,
        progress: async (text) => {
          const p = await startProgress(io, global, text);
          const tracked: Progress = {
            update: (t) => p.update(t),
            stop: () => {
              spinners.delete(tracked);
              p.stop();
            },
            ...(p.suspend ? { suspend: p.suspend } : {}),
          };
          spinners.add(tracked);
          return tracked;
        },
        onForcedStop: (fn) => {
          partial = fn;
        },
      });
      render(outcome, io, global);
      exitCode = outcome.exitCode;
    });
  };
  for (const spec of COMMANDS) register(program, spec, 'rtcprobe');

  const usageHint = () => io.stderr.write(`Run "${current.path} --help" for usage.\n`);
  const finished = (async (): Promise<ExitCode> => {
    try {
      await program.parseAsync(argv, { from: 'user' });
      return exitCode;
    } catch (err) {
      if (err instanceof CommanderError) {
        if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
        if (err.code === 'commander.help') return 2; // no command given: help went to stderr
        const message = err.message.replace(/^error:\s*/, '');
        renderError(new RtcprobeError('USAGE', message), io, global, { jsonLines: !!current.spec?.jsonLines });
        usageHint();
        return 2;
      }
      const e = toRtcprobeError(err);
      // One line, whatever went wrong: a bug too (--verbose adds its causes, never a stack trace).
      renderError({ code: e.code, message: e.message, cause: e.cause }, io, global, { jsonLines: !!current.spec?.jsonLines });
      if (e.code === 'USAGE') usageHint();
      return 2;
    }
  })();
  const force = io.forceStop;
  if (!force) return finished;
  let done = false;
  void finished.then(() => {
    done = true;
  });
  const forced = new Promise<ExitCode>((resolve) => {
    const onForce = () => {
      if (done) return;
      for (const s of [...spinners]) s.stop();
      if (partial) {
        try {
          renderPartial(partial(), io, global);
        } catch {
          // nothing more can be said
        }
      }
      resolve(2);
    };
    if (force.aborted) onForce();
    else force.addEventListener('abort', onForce, { once: true });
  });
  return Promise.race([finished, forced]);
}
