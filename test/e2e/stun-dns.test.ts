import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runJson, why } from '../helpers/cli.js';
import { describeWith } from '../helpers/system.js';

// Name resolution failures are tested inside a network namespace of our own whose
// resolv.conf points at its own loopback, so no query ever leaves this machine.
const NS = `rps-dns-${process.pid}`;

describeWith({ commands: ['ip'], root: true }, 'rtcprobe stun: DNS failures, isolated in a namespace', () => {
  beforeAll(() => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    mkdirSync(`/etc/netns/${NS}`, { recursive: true });
    writeFileSync(`/etc/netns/${NS}/resolv.conf`, 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
  });
  afterAll(() => {
    try { execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' }); } catch { /* already gone */ }
    rmSync(`/etc/netns/${NS}`, { recursive: true, force: true });
  });

  it('an unknown host is a per-server DNS error and exit 1', async () => {
    const r = await runJson<{ ok: boolean; servers: { ok: boolean; error: { code: string; message: string } }[] }>(
      ['stun', 'stun.does-not-exist.invalid', '--count', '1', '--timeout', '3000'], { netns: NS },
    );
    expect(r.code, why(r)).toBe(1);
    expect(r.json.ok).toBe(false);
    expect(r.json.servers[0]!.error.code).toBe('DNS');
    expect(r.json.servers[0]!.error.message).toContain('stun.does-not-exist.invalid');
  });
});
