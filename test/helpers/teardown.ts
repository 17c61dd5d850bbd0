import { afterEach } from 'vitest';

/**
 * A test file's teardown steps: `push` one as soon as a thing is started; after
 * each test they run newest first, also when the test failed, and a failing
 * step does not stop the others.
 */
export function teardownAfterEach(): { push(step: () => Promise<unknown>): void } {
  const steps: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const s of steps.splice(0).reverse()) await s().catch(() => {});
  });
  return { push: (step) => void steps.push(step) };
}
