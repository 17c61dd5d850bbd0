import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { addOptions } from '../../../src/cli.js';
import { COMMANDS } from '../../../src/commands/index.js';
import { collect, defineOptions, intOption, numberOption, readOptions, type CommandSpec, type OptionSpec } from '../../../src/commands/options.js';
import { RETRANSMIT_OPTIONS, TLS_OPTIONS, TURN_CREDENTIAL_OPTIONS } from '../../../src/commands/shared-options.js';
import { parseDuration } from '../../../src/commands/stun.js';
import { RtcprobeError } from '../../../src/core/errors.js';
import { RFC_RETRANSMIT } from '../../../src/core/stun/retransmit.js';
import { ROOT, why } from '../../helpers/cli.js';

const specs = defineOptions([
  { flags: '-c, --count <n>', description: '', default: 5, parse: intOption(1, 10) },
  { flags: '--ratio <x>', description: '', parse: numberOption(0, 1) },
  { flags: '--host <addr>', description: '', default: '127.0.0.1' },
  { flags: '-f, --family <n>', description: '', choices: ['4', '6', 'both'] },
  { flags: '--every <dur>', description: '', parse: (v: string) => parseDuration(v, 100) },
  { flags: '--dns-server <ip>', description: '', parse: collect },
  { flags: '--insecure', description: '' },
  { flags: '--no-srv', description: '' },
  { flags: '--secret <s>', description: '', env: 'X_SECRET' },
  { flags: '--size <n>', description: '', default: 100, parse: intOption(12, 1000), env: 'X_SIZE' },
  { flags: '--mode <m>', description: '', choices: ['a', 'b'], env: 'X_MODE' },
  ...RETRANSMIT_OPTIONS,
]);

/** Parse argv the way the CLI does (commander with the specs, then readOptions). */
function parse(argv: string[], env: Record<string, string> = {}) {
  const cmd = new Command('x').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {}, outputError: () => {} });
  addOptions(cmd, { options: specs });
  cmd.parse(argv, { from: 'user' });
  return readOptions(specs, cmd.opts(), env, (key) => cmd.getOptionValueSource(key));
}

function usageError(argv: string[]): string {
  try {
    parse(argv);
  } catch (err) {
    expect(err).toBeInstanceOf(CommanderError);
    return (err as CommanderError).message.replace(/^error: /, '');
  }
  throw new Error(`${argv.join(' ')} was accepted`);
}

