import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatJson } from '../../src/commands/nat.js';
import type { StunJson } from '../../src/commands/stun.js';
import type { TurnJson } from '../../src/commands/turn.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startCoturn, type Coturn } from '../helpers/coturn.js';
import { describeWith } from '../helpers/system.js';

// An IP literal brings its own family (resolve.ts, shared by stun, nat and turn);
// only an explicit --family that contradicts it is refused, as a usage error.

describeWith({ commands: ['turnserver'] }, 'IP literals pick their own address family', () => {
  let v6: Coturn;
  beforeAll(async () => {
    v6 = await startCoturn({ ips: ['::1'], stunOnly: true });
  });
  afterAll(async () => {
    await v6?.stop();
  });

  it('stun: a bare IPv6 literal and [v6]:port run over IPv6 without --family', async () => {
    const r = await runJson<StunJson>(['stun', `[::1]:${v6.port}`, '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    expect(r.json.servers[0]).toMatchObject({ ok: true, family: 6 });
    expect(r.json.servers[0]!.mappedAddress?.address).toBe('::1');
  });

  it('nat: an IPv6 literal gives an IPv6 result without --family', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `[::1]:${v6.port}`, '--no-hairpin']);
    expect(r.json.families.map((f) => f.family)).toEqual([6]);
    expect(r.json.families[0]!.localAddress?.address).toBe('::1');
    expect(r.json.mapping).toBe('none');
    expect(r.json.warnings.join('\n')).not.toMatch(/DNS/);
  });

  it('turn: the DNS row passes for an IPv6 literal without --family', async () => {
    const r = await runJson<TurnJson>(['turn', `turn:[::1]:${v6.port}`, '-u', 'u', '-p', 'p', '-t', '1000']);
    const dns = r.json.checks.find((c) => c.id.endsWith('.dns'))!;
    expect(dns.status).toBe('pass');
    expect(dns.detail).toMatch(/::1 \(IP literal\)/);
    // It went on to talk to the server over IPv6 (this coturn is STUN-only, so the allocation itself fails).
    expect(r.json.checks.find((c) => c.id.endsWith('.reach'))?.detail).toMatch(/\[::1\]/);
  });
});

describe('a literal against an explicit --family is a usage error (exit 2, nothing sent)', () => {
  it.each([
    [['stun', '127.0.0.1', '-f', '6'], /USAGE: 127\.0\.0\.1 is an IPv4 address, but --family 6 was given/],
    [['stun', '::1', '--family', '4'], /USAGE: ::1 is an IPv6 address, but --family 4 was given/],
    [['nat', '127.0.0.1', '-f', '6'], /USAGE: 127\.0\.0\.1 is an IPv4 address, but --family 6 was given/],
    [['nat', '-s', '[::1]:3478', '-f', '4'], /USAGE: ::1 is an IPv6 address, but --family 4 was given/],
    [['nat', '-s', '127.0.0.1', '-f', 'both'], /USAGE: --family both: no server can be reached over IPv6/],
    [['nat', '-s', '127.0.0.1', '-s', '::1'], /USAGE: .*IPv4 and IPv6 addresses mixed/],
    [['turn', 'turn:127.0.0.1', '-u', 'u', '-p', 'p', '-f', '6'], /USAGE: 127\.0\.0\.1 is an IPv4 address, but --family 6 was given/],
    [['turn', 'turn:[::1]', '-u', 'u', '-p', 'p', '-f', '4'], /USAGE: ::1 is an IPv6 address, but --family 4 was given/],
  ])('%j', async (args, pattern) => {
    const r = await runCli(args);
    expect(r.code, why(r)).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(pattern);
    expect(r.stderr).not.toMatch(/DNS/);
  });

  it('--json puts the usage error on stdout as one document', async () => {
    const r = await runJson<{ error: { code: string } }>(['stun', '::1', '-f', '4']);
    expect(r.code, why(r)).toBe(2);
    expect(r.json.error.code).toBe('USAGE');
  });
});
