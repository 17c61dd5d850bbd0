import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { RtcprobeError, toRtcprobeError } from '../errors.js';
import { lookupWithin, resolveHost, type Resolved } from '../resolve.js';
import type { SrvRecord } from './srv.js';

/**
 * A DNS client for one command run: SRV always goes through it; A/AAAA
 * only when explicit servers were given (otherwise the system's
 * getaddrinfo is used, so /etc/hosts keeps working).
 */
export interface DnsClient {
  resolveSrv(name: string): Promise<SrvRecord[]>;
  /** The servers asked, when not the system's. */
  servers?: string[];
  /** Ask `servers` for A/AAAA too (true when servers were given). */
  addresses: boolean;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  cancel(): void;
}

/** Check one --dns-server value: `ip`, `ip:port` or `[v6]:port`. */
export function checkDnsServer(value: string): string {
  const v = value.trim();
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(v);
  const plain4 = /^([\d.]+)(?::(\d{1,5}))?$/.exec(v);
  const host = bracket ? bracket[1]! : plain4 ? plain4[1]! : v;
  const port = bracket ? bracket[2] : plain4 ? plain4[2] : undefined;
  if (!isIP(host) || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) {
    throw new RtcprobeError('USAGE', `--dns-server "${value}" is not an IP address, ip:port or [v6]:port`);
  }
  return v;
}

export function createDnsClient(o: { servers?: string[]; timeout: number }): DnsClient {
  const r = new Resolver({ timeout: Math.max(1, o.timeout), tries: 1 });
  if (o.servers?.length) r.setServers(o.servers);
  return {
    resolveSrv: (n) => r.resolveSrv(n),
    resolve4: (n) => r.resolve4(n),
    resolve6: (n) => r.resolve6(n),
    ...(o.servers?.length ? { servers: o.servers } : {}),
    addresses: !!o.servers?.length,
    cancel: () => r.cancel(),
  };
}

/**
 * Resolve a host for one family: through `dns` when it asks A/AAAA itself,
 * else through the system (resolveHost). Same errors as resolveHost.
 */
export async function lookupAddress(host: string, family: 4 | 6, o: { timeout: number; signal?: AbortSignal; dns?: DnsClient }): Promise<Resolved> {
  if (!o.dns?.addresses || isIP(host)) return resolveHost(host, family, o);
  const dns = o.dns;
  o.signal?.throwIfAborted();
  try {
    const list = await lookupWithin(family === 6 ? dns.resolve6(host) : dns.resolve4(host), host, o);
    if (list.length === 0) throw new RtcprobeError('DNS', `cannot resolve ${host} (IPv${family}): no address`);
    return { address: list[0]!, family };
  } catch (err) {
    const e = err as { code?: string };
    if (e.code === 'ENODATA' || e.code === 'ENOTFOUND' || e.code === 'ESERVFAIL' || e.code === 'EREFUSED' || e.code === 'ECONNREFUSED') {
      throw new RtcprobeError('DNS', `cannot resolve ${host} (IPv${family}): ${e.code}`, { cause: err });
    }
    if (e.code === 'ETIMEOUT') throw new RtcprobeError('TIMEOUT', `DNS lookup of ${host} timed out after ${o.timeout} ms`, { cause: err });
    throw toRtcprobeError(err, `cannot resolve ${host} (IPv${family})`);
  }
}
