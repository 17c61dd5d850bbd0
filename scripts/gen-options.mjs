#!/usr/bin/env node
// Option and error-code tables of the documentation, generated from the code.
//
// The command specs (src/commands/*.ts) and the error codes
// (src/core/errors.ts) are the single source: this script rewrites the
// tables between markers in README.md and docs/*.md:
//
//   <!-- options:stun -->          ... <!-- /options -->      a command's options
//   <!-- options:signal serve -->  ... <!-- /options -->      a subcommand's options
//   <!-- options:common -->        ... <!-- /options -->      the options every command takes
//   <!-- error-codes -->           ... <!-- /error-codes -->  every error code, with its hint
//
// Usage (after npm run build): node scripts/gen-options.mjs [--check]
// --check changes nothing and exits 1 when a file is out of date.
// The rendering functions are exported for the test that compares docs and specs.

import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Text safe in a Markdown table cell, outside code spans. */
function cell(text) {
  return String(text)
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\*/g, '\\*')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\s*\n\s*/g, ' ');
}

/** A code span for a table cell (a | inside it still needs its backslash in GitHub tables). */
function code(text) {
  return `\`${String(text).replace(/\|/g, '\\|')}\``;
}

function defaultCell(o) {
  if (o.required) return 'required';
  if (o.default !== undefined) return code(Array.isArray(o.default) ? o.default.join(',') : o.default);
  return /[<[]/.test(o.flags) ? '' : 'off';
}

function descriptionCell(o) {
  let d = cell(o.description);
  if (o.choices) d += `; one of ${o.choices.map(code).join(', ')}`;
  if (o.env && !o.description.includes(o.env)) d += `; or env ${code(o.env)}`;
  return d;
}

/** The Markdown table of a list of OptionSpecs. */
export function optionTable(options) {
  const rows = options.map((o) => `| ${code(o.flags)} | ${defaultCell(o)} | ${descriptionCell(o)} |`);
  return ['| option | default | description |', '|---|---|---|', ...rows].join('\n');
}

/** The spec of "stun", "signal serve", ...; undefined when there is none. */
export function findSpec(commands, path) {
  let list = commands;
  let spec;
  for (const name of path.trim().split(/\s+/)) {
    spec = list.find((c) => c.name === name);
    if (!spec) return undefined;
    list = spec.subcommands ?? [];
  }
  return spec;
}

/** The Markdown table of the error codes, with the hint of those that have one. */
export function errorTable(codes, hints) {
  const rows = Object.entries(codes).map(([c, meaning]) => `| ${code(c)} | ${cell(meaning)} | ${hints[c] ? cell(hints[c]) : ''} |`);
  return ['| code | meaning | hint printed with it |', '|---|---|---|', ...rows].join('\n');
}

/**
 * The text with every marked table regenerated. `src` holds COMMANDS,
 * COMMON_OPTIONS, ERROR_CODES and ERROR_HINTS. Throws on a marker that names
 * no command, or an unclosed marker.
 */
export function renderDoc(text, src) {
  const opening = /<!-- options:([a-z][a-z -]*?) -->/g;
  for (const m of text.matchAll(opening)) {
    const rest = text.slice(m.index + m[0].length);
    const close = rest.indexOf('<!-- /options -->');
    const next = rest.search(/<!-- options:/);
    if (close < 0 || (next >= 0 && next < close)) throw new Error(`${m[0]} has no <!-- /options --> after it`);
  }
  let out = text.replace(/<!-- options:([a-z][a-z -]*?) -->[\s\S]*?<!-- \/options -->/g, (_all, name) => {
    let options;
    if (name === 'common') options = src.COMMON_OPTIONS;
    else {
      const spec = findSpec(src.COMMANDS, name);
      if (!spec || !spec.run) throw new Error(`<!-- options:${name} --> names no runnable command`);
      options = spec.options;
    }
    return `<!-- options:${name} -->\n${optionTable(options)}\n<!-- /options -->`;
  });
  out = out.replace(/<!-- error-codes -->[\s\S]*?<!-- \/error-codes -->/g, () => `<!-- error-codes -->\n${errorTable(src.ERROR_CODES, src.ERROR_HINTS)}\n<!-- /error-codes -->`);
  return out;
}

/** The documentation files this script maintains: README.md and docs/*.md. */
export function docFiles(root = ROOT) {
  const docs = existsSync(join(root, 'docs')) ? readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => join(root, 'docs', f)) : [];
  return [join(root, 'README.md'), ...docs];
}

async function main(argv) {
  const check = argv.includes('--check');
  const dist = join(ROOT, 'dist');
  if (!existsSync(join(dist, 'commands', 'index.js'))) {
    process.stderr.write('dist/ is missing: run "npm run build" first\n');
    return 2;
  }
  const load = (p) => import(pathToFileURL(join(dist, p)).href);
  const [{ COMMANDS }, { COMMON_OPTIONS }, { ERROR_CODES, ERROR_HINTS }] = await Promise.all([
    load('commands/index.js'),
    load('commands/options.js'),
    load('core/errors.js'),
  ]);
  const src = { COMMANDS, COMMON_OPTIONS, ERROR_CODES, ERROR_HINTS };
  const stale = [];
  for (const file of docFiles()) {
    const before = readFileSync(file, 'utf8');
    const after = renderDoc(before, src);
    if (after === before) continue;
    stale.push(relative(ROOT, file));
    if (!check) writeFileSync(file, after);
  }
  if (check) {
    if (stale.length) process.stderr.write(`out of date (run npm run docs:options): ${stale.join(', ')}\n`);
    return stale.length ? 1 : 0;
  }
  process.stdout.write(stale.length ? `updated: ${stale.join(', ')}\n` : 'all option tables up to date\n');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err) => {
      process.stderr.write(`gen-options: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
