import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The parity test runs @mlaan/parity's infopro runner from source; point its
  // '@mlaan/infopro' import at this package's source rather than a possibly stale dist.
  resolve: { alias: { '@mlaan/infopro': fileURLToPath(new URL('./src/index.ts', import.meta.url)) } },
  test: {
    include: ['src/**/*.test.ts'],
    setupFiles: ['@mlaan/test-support/vitest-setup'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
  },
});
