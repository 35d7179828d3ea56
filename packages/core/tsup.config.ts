import { defineConfig } from 'tsup';

export default defineConfig({
  // The pipeline's worker entry is its own file: workers start it by URL.
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'pipeline/worker': 'src/pipeline/worker-entry.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // tfjs-core's gradient registrations ship only as extensionless ESM that Node cannot load, and
  // its Node bundle omits them; bundle them here. They talk to the one global tfjs engine and
  // gradient registry, so this copy cooperates with whatever tfjs-core the user loads.
  noExternal: ['@tensorflow/tfjs-core/dist/register_all_gradients.js'],
});
