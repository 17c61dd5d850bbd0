import { InvalidArgumentError } from 'commander';
import { RtcprobeError } from '../core/errors.js';
import type { CommandOutcome } from '../output.js';
import type { RunContext } from './context.js';

/**
 * One command-line option, as data: the CLI and the README reference are
 * built from these. The type of the value a command reads follows from the
 * spec (see OptionValues): `parse`'s return type, else the union of
 * `choices`, else `string` for a flag that takes a value (`<x>` in `flags`),
 * else `boolean`.
 */
export interface OptionSpec {
  flags: string;
  description: string;
  default?: unknown;
  // `previous` is the value so far (repeatable options accumulate); any, so that specs of every value type fit here.
  parse?: (value: string, previous: any) => unknown;
  choices?: readonly string[];
  /** The command cannot run without it. Every missing one is named in one usage error. */
  required?: boolean;
  /**
   * An environment variable that stands in for the option when it is not
   * given on the command line (an empty variable counts as unset), ahead of
   * the default. Its value goes through `parse` and `choices` like a
   * command-line value (for an on/off flag, 1/true/yes act as giving the
   * flag, 0/false/no as not); a required option is satisfied by it.
   */
  env?: string;
}

// ---- The value type of a spec, worked out from its declaration ----

type Camel<S extends string> = S extends `${infer A}-${infer B}` ? `${A}${Capitalize<Camel<B>>}` : S;
/** The long flag without dashes and value: "-c, --count <n>" -> "count". Every option needs a long flag. */
type LongName<F extends string> = F extends `${string}--${infer R}` ? (R extends `${infer N} ${string}` ? N : R) : never;
/** commander's attribute name: --dns-server -> dnsServer, --no-srv -> srv. */
export type OptionKey<F extends string> = LongName<F> extends `no-${infer R}` ? Camel<R> : Camel<LongName<F>>;

type TakesValue<S> = S extends { flags: `${string}<${string}>${string}` } ? true : false;
type Value<S> = S extends { parse: (...a: never[]) => infer T }
  ? T
  : S extends { choices: readonly (infer C)[] }
    ? C
    : TakesValue<S> extends true
      ? string
      : boolean;
/** Set whenever the command runs: it has a default, or it is an on/off flag (false when not given). */
type AlwaysSet<S> = S extends { default: {} } ? true : TakesValue<S> extends true ? false : true;
type Field<S> = AlwaysSet<S> extends true ? Value<S> : Value<S> | undefined;

/** The typed options a command's `run` receives, derived from its option specs. */
export type OptionValues<O extends readonly OptionSpec[]> = { [S in O[number] as OptionKey<S['flags']>]: Field<S> };

/** Where an option's value came from; undefined when it has none. */
export type OptionSource = 'cli' | 'env' | 'default';

/** A group of options declared once (shared between commands, or a command's own); keeps each spec's literal type. */
export function defineOptions<const O extends readonly OptionSpec[]>(options: O): O {
  return options;
}

interface CommandBase {
  name: string;
  summary: string;
  /** Positional arguments, in commander syntax, e.g. "[server...]". */
  args?: string;
  /**
   * Groups of which at least one must be given: long flags ("--ice-servers")
   * or "<args>" for the positional arguments, with the words that name the
   * group in the usage error (default: the flags joined with "or").
   * Reported together with the missing required options.
   */
  requireOneOf?: { anyOf: string[]; label?: string }[];
  /** Long-running: streams JSON Lines under --json, so even an error there is one compact line. */
  jsonLines?: boolean;
}

/** A command as the CLI sees it, whatever its options. */
export interface CommandSpec extends CommandBase {
  options: readonly OptionSpec[];
  /** A command either runs, or groups subcommands (`signal serve`, `signal token`). */
  run?: (args: string[], opts: Record<string, unknown>, ctx: RunContext) => Promise<CommandOutcome>;
  subcommands?: CommandSpec[];
}

