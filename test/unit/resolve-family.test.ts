import { describe, expect, it } from 'vitest';
import { familyFor, familyForAll, literalFamily, resolveHost } from '../../src/core/resolve.js';

describe('address family of a server argument', () => {
  it.each([
    ['127.0.0.1', undefined, 4],
    ['::1', undefined, 6],
    ['[::1]', undefined, 6],
    ['example.test', undefined, 4],
    ['example.test', '6', 6],
    ['::1', '6', 6],
    ['192.0.2.1', '4', 4],
  ] as const)('%s with --family %s is IPv%d', (host, requested, family) => {
    expect(familyFor(host, requested)).toBe(family);
  });

  it.each([
    ['127.0.0.1', '6', /127\.0\.0\.1 is an IPv4 address, but --family 6 was given/],
    ['::1', '4', /::1 is an IPv6 address, but --family 4 was given/],
  ] as const)('%s with an explicit --family %s is a usage error', (host, requested, message) => {
    let thrown: unknown;
    try {
      familyFor(host, requested);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'USAGE', message: expect.stringMatching(message) });
  });

  it('several hosts share one family: literals decide, mixed literals need --family', () => {
    expect(familyForAll(['::1', 'example.test'], undefined)).toBe(6);
    expect(familyForAll(['example.test'], undefined)).toBe(4);
    expect(() => familyForAll(['127.0.0.1', '::1'], undefined)).toThrow(/IPv4 and IPv6 addresses mixed/);
    expect(() => familyForAll(['127.0.0.1', '::1'], '4')).toThrow(/::1 is an IPv6 address/);
    expect(literalFamily('example.test')).toBeUndefined();
  });

  it('resolveHost still refuses a literal of the other family (a usage error, not DNS)', async () => {
    await expect(resolveHost('::1', 4, { timeout: 100 })).rejects.toMatchObject({ code: 'USAGE' });
    await expect(resolveHost('::1', 6, { timeout: 100 })).resolves.toEqual({ address: '::1', family: 6 });
  });
});
