import { afterAll, beforeAll, expect, it } from 'vitest';
import type { StunJson } from '../../src/commands/stun.js';
import { runCli, runJson, why } from '../helpers/cli.js';
import { describeWith } from '../helpers/system.js';
import { startStund, type Stund } from '../helpers/stund-server.js';

describeWith({ commands: ['stund'] }, 'rtcprobe stun against a classic RFC 3489 server (stund)', () => {
  let stund: Stund;
  beforeAll(async () => {
    stund = await startStund();
  });
  afterAll(async () => {
    await stund?.stop();
  });

  it('decodes SOURCE-ADDRESS and CHANGED-ADDRESS and says the server is classic', async () => {
    const r = await runJson<StunJson>(['stun', `127.0.0.1:${stund.port}`, '--count', '2']);
    expect(r.code, why(r)).toBe(0);
    const s = r.json.servers[0]!;
    expect(s.ok).toBe(true);
    expect(s.mappedAddress).toEqual({ family: 4, address: '127.0.0.1', port: s.localAddress!.port });
    expect(s.legacyMappedAddress).toEqual(s.mappedAddress);
    expect(s.sourceAddress).toEqual({ family: 4, address: '127.0.0.1', port: stund.port });
    expect(s.changedAddress).toEqual({ family: 4, address: '127.0.0.2', port: stund.altPort });
    expect(s.otherAddress).toBeUndefined();
    expect(s.rfc5780).toBe(false);
    expect(s.classic).toBe(true);
    expect(s.software).toMatch(/Vovida/);
  });

  it('human output shows both addresses and the classic server', async () => {
    const r = await runCli(['stun', `127.0.0.1:${stund.port}`, '--count', '1']);
    expect(r.code, why(r)).toBe(0);
    expect(r.stdout).toContain(`source     127.0.0.1:${stund.port} (SOURCE-ADDRESS, RFC 3489)`);
    expect(r.stdout).toContain(`changed    127.0.0.2:${stund.altPort} (CHANGED-ADDRESS, RFC 3489)`);
    expect(r.stdout).toMatch(/RFC 5780 {3}no OTHER-ADDRESS: a classic RFC 3489 server/);
  });
});
