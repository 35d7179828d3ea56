import { defineConfig } from 'tsup';

export default defineConfig({
  // The augmentation worker is its own entry: worker_threads loads it by file, beside index.js.
  entry: ['src/index.ts', 'src/augment-worker.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
