/**
 * Architecture: the protocol state machines and pure logic import no I/O.
 * Walks each module's value imports (type-only imports carry no code) through
 * the project's own files and fails on a socket, TLS, HTTP, file, process,
 * Redis, WebSocket or werift module anywhere below it. `node:net` is allowed
 * only for its pure address tests (isIP, isIPv4, isIPv6).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

const PURE = [
  'core/stun/constants.ts', 'core/stun/message.ts', 'core/stun/attributes.ts', 'core/stun/integrity.ts', 'core/stun/retransmit.ts',
  'core/nat/classify.ts', 'core/check/forecast.ts',
  'core/turn/protocol.ts', 'core/turn/judge.ts', 'core/turn/hints.ts',
  'core/signaling/limits.ts', 'core/signaling/protocol.ts',
  'core/ice/servers.ts', 'core/ice/rest.ts', 'core/secrets.ts', 'core/address.ts', 'core/uri.ts',
  'core/portmap/natpmp.ts', 'core/portmap/pcp.ts', 'core/portmap/ssdp.ts', 'core/portmap/upnp.ts',
  'core/bench/probe.ts', 'core/bench/tracker.ts', 'core/bench/summary.ts', 'core/bench/clock.ts', 'core/bench/connect.ts',
  'core/mcu/g711.ts', 'core/mcu/mixer.ts', 'core/mcu/jitter.ts', 'core/mcu/rtp.ts', 'core/mcu/impulse.ts',
  'core/mcu/index.ts', 'core/sfu/router.ts', 'core/sfu/index.ts',
  'core/sfu/sdp.ts', 'core/sfu/datachannel.ts', 'core/sfu/rate.ts', 'core/sfu/packet-check.ts', 'core/bench/sources.ts', 'core/bench/compare.ts',
];

const IO = /^(node:)?(dgram|tls|http|https|http2|fs|fs\/promises|child_process|dns|dns\/promises|worker_threads|cluster)$|^(ws|werift|ioredis)(\/|$)/;
const NET_PURE = new Set(['isIP', 'isIPv4', 'isIPv6']);

interface Edge { spec: string; names: string[] | undefined }

/** Value imports of one file (import type / export type are skipped). */
function valueImports(code: string): Edge[] {
  const out: Edge[] = [];
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^'";]*?)\s*from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of code.matchAll(re)) {
    if (m[5] ?? m[6]) { out.push({ spec: (m[5] ?? m[6])!, names: undefined }); continue; }
    if (m[2]) continue; // import type / export type
    const clause = m[3] ?? '';
    const braces = /\{([^}]*)\}/.exec(clause);
    const named = braces ? braces[1]!.split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('type ')) : [];
    const hasDefaultOrStar = clause.replace(/\{[^}]*\}/, '').replace(/,/g, '').trim() !== '';
    if (braces && named.length === 0 && !hasDefaultOrStar) continue; // only type names
    out.push({ spec: m[4]!, names: hasDefaultOrStar ? undefined : named.map((n) => n.split(/\s+as\s+/)[0]!) });
  }
  return out;
}

function offenders(rel: string): string[] {
  const seen = new Set<string>();
  const bad: string[] = [];
  const visit = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const e of valueImports(readFileSync(file, 'utf8'))) {
      if (e.spec.startsWith('.')) {
        const target = resolve(dirname(file), e.spec.replace(/\.js$/, '.ts'));
        if (existsSync(target)) visit(target, [...chain, relative(SRC, target).split(sep).join('/')]);
        continue;
      }
      const isNet = e.spec === 'net' || e.spec === 'node:net';
      if (isNet && e.names && e.names.every((n) => NET_PURE.has(n))) continue;
      if (isNet || IO.test(e.spec)) bad.push(`${[...chain].join(' -> ')} imports ${e.spec}`);
    }
  };
  visit(join(SRC, rel), [rel]);
  return bad;
}

describe('pure modules import no I/O', () => {
  it.each(PURE)('%s', (rel) => {
    expect(existsSync(join(SRC, rel))).toBe(true);
    expect(offenders(rel)).toEqual([]);
  });

  it('the walk sees through the project to an I/O module (core/net/udp.ts imports dgram)', () => {
    expect(offenders('core/net/udp.ts').join('\n')).toMatch(/imports (node:)?dgram/);
  });

  it('type-only imports and the pure node:net functions are not counted', () => {
    expect(valueImports(`import type { A } from 'ws';\nimport { type B } from 'werift';\nimport { isIP } from 'node:net';\nimport dgram from 'node:dgram';`)).toEqual([
      { spec: 'node:net', names: ['isIP'] },
      { spec: 'node:dgram', names: undefined },
    ]);
  });
});