/** A command whose `run` reads its options typed. */
export interface TypedCommandSpec<O extends readonly OptionSpec[]> extends CommandBase {
  options: O;
  run?: (args: string[], opts: OptionValues<O>, ctx: RunContext<keyof OptionValues<O> & string>) => Promise<CommandOutcome>;
  subcommands?: CommandSpec[];
}

/**
 * Declare a command: `run` gets its options typed from `options` (no casts).
 * Define the options with defineOptions() first when `run` is a function of
 * its own, and name their type with OptionValues<typeof thoseOptions>.
 */
export function defineCommand<const O extends readonly OptionSpec[]>(spec: TypedCommandSpec<O>): CommandSpec {
  return spec as unknown as CommandSpec;
}

// ---- Parsers: each one's return type is the option's value type ----

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

/** A repeatable option: every value, in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Options every command takes; they reach a command as `ctx.global`, not in its options. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { flags: '--json', description: 'print one JSON document on stdout and nothing else there' },
  { flags: '--no-color', description: 'no colours (NO_COLOR in the environment does the same)' },
  { flags: '-v, --verbose', description: 'show details: ignored packets, error causes' },
];

export const longFlag = (o: OptionSpec): string => o.flags.split(/[ ,|]+/).find((f) => f.startsWith('--')) ?? o.flags;

/** commander's attribute name of a long flag: --turn-secret -> turnSecret, --no-hairpin -> hairpin. */
export const attributeName = (flag: string): string => flag.replace(/^--(no-)?/, '').replace(/-([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());

const takesValue = (o: OptionSpec): boolean => /<[^>]+>|\[[^\]]+\]/.test(o.flags);

/**
 * A command's typed options from what commander parsed: an option not
 * given on the command line takes its environment variable (through its
 * parser) before its default; an on/off flag not given is false. `sourceOf`
 * is commander's getOptionValueSource. Throws a USAGE error for an unusable
 * variable.
 */
export function readOptions(
  specs: readonly OptionSpec[],
  raw: Record<string, unknown>,
  env: Record<string, string | undefined>,
  sourceOf: (key: string) => string | undefined = (key) => (raw[key] === undefined ? undefined : 'cli'),
): { values: Record<string, unknown>; source: (key: string) => OptionSource | undefined } {
  const values: Record<string, unknown> = {};
  const sources = new Map<string, OptionSource>();
  for (const o of specs) {
    const flag = longFlag(o);
    const key = attributeName(flag);
    let v = raw[key];
    const from = v === undefined ? undefined : sourceOf(key) === 'default' ? 'default' : 'cli';
    if (from !== 'cli' && o.env !== undefined && env[o.env] !== undefined && env[o.env] !== '') {
      // The command line wins, then the environment, then the default.
      v = fromEnv(o, env[o.env]!);
      sources.set(key, 'env');
    } else if (from !== undefined) {
      sources.set(key, from);
    }
    if (v === undefined && !takesValue(o)) v = false;
    values[key] = v;
  }
  return { values, source: (key) => sources.get(key) };
}

function fromEnv(o: OptionSpec, text: string): unknown {
  const where = `${o.env} (for ${longFlag(o)})`;
  if (!takesValue(o)) {
    if (/^(1|true|yes)$/i.test(text)) return !/^--no-/.test(longFlag(o));
    if (/^(0|false|no)$/i.test(text)) return /^--no-/.test(longFlag(o));
    throw new RtcprobeError('USAGE', `${where}: "${text}" is not one of 1, true, yes, 0, false, no`);
  }
  if (o.choices && !o.choices.includes(text)) {
    throw new RtcprobeError('USAGE', `${where}: "${text}" is not one of ${o.choices.join(', ')}`);
  }
  if (!o.parse) return text;
  try {
    return o.parse(text, undefined);
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new RtcprobeError('USAGE', `${where}: ${err.message.replace(/\.$/, '')}`, { cause: err });
    throw err;
  }
}

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
