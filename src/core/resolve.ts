import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { RtcprobeError, toRtcprobeError } from './errors.js';

export interface Resolved {
  address: string;
  family: 4 | 6;
}

/**
 * Resolve a host for one address family, with a timeout and an AbortSignal.
 * IP literals of the wrong family are an error, never silently translated.
 */
export async function resolveHost(host: string, family: 4 | 6, o: { timeout: number; signal?: AbortSignal }): Promise<Resolved> {
  const literal = isIP(host);
  if (literal) {
    if (literal !== family) {
      throw new RtcprobeError('DNS', `${host} is an IPv${literal} address, but IPv${family} was requested`);
    }
    return { address: host, family };
  }
  o.signal?.throwIfAborted();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const result = await Promise.race([
      lookup(host, { family, verbatim: true }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RtcprobeError('TIMEOUT', `DNS lookup of ${host} timed out after ${o.timeout} ms`)), o.timeout);
        onAbort = () => reject(new RtcprobeError('ABORTED', 'aborted', { cause: o.signal?.reason }));
        o.signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    return { address: result.address, family: result.family === 6 ? 6 : 4 };
  } catch (err) {
    const e = toRtcprobeError(err, `cannot resolve ${host} (IPv${family})`);
    throw e;
  } finally {
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
  }
}
