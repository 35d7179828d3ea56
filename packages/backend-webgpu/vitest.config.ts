import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Core's selectBackend('webgpu') imports this package by name. Its tests run before its own
  // build (turbo builds only the dependencies first), and the name must reach the same module
  // instance the tests register through, so the name resolves to the sources.
  resolve: {
    alias: { '@mlaan/backend-webgpu': fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
  },
  test: {
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
  },
});
