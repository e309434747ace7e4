import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/quiet-temporal.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Each file owns a Temporal server (and a database); two cores run two files at a time.
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
