/**
 * Step 1 of `rtcprobe check`: this host's network. The interfaces and their
 * addresses (IPv4, IPv6), and the default routes from /proc. Whether UDP,
 * TCP and TLS get out is decided from what the server checks saw (see
 * run.ts), not by extra probes. The /proc parsers are pure.
 */
import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';

export interface InterfaceAddress {
  name: string;
  address: string;
  family: 4 | 6;
  internal: boolean;
  cidr: string | null;
}

export interface DefaultRoute {
  family: 4 | 6;
  /** The next hop; absent for an on-link default route. */
  gateway?: string;
  dev: string;
}

/** The default routes of /proc/net/route (IPv4: little-endian hex words). Pure. */
export function parseRouteV4(text: string): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000' || !/^[0-9A-Fa-f]{8}$/.test(f[2]!)) continue;
    const n = parseInt(f[2]!, 16);
    const gw = [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
    out.push({ family: 4, dev: f[0]!, ...(n !== 0 ? { gateway: gw } : {}) });
  }
  return out;
}

/** An IPv6 address in its shortest form (the WHATWG URL parser compresses it). */
const compressV6 = (full: string): string => new URL(`http://[${full}]/`).hostname.slice(1, -1);

/** The default routes (::/0) of /proc/net/ipv6_route. Pure. */
export function parseRouteV6(text: string): DefaultRoute[] {
  const out: DefaultRoute[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^0{32}$/.test(f[0]!) || f[1] !== '00' || f[9] === 'lo') continue;
    const hop = f[4]!;
    const gateway = /^0{32}$/.test(hop) ? undefined : compressV6(hop.match(/.{4}/g)!.join(':'));
    out.push({ family: 6, dev: f[9]!, ...(gateway ? { gateway } : {}) });
  }
  return out;
}

export interface HostNetwork {
  interfaces: InterfaceAddress[];
  defaultRoutes: DefaultRoute[];
  /** A non-internal IPv4 / IPv6 (non link-local) address exists. */
  ipv4: boolean;
  ipv6: boolean;
}

async function readOr(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

/** The interfaces and default routes of this host (its network namespace). */
export async function hostNetwork(): Promise<HostNetwork> {
  const interfaces: InterfaceAddress[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      interfaces.push({ name, address: a.address, family: a.family === 'IPv6' ? 6 : 4, internal: a.internal, cidr: a.cidr ?? null });
    }
  }
  const defaultRoutes = [...parseRouteV4(await readOr('/proc/net/route')), ...parseRouteV6(await readOr('/proc/net/ipv6_route'))];
  const external = interfaces.filter((i) => !i.internal);
  return {
    interfaces,
    defaultRoutes,
    ipv4: external.some((i) => i.family === 4),
    ipv6: external.some((i) => i.family === 6 && !/^fe80:/i.test(i.address)),
  };
}
