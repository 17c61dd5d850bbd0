import { Command, CommanderError, Option } from 'commander';
import { RtcprobeError, toRtcprobeError } from './core/errors.js';
import type { CommandSpec } from './commands/options.js';
import { COMMON_OPTIONS } from './commands/options.js';
import { COMMANDS } from './commands/index.js';
import { render, renderError, startProgress, useColor, type ExitCode, type GlobalOptions, type Io } from './output.js';

export const VERSION = '0.1.0';


function addOptions(cmd: Command, spec: CommandSpec): void {
  for (const o of [...spec.options, ...COMMON_OPTIONS]) {
    const opt = new Option(o.flags, o.description);
    if (o.choices) opt.choices(o.choices);
    if (o.parse) opt.argParser(o.parse as (v: string, p: unknown) => unknown);
    if (o.default !== undefined) opt.default(o.default);
    cmd.addOption(opt);
  }
}

/**
 * Run the CLI. Returns the exit code; never calls process.exit and never
 * throws for user or network errors.
 */
export async function main(argv: string[], io: Io): Promise<ExitCode> {
  const signal = io.signal ?? new AbortController().signal;
  let exitCode: ExitCode = 0;
  let global: GlobalOptions = { json: argv.includes('--json'), color: false, verbose: argv.includes('--verbose') || argv.includes('-v') };
  global.color = useColor(!argv.includes('--no-color'), io);

  const program = new Command('rtcprobe')
    .description('WebRTC network diagnostics: STUN, NAT, TURN, signaling, headless peers')
    .version(VERSION, '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {},
    });

  const register = (parent: Command, spec: CommandSpec): void => {
    const cmd = parent.command(spec.name).summary(spec.summary).description(spec.summary).exitOverride();
    for (const sub of spec.subcommands ?? []) register(cmd, sub);
    const run = spec.run;
    if (!run) return;
    if (spec.args) cmd.argument(spec.args);
    addOptions(cmd, spec);
    cmd.action(async (...actionArgs: unknown[]) => {
      const command = actionArgs[actionArgs.length - 1] as Command;
      const opts = command.opts();
      global = { json: !!opts.json, color: useColor(opts.color !== false, io), verbose: !!opts.verbose };
      const positional = spec.args ? ((actionArgs[0] as string[] | string | undefined) ?? []) : [];
      const args = Array.isArray(positional) ? positional : [positional];
      const outcome = await run(args, opts, {
        io,
        global,
        signal,
        progress: (text) => startProgress(io, global, text),
      });
      render(outcome, io, global);
      exitCode = outcome.exitCode;
    });
  };
  for (const spec of COMMANDS) register(program, spec);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      if (err.code === 'commander.help') return 2; // no command given: help went to stderr
      const message = err.message.replace(/^error:\s*/, '');
      renderError(new RtcprobeError('USAGE', message), io, global);
      io.stderr.write(`Run "rtcprobe --help" for usage.\n`);
      return 2;
    }
    const e = toRtcprobeError(err);
    renderError(e.code === 'INTERNAL' && global.verbose ? Object.assign(e, { message: `${e.message}\n${(err as Error)?.stack ?? ''}` }) : e, io, global);
    return 2;
  }
}
