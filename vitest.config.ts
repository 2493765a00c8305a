import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Each file opens its own database (PGlite in memory, or a PostgreSQL schema).
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
