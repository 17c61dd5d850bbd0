/** Architecture: only src/core/rtc/ may import werift; the benchmark maths imports no I/O at all. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../../src', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Module specifiers of static imports, re-exports, dynamic imports and require calls. */
function specifiers(code: string): string[] {
  const out: string[] = [];
  const re = /(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|require\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of code.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  return out;
}

describe('import boundaries', () => {
  const all = files(SRC).map((f) => ({ rel: relative(SRC, f).split(sep).join('/'), specs: specifiers(readFileSync(f, 'utf8')) }));

  it('finds the sources and their imports', () => {
    expect(all.length).toBeGreaterThan(20);
    expect(all.find((f) => f.rel === 'core/rtc/peer.ts')?.specs).toContain('werift');
  });

  it('only src/core/rtc/ imports werift', () => {
    const offenders = all.filter((f) => !f.rel.startsWith('core/rtc/') && f.specs.some((s) => s === 'werift' || s.startsWith('werift/')));
    expect(offenders.map((f) => f.rel)).toEqual([]);
  });

  it('src/core/bench/ imports no I/O module and no werift', () => {
    const bench = all.filter((f) => f.rel.startsWith('core/bench/'));
    expect(bench.length).toBeGreaterThan(0);
    const io = /^(node:)?(dgram|net|tls|http|https|fs|child_process|dns|worker_threads)$|^(ws|werift|ioredis)(\/|$)/;
    const offenders = bench.flatMap((f) => f.specs.filter((s) => io.test(s)).map((s) => `${f.rel}: ${s}`));
    expect(offenders).toEqual([]);
  });

  it('the specifier scan recognises every import form', () => {
    expect(specifiers(`import { a } from 'werift';\nimport type { B } from "werift/nonstandard";\nexport * from './x.js';\nimport 'side';\nconst m = await import('dyn');\nconst r = require('req');`)).toEqual(['werift', 'werift/nonstandard', './x.js', 'side', 'dyn', 'req']);
  });
});
