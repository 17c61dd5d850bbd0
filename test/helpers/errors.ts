import { expect } from 'vitest';
import { RtcprobeError } from '../../src/core/errors.js';

/**
 * Run `fn`, which must throw an RtcprobeError, and return it so the caller
 * can check more; fails the test naming what happened instead (no throw, or
 * another kind of error).
 */
export function rtcprobeErrorFrom(fn: () => unknown, code: string): RtcprobeError {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'an RtcprobeError is thrown').toBeInstanceOf(RtcprobeError);
  const err = thrown as RtcprobeError;
  expect(err.code).toBe(code);
  return err;
}
