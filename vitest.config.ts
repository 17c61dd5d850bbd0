import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30000,
    hookTimeout: 60000,
    // Tests that start servers, namespaces and NATs must not fight over them.
    fileParallelism: false,
    // Under CI a failed test runs once more. The end-to-end tests drive real servers, browsers and
    // namespaces on shared machines; a pass on the second run is printed by .ci/run as flaky, with
    // the first run's error, so it is seen and not hidden. Locally nothing is retried.
    retry: process.env.CI === 'true' ? 1 : 0,
    reporters: ['default'],
  },
});
