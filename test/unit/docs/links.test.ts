import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Markdown without fenced code blocks (their lines become empty, so line numbers hold). */
function withoutFences(text: string): string {
  let fence: string | null = null;
  return text
    .split('\n')
    .map((line) => {
      const m = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
      if (m) {
        if (fence === null) fence = m[1]![0]!;
        else if (m[1]![0] === fence) fence = null;
        return '';
      }
      return fence === null ? line : '';
    })
    .join('\n');
}

/** GitHub's anchor for a heading text: lower case, punctuation dropped, spaces to hyphens. */
function githubSlug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links keep their text
    .replace(/<[^>]+>/g, '') // inline HTML
    .trim()
    .toLowerCase();
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-');
}

/** Every anchor a Markdown file offers: its headings (duplicates get -1, -2, ...) and explicit ids. */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const line of withoutFences(markdown).split('\n')) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      const base = githubSlug(h[1]!);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    for (const m of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) anchors.add(m[1]!);
  }
  return anchors;
}

/** The inline link targets of a Markdown text, outside code, with their line numbers. */
function linksOf(markdown: string): { target: string; line: number }[] {
  const out: { target: string; line: number }[] = [];
  withoutFences(markdown)
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/`[^`]*`/g, '');
      for (const m of line.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push({ target: m[1]!, line: i + 1 });
    });
  return out;
}

/** Broken relative links of one file, as "file:line target (why)". */
function brokenLinks(file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const problems: string[] = [];
  for (const { target, line } of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
    const hash = target.indexOf('#');
    const pathPart = decodeURIComponent(hash >= 0 ? target.slice(0, hash) : target);
    const anchor = hash >= 0 ? decodeURIComponent(target.slice(hash + 1)) : '';
    const where = `${relative(ROOT, file)}:${line} ${target}`;
    const dest = pathPart === '' ? file : resolve(dirname(file), pathPart);
    const text = pathPart === '' ? markdown : read(dest);
    if (text === undefined) {
      problems.push(`${where} (no such file)`);
      continue;
    }
    if (anchor && !dest.endsWith('.md')) {
      problems.push(`${where} (an anchor into a file that is not Markdown)`);
      continue;
    }
    if (anchor && !anchorsOf(text).has(anchor)) problems.push(`${where} (no heading with this anchor)`);
  }
  return problems;
}

function readIfExists(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return statSync(path).isDirectory() ? '' : readFileSync(path, 'utf8');
}

const DOC_FILES = [join(ROOT, 'README.md'), ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => join(ROOT, 'docs', f))];

describe('documentation links', () => {
  it('GitHub heading anchors', () => {
    expect(githubSlug('`rtcprobe stun [server...]`')).toBe('rtcprobe-stun-server');
    expect(githubSlug('Bandwidth search (`--bandwidth`)')).toBe('bandwidth-search---bandwidth');
    expect(githubSlug('With and without root; `CI=true`')).toBe('with-and-without-root-citrue');
    expect(githubSlug('`rtcprobe nat`: NAT behaviour discovery (RFC 5780)')).toBe('rtcprobe-nat-nat-behaviour-discovery-rfc-5780');
    expect(githubSlug('Library: `SignalClient`')).toBe('library-signalclient');
    expect([...anchorsOf('# A\n## Tests\n```\n# not a heading\n```\n### Tests\n')]).toEqual(['a', 'tests', 'tests-1']);
  });

  it('the checker finds a missing file, a missing anchor, and ignores code and absolute URLs', () => {
    const file = join(ROOT, 'docs', 'fake.md');
    const md = [
      '# Fake',
      'See [stun](stun.md#options), [gone](nowhere.md), [bad](stun.md#no-such-heading), [self](#fake), [me](#nope).',
      'Code `[x](missing.md)` and [web](https://example.org/x.md) are not checked.',
      '```',
      '[y](missing-too.md)',
      '```',
    ].join('\n');
    expect(brokenLinks(file, md, readIfExists)).toEqual([
      'docs/fake.md:2 nowhere.md (no such file)',
      'docs/fake.md:2 stun.md#no-such-heading (no heading with this anchor)',
      'docs/fake.md:2 #nope (no heading with this anchor)',
    ]);
  });

  it('README.md and docs/*.md link only to files and headings that exist', () => {
    expect(DOC_FILES.length).toBeGreaterThan(5);
    let links = 0;
    const problems: string[] = [];
    for (const file of DOC_FILES) {
      const text = readFileSync(file, 'utf8');
      links += linksOf(text).length;
      problems.push(...brokenLinks(file, text, readIfExists));
    }
    expect(problems).toEqual([]);
    expect(links).toBeGreaterThan(20);
  });

  it('every page of docs/ is linked from the README', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const linked = new Set(linksOf(readme).map((l) => l.target.split('#')[0]));
    const pages = DOC_FILES.map((f) => relative(ROOT, f)).filter((p) => p.startsWith('docs/'));
    expect(pages).toContain('docs/stun.md');
    expect(pages.filter((p) => !linked.has(p))).toEqual([]);
  });

  it('the exit-code table of docs/output.md is the one of the README', () => {
    const table = (text: string) => {
      const lines = text.split('\n');
      const start = lines.indexOf('| exit code | meaning |');
      const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
      return start < 0 ? [] : lines.slice(start, end);
    };
    const readme = table(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    expect(readme).toHaveLength(6);
    expect(table(readFileSync(join(ROOT, 'docs', 'output.md'), 'utf8'))).toEqual(readme);
  });
});
