import { describe, expect, it } from 'vitest';
import { endpointOf, formatEndpoint, formatHostPort, sameEndpoint } from '../../src/core/address.js';

describe('transport addresses', () => {
  it('formats IPv4, IPv6 (bracketed) and host names with their port', () => {
    expect(formatEndpoint({ address: '192.0.2.1', port: 3478 })).toBe('192.0.2.1:3478');
    expect(formatEndpoint({ address: '2001:db8::1', port: 3478 })).toBe('[2001:db8::1]:3478');
    expect(formatHostPort('turn.example.org', 5349)).toBe('turn.example.org:5349');
  });
  it('shows a missing endpoint as "-" or the given text', () => {
    expect(formatEndpoint(undefined)).toBe('-');
    expect(formatEndpoint(null, 'none')).toBe('none');
  });
  it('compares address and port only, false when either is missing', () => {
    expect(sameEndpoint({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.1', port: 1 })).toBe(true);
    expect(sameEndpoint({ address: '192.0.2.1', port: 1 }, { address: '192.0.2.1', port: 2 })).toBe(false);
    expect(sameEndpoint(undefined, { address: '192.0.2.1', port: 1 })).toBe(false);
  });
  it('endpointOf keeps only address and port', () => {
    expect(endpointOf({ family: 4, address: '192.0.2.1', port: 1 } as { address: string; port: number })).toEqual({ address: '192.0.2.1', port: 1 });
  });
});
