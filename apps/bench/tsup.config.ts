import { defineConfig } from 'tsup';

export default defineConfig({
  // trainer-recipe: pipeline workers import it by URL (`--workers`).
  entry: { index: 'src/index.ts', cli: 'src/cli.ts', 'trainer-recipe': 'src/training/trainer-recipe.ts' },
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
});
