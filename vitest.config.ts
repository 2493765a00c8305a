import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file opens its own database (PGlite in memory, or a PostgreSQL schema).
    pool: 'forks',
    // One migrated PGlite database for the run, copied by every file that opens one.
    globalSetup: ['test/support/global-setup.ts'],
    // Suites wait on the database much of the time: one more worker than spare cores pays off
    // (on 2 cores, 2 workers run the suite in about 70 % of the time of 1).
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
