import { RtcprobeError } from './errors.js';

/** Wait `ms`; rejects with ABORTED as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal.reason }));
    if (ms <= 0) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      reject(new RtcprobeError('ABORTED', 'aborted', { cause: signal?.reason }));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
