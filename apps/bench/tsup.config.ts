import { defineConfig } from 'tsup';

export default defineConfig({
  // trainer-recipe: pipeline workers import it by URL (`--workers`).
  entry: ['src/index.ts', 'src/cli.ts', 'src/trainer-recipe.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
