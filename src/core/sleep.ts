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

/** Wait `ms`, or less when `signal` aborts; never rejects (for phases that end early on Ctrl-C and keep what they measured). */
export function sleepUntilAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
