import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

// tsup bundles the worker entry into dist/pipeline/worker.js with esbuild: an import the bundler
// drops (a side-effect import of a file the package's `sideEffects` does not list) is a warning in
// every build's output and a registration missing from the worker.
describe('the pipeline worker entry', () => {
  it('bundles with no warning: no import is dropped', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('./worker-entry.ts', import.meta.url))],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
    expect(result.warnings.map((warning) => `${warning.id}: ${warning.text}`)).toEqual([]);
  });
});
