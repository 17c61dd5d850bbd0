import { readFileSync } from 'node:fs';
import { relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../src/commands/index.js';
import { COMMON_OPTIONS, type CommandSpec, type OptionSpec } from '../../../src/commands/options.js';
import { ERROR_CODES, ERROR_HINTS } from '../../../src/core/errors.js';
// @ts-expect-error: a plain ES module without type declarations
import { docFiles, errorTable, findSpec, optionTable, renderDoc } from '../../../scripts/gen-options.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const SRC = { COMMANDS, COMMON_OPTIONS, ERROR_CODES, ERROR_HINTS };

/** "stun", "signal serve", ...: every command that runs (groups like "signal" only hold subcommands). */
function runnable(specs: CommandSpec[], prefix = ''): string[] {
  return specs.flatMap((s) => [...(s.run ? [`${prefix}${s.name}`] : []), ...runnable(s.subcommands ?? [], `${prefix}${s.name} `)]);
}

describe('generated option tables', () => {
  it('every table in README.md and docs/*.md is what the command specs give (run npm run docs:options)', () => {
    const files = docFiles(ROOT) as string[];
    expect(files.map((f) => relative(ROOT, f))).toContain('docs/stun.md');
    const stale: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      if (renderDoc(text, SRC) !== text) stale.push(relative(ROOT, file));
    }
    expect(stale).toEqual([]);
  });

  it('every runnable command, and the common options, have their table in their own page', () => {
    const names = runnable(COMMANDS);
    expect(names).toEqual(expect.arrayContaining(['stun', 'nat', 'turn', 'signal serve', 'signal token', 'signal join']));
    for (const name of [...names, 'common']) {
      const page = name === 'common' ? 'output' : name.split(' ')[0]!;
      const text = readFileSync(resolve(ROOT, 'docs', `${page}.md`), 'utf8');
      expect(text, `docs/${page}.md: ${name}`).toContain(`<!-- options:${name} -->`);
    }
    for (const file of docFiles(ROOT) as string[]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/<!-- options:([a-z -]+) -->/g)) expect([...names, 'common'], relative(ROOT, file)).toContain(m[1]);
    }
  });

  it('the error table of docs/errors.md is generated from src/core/errors.ts, hints included', () => {
    const text = readFileSync(resolve(ROOT, 'docs/errors.md'), 'utf8');
    expect(text).toContain(`<!-- error-codes -->\n${errorTable(ERROR_CODES, ERROR_HINTS)}\n<!-- /error-codes -->`);
    for (const code of Object.keys(ERROR_CODES)) expect(text, code).toContain(`| \`${code}\` |`);
    expect(text).toContain('raise --timeout');
  });

  it('a table row carries flags, default, description, choices, a required mark and the environment variable', () => {
    const options: OptionSpec[] = [
      { flags: '-c, --count <n>', description: 'how many', default: 5 },
      { flags: '--mode <m>', description: 'a | b, not <c>', choices: ['a', 'b'] },
      { flags: '--secret <s>', description: 'the secret', required: true, env: 'X_SECRET' },
      { flags: '--fast', description: 'go fast' },
    ];
    expect(optionTable(options).split('\n')).toEqual([
      '| option | default | description |',
      '|---|---|---|',
      '| `-c, --count <n>` | `5` | how many |',
      '| `--mode <m>` |  | a \\| b, not &lt;c&gt;; one of `a`, `b` |',
      '| `--secret <s>` | required | the secret; or env `X_SECRET` |',
      '| `--fast` | off | go fast |',
    ]);
  });

  it('a changed spec makes the docs differ; a marker naming no command, or left open, is an error', () => {
    const text = readFileSync(resolve(ROOT, 'docs/stun.md'), 'utf8');
    const stun = findSpec(COMMANDS, 'stun') as CommandSpec;
    const changed = { ...SRC, COMMANDS: COMMANDS.map((c) => (c === stun ? { ...c, options: [...c.options, { flags: '--new <x>', description: 'new' }] } : c)) };
    expect(renderDoc(text, changed)).not.toBe(text);
    expect(renderDoc(text, changed)).toContain('| `--new <x>` |  | new |');
    expect(() => renderDoc('<!-- options:nope -->\n<!-- /options -->', SRC)).toThrow(/names no runnable command/);
    expect(() => renderDoc('<!-- options:signal -->\n<!-- /options -->', SRC)).toThrow(/names no runnable command/);
    expect(() => renderDoc('<!-- options:stun -->\nno end', SRC)).toThrow(/has no <!-- \/options -->/);
  });
});
