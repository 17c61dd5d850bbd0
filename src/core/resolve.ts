import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { RtcprobeError, toRtcprobeError } from './errors.js';

export interface Resolved {
  address: string;
  family: 4 | 6;
}

/** The value of a `-f, --family` option: undefined when the user did not give it. */
export type FamilyOption = string | undefined;

/** The family of an IP literal (brackets allowed), or undefined for a host name. */
export function literalFamily(host: string): 4 | 6 | undefined {
  const v = isIP(host.replace(/^\[(.*)\]$/, '$1'));
  return v === 4 || v === 6 ? v : undefined;
}

/**
 * The family to reach `host` with. An IP literal brings its own family; a
 * host name gets the requested one (IPv4 when none was given). A literal that
 * contradicts an explicit `--family` is a usage error, never a translation.
 */
export function familyFor(host: string, requested: FamilyOption): 4 | 6 {
  const lit = literalFamily(host);
  const asked = requested === '6' ? 6 : requested === '4' ? 4 : undefined;
  if (lit !== undefined && asked !== undefined && lit !== asked) {
    throw new RtcprobeError('USAGE', `${host} is an IPv${lit} address, but --family ${requested} was given`);
  }
  return lit ?? asked ?? 4;
}

/**
 * One family for several hosts that must share it. Literals decide when no
 * family was given; literals of both families then need separate runs.
 */
export function familyForAll(hosts: string[], requested: FamilyOption): 4 | 6 {
  for (const h of hosts) familyFor(h, requested);
  if (requested === '4' || requested === '6') return requested === '6' ? 6 : 4;
  const literals = new Set(hosts.map(literalFamily).filter((f) => f !== undefined));
  if (literals.size > 1) throw new RtcprobeError('USAGE', `${hosts.join(', ')}: IPv4 and IPv6 addresses mixed; run once per family, or give --family`);
  return literals.size === 1 ? [...literals][0]! : 4;
}

/**
 * Resolve a host for one address family, with a timeout and an AbortSignal.
 * IP literals of the wrong family are an error, never silently translated
 * (`familyFor` picks the family of a literal before this is called).
 */
export async function resolveHost(host: string, family: 4 | 6, o: { timeout: number; signal?: AbortSignal }): Promise<Resolved> {
  const literal = isIP(host);
  if (literal) {
    if (literal !== family) {
      throw new RtcprobeError('USAGE', `${host} is an IPv${literal} address, but IPv${family} was requested`);
    }
    return { address: host, family };
  }
  o.signal?.throwIfAborted();
  try {
    const result = await lookupWithin(lookup(host, { family, verbatim: true }), host, o);
    return { address: result.address, family: result.family === 6 ? 6 : 4 };
  } catch (err) {
    throw toRtcprobeError(err, `cannot resolve ${host} (IPv${family})`);
  }
}

/**
 * A DNS lookup of `host` bounded by `o.timeout` (TIMEOUT) and `o.signal`
 * (ABORTED); the timer and the listener are gone when it settles.
 */
export async function lookupWithin<T>(lookup: Promise<T>, host: string, o: { timeout: number; signal?: AbortSignal }): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      lookup,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RtcprobeError('TIMEOUT', `DNS lookup of ${host} timed out after ${o.timeout} ms`)), o.timeout);
        onAbort = () => reject(new RtcprobeError('ABORTED', 'aborted', { cause: o.signal?.reason }));
        o.signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
}
