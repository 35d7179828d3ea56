import { defineConfig } from 'tsup';

export default defineConfig({
  // The augmentation worker is its own entry: worker_threads loads it by file, beside index.js.
  entry: { index: 'src/index.ts', 'augment-worker': 'src/augment-worker.ts', 'testing/index': 'src/testing/index.ts' },
  format: ['esm'],
  dts: { entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts' } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  // sharp is optional and loaded with require at run time; never bundle it.
  external: ['sharp'],
});
