/** Address classes that matter for a TURN relay: what peers can reach, what must be denied. */
import { isIPv4, isIPv6 } from 'node:net';
import { mappedIpv4 } from '../stun/address-class.js';
import { canonicalIp } from '../stun/attributes.js';

export type AddressClass =
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link-local'
  | 'unspecified'
  | 'multicast'
  | 'broadcast'
  | 'ula'
  | 'documentation'
  | 'public';

function v4(ip: string): number {
  return ip.split('.').reduce((acc, x) => ((acc << 8) | Number(x)) >>> 0, 0);
}

function inV4(ip: string, base: string, bits: number): boolean {
  const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((v4(ip) & m) >>> 0) === ((v4(base) & m) >>> 0);
}

function classifyV4(ip: string): AddressClass {
  if (inV4(ip, '127.0.0.0', 8)) return 'loopback';
  if (inV4(ip, '0.0.0.0', 8)) return 'unspecified';
  if (inV4(ip, '10.0.0.0', 8) || inV4(ip, '172.16.0.0', 12) || inV4(ip, '192.168.0.0', 16)) return 'private';
  if (inV4(ip, '100.64.0.0', 10)) return 'cgnat';
  if (inV4(ip, '169.254.0.0', 16)) return 'link-local';
  if (inV4(ip, '224.0.0.0', 4)) return 'multicast';
  if (ip === '255.255.255.255') return 'broadcast';
  if (inV4(ip, '192.0.2.0', 24) || inV4(ip, '198.51.100.0', 24) || inV4(ip, '203.0.113.0', 24)) return 'documentation';
  return 'public';
}

/** Classify an IP literal; IPv4-mapped IPv6 addresses take their IPv4 class. */
export function classifyAddress(ip: string): AddressClass {
  if (isIPv4(ip)) return classifyV4(ip);
  if (!isIPv6(ip)) return 'public';
  const c = canonicalIp(ip);
  const mapped = mappedIpv4(c);
  if (mapped) return classifyV4(mapped);
  if (c === '::1') return 'loopback';
  if (c === '::') return 'unspecified';
  const first = parseInt(c.split(':')[0] || '0', 16);
  if ((first & 0xfe00) === 0xfc00) return 'ula';
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  if (c.startsWith('2001:db8:')) return 'documentation';
  return 'public';
}

/** Not reachable from the Internet at large. */
export function isNonPublic(c: AddressClass): boolean {
  return c !== 'public' && c !== 'documentation';
}

/** A peer address that a safe TURN server refuses, with the coturn setting that refuses it. */
export interface ForbiddenPeer {
  address: string;
  label: string;
  cls: AddressClass;
  /** The coturn option to set (or remove) so that the server refuses it. */
  fix: string;
}

const RFC1918_FIX = 'set denied-peer-ip=10.0.0.0-10.255.255.255, denied-peer-ip=172.16.0.0-172.31.255.255, denied-peer-ip=192.168.0.0-192.168.255.255';

/**
 * The probes of `--security`. Each one only asks for a permission; no data is
 * ever sent toward these addresses.
 */
export const FORBIDDEN_PEERS: ForbiddenPeer[] = [
  { address: '127.0.0.1', label: 'loopback', cls: 'loopback', fix: 'remove allow-loopback-peers from the configuration (coturn >= 4.5.2 refuses loopback peers by default; older versions need no-loopback-peers)' },
  { address: '10.0.0.1', label: 'RFC 1918 10/8', cls: 'private', fix: RFC1918_FIX },
  { address: '172.16.0.1', label: 'RFC 1918 172.16/12', cls: 'private', fix: RFC1918_FIX },
  { address: '192.168.0.1', label: 'RFC 1918 192.168/16', cls: 'private', fix: RFC1918_FIX },
  { address: '100.64.0.1', label: 'CGNAT 100.64/10', cls: 'cgnat', fix: 'set denied-peer-ip=100.64.0.0-100.127.255.255' },
  { address: '169.254.169.254', label: 'link-local / cloud metadata', cls: 'link-local', fix: 'set denied-peer-ip=169.254.0.0-169.254.255.255' },
  { address: '0.0.0.0', label: 'unspecified', cls: 'unspecified', fix: 'set denied-peer-ip=0.0.0.0-0.255.255.255' },
  { address: '224.0.0.1', label: 'multicast', cls: 'multicast', fix: 'set no-multicast-peers' },
  { address: '255.255.255.255', label: 'broadcast', cls: 'broadcast', fix: 'set denied-peer-ip=255.255.255.255' },
  { address: '::1', label: 'IPv6 loopback', cls: 'loopback', fix: 'remove allow-loopback-peers and set denied-peer-ip=::1' },
  { address: '::', label: 'IPv6 unspecified', cls: 'unspecified', fix: 'set denied-peer-ip=::' },
  { address: 'fd00::1', label: 'IPv6 ULA fc00::/7', cls: 'ula', fix: 'set denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { address: 'fe80::1', label: 'IPv6 link-local', cls: 'link-local', fix: 'set denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { address: 'ff02::1', label: 'IPv6 multicast', cls: 'multicast', fix: 'set no-multicast-peers' },
  { address: '::ffff:127.0.0.1', label: 'IPv4-mapped loopback', cls: 'loopback', fix: 'set denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255 (coturn 4.6.1 refuses ::1 and 127.0.0.1 by default, but was seen granting ::ffff:127.0.0.1 on an IPv6 relay)' },
  { address: '::ffff:10.0.0.1', label: 'IPv4-mapped RFC 1918', cls: 'private', fix: 'set denied-peer-ip=::ffff:10.0.0.0-::ffff:10.255.255.255' },
  { address: '::ffff:169.254.169.254', label: 'IPv4-mapped metadata', cls: 'link-local', fix: 'set denied-peer-ip=::ffff:169.254.0.0-::ffff:169.254.255.255' },
];
