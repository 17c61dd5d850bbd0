import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NatJson } from '../../src/commands/nat.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { startStund, STUND, type Stund } from '../helpers/stund-server.js';
import { describeWith } from '../helpers/system.js';

// Debian's stund is a classic RFC 3489 server: CHANGED-ADDRESS instead of
// OTHER-ADDRESS, CHANGE-REQUEST honoured, RESPONSE-PORT not understood.
describeWith({ commands: [STUND, 'ss'] }, 'rtcprobe nat against a classic RFC 3489 server (stund) on loopback', () => {
  let stund: Stund;
  beforeAll(async () => {
    stund = await startStund();
  });
  afterAll(async () => {
    await stund?.stop();
  });

  it('uses CHANGED-ADDRESS for the tests, reaches a verdict and says the server is a classic one', async () => {
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${stund.port}`, '--wait', '1500']);
    expect(r.code, why(r)).toBe(0);
    expect([r.json.mapping, r.json.filtering, r.json.natType]).toEqual(['none', 'none', 'open-internet']);
    const f = r.json.families[0]!;
    expect(f.rfc5780).toMatchObject({ supported: true, status: 'classic' });
    expect(f.rfc5780.detail).toBe(`RFC 3489 server: no OTHER-ADDRESS; its CHANGED-ADDRESS 127.0.0.2:${stund.altPort} was used instead`);
    expect(f.tests.mapping[0]!.changedAddress).toEqual({ address: '127.0.0.2', port: stund.altPort });
    // CHANGE-REQUEST honoured: each filtering test answered from the address it asked for.
    expect(f.tests.filtering.map((o) => [o.test, o.outcome, o.source])).toEqual([
      ['filtering-2', 'answered', { address: '127.0.0.2', port: stund.altPort }],
      ['filtering-3', 'answered', { address: '127.0.0.1', port: stund.altPort }],
    ]);
    expect(r.json.warnings.join('\n')).not.toMatch(/does not support RFC 5780/);

    const human = await runCli(['nat', '-s', `127.0.0.1:${stund.port}`, '--wait', '1500', '--no-hairpin']);
    expect(human.stdout).toMatch(/RFC 5780 +classic: RFC 3489 server: no OTHER-ADDRESS; its CHANGED-ADDRESS 127\.0\.0\.2:\d+ was used instead/);
  }, 30000);

  it('--lifetime with no NAT: no figure, and no waiting for one', async () => {
    const t0 = performance.now();
    const r = await runJson<NatJson>(['nat', '-s', `127.0.0.1:${stund.port}`, '--lifetime', '30', '--no-hairpin']);
    expect(performance.now() - t0).toBeLessThan(15000);
    const f = r.json.families[0]!;
    // This used to say "less than 1 s": stund's silence to RESPONSE-PORT read as expiry.
    expect(f.lifetime).toEqual({ lowerSeconds: null, upperSeconds: null, text: 'not applicable: no NAT (the mapped address is the local address)' });
    expect(f.tests.lifetime).toEqual({ boundSeconds: 30, probes: [] });
    expect(r.code, why(r)).toBe(0);
  }, 30000);
});
