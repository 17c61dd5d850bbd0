import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30000,
    hookTimeout: 60000,
    // Tests that start servers, namespaces and NATs must not fight over them.
    fileParallelism: false,
    reporters: ['default'],
  },
});