function envError(env: Record<string, string>): RtcprobeError {
  try {
    parse([], env);
  } catch (err) {
    expect(err).toBeInstanceOf(RtcprobeError);
    return err as RtcprobeError;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('option parsing: one error message per value type', () => {
  it.each([
    ['integer', ['--count', 'x'], `option '-c, --count <n>' argument 'x' is invalid. "x" is not an integer.`],
    ['integer out of range', ['--count', '11'], `option '-c, --count <n>' argument '11' is invalid. must be between 1 and 10.`],
    ['number', ['--ratio', 'half'], `option '--ratio <x>' argument 'half' is invalid. "half" is not a number.`],
    ['number out of range', ['--ratio', '2'], `option '--ratio <x>' argument '2' is invalid. must be between 0 and 1.`],
    ['choice', ['--family', '5'], `option '-f, --family <n>' argument '5' is invalid. Allowed choices are 4, 6, both.`],
    ['duration', ['--every', '5 parsecs'], `option '--every <dur>' argument '5 parsecs' is invalid. "5 parsecs" is not a duration (e.g. 500ms, 10s, 2m, 1h).`],
    ['duration out of range', ['--every', '10ms'], `option '--every <dur>' argument '10ms' is invalid. must be between 100 ms and 168 h.`],
    ['missing value', ['--host'], `option '--host <addr>' argument missing`],
  ])('%s', (_type, argv, message) => {
    expect(usageError(argv)).toBe(message);
  });
});

describe('option values', () => {
  it('defaults, unset options and on/off flags, with where each came from', () => {
    const { values, source } = parse([]);
    expect(values).toEqual({
      count: 5,
      ratio: undefined,
      host: '127.0.0.1',
      family: undefined,
      every: undefined,
      dnsServer: undefined,
      insecure: false,
      srv: true,
      secret: undefined,
      size: 100,
      mode: undefined,
      rto: 500,
      rc: 7,
      rm: 16,
    });
    expect(source('count')).toBe('default');
    expect(source('ratio')).toBeUndefined();
    expect(source('insecure')).toBeUndefined();
  });

  it('values from the command line, parsed to their types', () => {
    const { values, source } = parse(['-c', '7', '--ratio', '0.25', '-f', 'both', '--every', '2s', '--dns-server', 'a', '--dns-server', 'b', '--insecure', '--no-srv', '--rto', '100']);
    expect(values).toMatchObject({ count: 7, ratio: 0.25, family: 'both', every: 2000, dnsServer: ['a', 'b'], insecure: true, srv: false, rto: 100, rc: 7 });
    expect(source('count')).toBe('cli');
    expect(source('srv')).toBe('cli');
  });

  it('the retransmission defaults are RFC_RETRANSMIT, declared once and shared by stun and nat', () => {
    expect(parse([]).values).toMatchObject({ rto: RFC_RETRANSMIT.rto, rc: RFC_RETRANSMIT.rc, rm: RFC_RETRANSMIT.rm });
    const byName = new Map(COMMANDS.map((c) => [c.name, c]));
    for (const name of ['stun', 'nat']) {
      for (const shared of RETRANSMIT_OPTIONS) expect(byName.get(name)!.options).toContain(shared);
    }
    for (const shared of TLS_OPTIONS) expect(byName.get('stun')!.options).toContain(shared);
    for (const shared of TURN_CREDENTIAL_OPTIONS) expect(byName.get('turn')!.options).toContain(shared);
  });
});

describe('environment fallbacks', () => {
  it('an option not on the command line takes its variable; the command line wins', () => {
    const fromEnv = parse([], { X_SECRET: 'k' });
    expect(fromEnv.values.secret).toBe('k');
    expect(fromEnv.source('secret')).toBe('env');
    const fromCli = parse(['--secret', 'flag'], { X_SECRET: 'k' });
    expect(fromCli.values.secret).toBe('flag');
    expect(fromCli.source('secret')).toBe('cli');
  });

  it('an empty variable counts as unset, an empty flag as given', () => {
    expect(parse([], { X_SECRET: '' }).values.secret).toBeUndefined();
    const empty = parse(['--secret', ''], { X_SECRET: 'k' });
    expect(empty.values.secret).toBe('');
    expect(empty.source('secret')).toBe('cli');
  });

  it('a variable comes before the default, and goes through the parser', () => {
    const r = parse([], { X_SIZE: '64' });
    expect(r.values.size).toBe(64);
    expect(r.source('size')).toBe('env');
    expect(parse(['--size', '32'], { X_SIZE: '64' }).values.size).toBe(32);
  });

  it('an unusable variable is a usage error naming the variable and the flag', () => {
    const notInt = envError({ X_SIZE: 'big' });
    expect(notInt.code).toBe('USAGE');
    expect(notInt.message).toBe('X_SIZE (for --size): "big" is not an integer');
    expect(envError({ X_SIZE: '5' }).message).toBe('X_SIZE (for --size): must be between 12 and 1000');
    expect(envError({ X_MODE: 'c' }).message).toBe('X_MODE (for --mode): "c" is not one of a, b');
  });

  it('on/off flags take 1/true/yes and 0/false/no from a variable', () => {
    const flags: OptionSpec[] = [
      { flags: '--fast', description: '', env: 'X_FAST' },
      { flags: '--no-hairpin', description: '', env: 'X_NO_HAIRPIN' },
    ];
    expect(readOptions(flags, { hairpin: true }, { X_FAST: 'yes', X_NO_HAIRPIN: '1' }, () => 'default').values).toEqual({ fast: true, hairpin: false });
    expect(readOptions(flags, { hairpin: true }, { X_FAST: '0', X_NO_HAIRPIN: 'false' }, () => 'default').values).toEqual({ fast: false, hairpin: true });
    expect(() => readOptions(flags, {}, { X_FAST: 'maybe' })).toThrow('X_FAST (for --fast): "maybe" is not one of 1, true, yes, 0, false, no');
  });
});

describe('every command', () => {
  const all = (list: CommandSpec[]): CommandSpec[] => list.flatMap((c) => [c, ...all(c.subcommands ?? [])]);
  it.each(all(COMMANDS).filter((c) => c.run).map((c) => [c.name, c] as const))('%s: every option has a long flag, and no two share one', (_name, c) => {
    const names = c.options.map((o) => o.flags.split(/[ ,]+/).find((f) => f.startsWith('--')));
    expect(names.filter((n) => n === undefined)).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
  });

  it('command modules write nothing themselves and never touch process: output goes through the run context', () => {
    const dir = `${ROOT}/src/commands`;
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(`${dir}/${file}`, 'utf8');
      expect({ file, hits: text.match(/\.(stdout|stderr)\b|\bprocess\.|console\./g) ?? [] }).toEqual({ file, hits: [] });
    }
  });
});

describe('option types', () => {
  it('tsc accepts the typed reads and rejects the wrong ones (test/types)', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [`${ROOT}/node_modules/typescript/bin/tsc`, '-p', `${ROOT}/test/types/tsconfig.json`], { cwd: ROOT, timeout: 120_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, out: stdout + stderr });
      });
    });
    expect(r.out).toBe('');
    expect(r.code, why(r)).toBe(0);
  }, 130_000);
});
