import { isIP } from 'node:net';
import { toRtcprobeError } from '../errors.js';
import type { Scheme, Transport } from '../uri.js';

/** One SRV record as node's resolver returns it (RFC 2782). */
export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** Looks up the SRV records of one owner name; rejects like node's `Resolver#resolveSrv`. */
export type SrvResolver = (name: string) => Promise<SrvRecord[]>;

export interface SrvTarget {
  host: string;
  port: number;
}

/** What the SRV step found; reported as is in the JSON. */
export interface SrvResult {
  /** The owner name asked for, e.g. `_stun._udp.example.org`. */
  query: string;
  /** Records in the order they are to be tried (RFC 2782). */
  records: SrvRecord[];
  /** True when no usable record was found and the plain host with the default port is used. */
  fallback: boolean;
  /** Why the lookup gave nothing (no records, timeout, server failure...). */
  error?: string;
}

/**
 * The SRV owner-name prefix of a service: RFC 7064 for STUN (`_stun._udp`,
 * `_stun._tcp`, `_stuns._tcp`), RFC 7065 for TURN (`_turn._udp`, `_turn._tcp`,
 * `_turns._tcp`). TLS is always the `s` service over TCP.
 */
export function srvService(scheme: Scheme, transport: Transport): string {
  const base = scheme.startsWith('turn') ? 'turn' : 'stun';
  if (transport === 'tls') return `_${base}s._tcp`;
  return `_${base}._${transport}`;
}

/**
 * Order SRV records as RFC 2782 says: lowest priority first; inside one
 * priority, a weighted random draw (weight 0 records have a small chance).
 * `random` returns a number in [0, 1), injectable so that tests are exact.
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number = Math.random): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) byPriority.set(r.priority, [...(byPriority.get(r.priority) ?? []), r]);
  const out: SrvRecord[] = [];
  for (const prio of [...byPriority.keys()].sort((a, b) => a - b)) {
    // Zero-weight records first, as RFC 2782 asks, so they get their small chance.
    const pool = [...byPriority.get(prio)!].sort((a, b) => (a.weight === 0 ? 0 : 1) - (b.weight === 0 ? 0 : 1));
    while (pool.length > 0) {
      const total = pool.reduce((s, r) => s + r.weight, 0);
      const pick = Math.floor(random() * (total + 1));
      let run = 0;
      let idx = pool.findIndex((r) => (run += r.weight) >= pick);
      if (idx < 0) idx = pool.length - 1;
      out.push(pool.splice(idx, 1)[0]!);
    }
  }
  return out;
}

export interface SrvLookupOptions {
  timeout: number;
  signal?: AbortSignal;
  random?: () => number;
}

/**
 * Look up the SRV records for `host` and a service (see srvService). Never
 * throws for DNS trouble: an empty answer, NXDOMAIN, a timeout or a server
 * failure give `fallback: true` and the reason, and the caller uses the
 * host itself with the default port (RFC 8489 §8, RFC 7064/7065). Only an
 * abort rejects. A single record with target "." (RFC 2782: the service is
 * decidedly not offered) also falls back, with that reason.
 */
export async function lookupSrv(host: string, service: string, resolve: SrvResolver, o: SrvLookupOptions): Promise<SrvResult> {
  const query = `${service}.${host.replace(/\.$/, '')}`;
  o.signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const records = await Promise.race([
      resolve(query),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error(`SRV lookup of ${query} timed out after ${o.timeout} ms`), { code: 'ETIMEOUT' })), o.timeout);
        onAbort = () => reject(toRtcprobeError(Object.assign(new Error('aborted'), { name: 'AbortError' })));
        o.signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    const usable = records.filter((r) => r.name !== '' && r.name !== '.');
    if (usable.length === 0) {
      const why = records.length > 0 ? 'the SRV record says the service is not offered (target ".")' : 'no SRV records';
      return { query, records: [], fallback: true, error: why };
    }
    return { query, records: orderSrv(usable, o.random), fallback: false };
  } catch (err) {
    if (o.signal?.aborted) throw toRtcprobeError(err);
    const e = err as { code?: string; message?: string };
    const why = e.code === 'ENOTFOUND' ? 'no such name (NXDOMAIN)' : e.code === 'ENODATA' ? 'no SRV records' : `${e.code ?? 'error'}: ${e.message ?? String(err)}`;
    return { query, records: [], fallback: true, error: why };
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Where to connect for a server given as a URI (for `stun`, and for `turn`
 * to call): the SRV targets in order when the URI has a host name and no
 * port, else the host itself with `defaultPort`. `srv` is undefined when no
 * SRV lookup applies (IP literal, or an explicit port).
 */
export async function serviceTargets(
  spec: { host: string; explicitPort: boolean; scheme: Scheme },
  transport: Transport,
  defaultPort: number,
  resolve: SrvResolver,
  o: SrvLookupOptions,
): Promise<{ targets: SrvTarget[]; srv?: SrvResult }> {
  if (spec.explicitPort || isIP(spec.host)) return { targets: [{ host: spec.host, port: defaultPort }] };
  const srv = await lookupSrv(spec.host, srvService(spec.scheme, transport), resolve, o);
  if (srv.fallback) return { targets: [{ host: spec.host, port: defaultPort }], srv };
  return { targets: srv.records.map((r) => ({ host: r.name.replace(/\.$/, ''), port: r.port })), srv };
}
