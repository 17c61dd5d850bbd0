import { InvalidArgumentError } from 'commander';

/** One command-line option, as data: the CLI and the README reference are built from these. */
export interface OptionSpec {
  flags: string;
  description: string;
  default?: unknown;
  parse?: (value: string, previous: unknown) => unknown;
  choices?: readonly string[];
  /** The command cannot run without it. Every missing one is named in one usage error. */
  required?: boolean;
  /** An environment variable that can stand in for the option (a secret, say). */
  env?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments, in commander syntax, e.g. "[server...]". */
  args?: string;
  options: OptionSpec[];
  /**
   * Groups of which at least one must be given: long flags ("--ice-servers")
   * or "<args>" for the positional arguments, with the words that name the
   * group in the usage error (default: the flags joined with "or").
   * Reported together with the missing required options.
   */
  requireOneOf?: { anyOf: string[]; label?: string }[];
  /** Long-running: streams JSON Lines under --json, so even an error there is one compact line. */
  jsonLines?: boolean;
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

const longFlag = (o: OptionSpec): string => o.flags.split(/[ ,|]+/).find((f) => f.startsWith('--')) ?? o.flags;

/** commander's attribute name of a long flag: --turn-secret -> turnSecret, --no-hairpin -> hairpin. */
const attributeName = (flag: string): string => flag.replace(/^--(no-)?/, '').replace(/-([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());

function given(v: unknown): boolean {
  if (v === undefined || v === false || v === '') return false;
  return !(Array.isArray(v) && v.length === 0);
}

/** "a", "a and b", "a, b and c" */
export function joinAnd(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * What a command cannot run without and did not get: its required options
 * (an option's environment variable counts) and its requireOneOf groups, as
 * words for one usage error. Empty when nothing is missing.
 */
export function missingRequired(spec: CommandSpec, args: string[], opts: Record<string, unknown>, env: Record<string, string | undefined>): string[] {
  const byFlag = new Map(spec.options.map((o) => [longFlag(o), o]));
  const positional = spec.args?.replace(/[[\]<>.]/g, '') ?? 'args';
  const has = (flag: string): boolean => {
    if (flag === '<args>') return args.length > 0;
    const o = byFlag.get(flag);
    // An option given on the command line counts even when empty: the command
    // then says what is wrong with its value ("must not be empty").
    const v = opts[attributeName(flag)];
    return given(v) || v === '' || (!!o?.env && given(env[o.env]));
  };
  const label = (flag: string): string => {
    if (flag === '<args>') return `<${positional}>`;
    const o = byFlag.get(flag);
    const value = o?.flags.match(/<[^>]+>/)?.[0];
    return `${flag}${value ? ` ${value}` : ''}${o?.env ? ` (or ${o.env})` : ''}`;
  };
  const missing: string[] = [];
  for (const o of spec.options) if (o.required && !has(longFlag(o))) missing.push(label(longFlag(o)));
  for (const g of spec.requireOneOf ?? []) if (!g.anyOf.some(has)) missing.push(g.label ?? g.anyOf.map(label).join(' or '));
  return missing;
}
