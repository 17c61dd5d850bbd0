import { InvalidArgumentError } from 'commander';

/** One command-line option, as data: the CLI and the README reference are built from these. */
export interface OptionSpec {
  flags: string;
  description: string;
  default?: unknown;
  parse?: (value: string, previous: unknown) => unknown;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments, in commander syntax, e.g. "[server...]". */
  args?: string;
  options: OptionSpec[];
  /** A command either runs, or groups subcommands (`signal serve`, `signal token`). */
  run?: (args: string[], opts: Record<string, unknown>, ctx: import('./context.js').RunContext) => Promise<import('../output.js').CommandOutcome>;
  subcommands?: CommandSpec[];
}

export function intOption(min: number, max: number) {
  return (value: string): number => {
    if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`"${value}" is not an integer.`);
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}.`);
    return n;
  };
}

export function numberOption(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`"${value}" is not a number.`);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}.`);
    return n;
  };
}

export function collect(value: string, previous: unknown): string[] {
  return [...((previous as string[] | undefined) ?? []), value];
}

/** Options every command takes. */
export const COMMON_OPTIONS: OptionSpec[] = [
  { flags: '--json', description: 'print one JSON document on stdout and nothing else there' },
  { flags: '--no-color', description: 'no colours (NO_COLOR in the environment does the same)' },
  { flags: '-v, --verbose', description: 'show details: ignored packets, error causes' },
];
