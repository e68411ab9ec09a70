import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The CLI runs as a subprocess against the built dist/; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
