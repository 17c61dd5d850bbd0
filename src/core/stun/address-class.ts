import { isIPv4, isIPv6 } from 'node:net';
import { canonicalIp } from './attributes.js';

/**
 * What kind of address a server reported as our mapped address. Only a
 * `public` one can be what the rest of the Internet sees; the others mean
 * the server sits on this host (loopback), in the same private network
 * (private, link-local), or behind the same carrier-grade NAT (cgnat).
 */
export type AddressClass = 'loopback' | 'private' | 'cgnat' | 'link-local' | 'public';

/** Human wording of each class, for the verdict line. */
export const ADDRESS_CLASS_LABEL: Record<AddressClass, string> = {
  loopback: 'Loopback address',
  private: 'Private address',
  cgnat: 'Shared (CGNAT) address',
  'link-local': 'Link-local address',
  public: 'Public address',
};

function v4Class(a: string): AddressClass {
  const [o1, o2] = a.split('.').map(Number) as [number, number];
  if (o1 === 127) return 'loopback';
  if (o1 === 10 || (o1 === 172 && o2 >= 16 && o2 <= 31) || (o1 === 192 && o2 === 168)) return 'private'; // RFC 1918
  if (o1 === 100 && o2 >= 64 && o2 <= 127) return 'cgnat'; // RFC 6598 100.64.0.0/10
  if (o1 === 169 && o2 === 254) return 'link-local'; // RFC 3927
  return 'public';
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (given in canonical form), else undefined. */
export function mappedIpv4(canonical: string): string | undefined {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(canonical);
  if (!m) return undefined;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** Classify an IPv4 or IPv6 address (IPv4-mapped IPv6 by its IPv4 part). */
export function classifyAddress(address: string): AddressClass {
  if (isIPv4(address)) return v4Class(address);
  if (!isIPv6(address)) throw new RangeError(`not an IP address: ${address}`);
  const a = canonicalIp(address);
  const mapped = mappedIpv4(a);
  if (mapped) return v4Class(mapped);
  if (a === '::1') return 'loopback';
  const first = parseInt(a.split(':')[0] || '0', 16);
  if ((first & 0xfe00) === 0xfc00) return 'private'; // RFC 4193 unique local fc00::/7
  if ((first & 0xffc0) === 0xfe80) return 'link-local'; // fe80::/10
  return 'public';
}
