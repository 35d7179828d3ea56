import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { aggregate } from '../results/aggregate.js';
import { describeEffect, matchingSection, pluginEffects } from '../results/comparison.js';
import { result } from '../results/result.fixture.js';
import { readAllResults } from '../results/results-folder.js';

/**
 * The main job shows MLAAN's effect beyond the spread of seeds (issue 27): the demo preset's own
 * protocol has committed seed runs (benchmarks/demo/seeds/, at least three seeds each) in which
 * every MLAAN seed is below every host seed by at least two standard errors, their verdict is the
 * one benchmarks/demo/README.md states, and `npm run demo` prints it.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const seedsFolder = join(repoRoot, 'benchmarks/demo/seeds');

describe('the demo preset', () => {
  const settings = resolveSettings('demo', {});
  const configs = expandGrid(settings);

  it('trains E2E, a host and the host with MLAAN', () => {
    expect(configs.map((config) => `${config.framework}/${config.plugins}`)).toEqual(['e2e/none', 'dgl/none', 'dgl/mlaan']);
  });

  it('has three or more committed seeds of its own protocol, whose verdict benchmarks/demo/README.md states', async () => {
    // The preset's configurations as (untrained) results: their section's settings are the protocol to find.
    const [planned] = aggregate(configs.map((config) => result(config, config.framework === 'e2e' ? 1 : Number(config.K), NaN, NaN, NaN)));
    const committed = matchingSection(planned!, aggregate(await readAllResults(seedsFolder)));
    expect(committed, 'benchmarks/demo/seeds/ holds no runs of the demo preset’s protocol').toBeDefined();
    const [effect, ...others] = pluginEffects(committed!);
    expect(others).toEqual([]);
    expect(effect!.withPlugins.plugins).toBe('mlaan');
    expect(effect!.hostErrors.length).toBeGreaterThanOrEqual(3);
    expect(effect!.withPluginsErrors.length).toBeGreaterThanOrEqual(3);
    // Issue 27: the protocol was chosen so that MLAAN's gain is beyond the spread of its seeds.
    expect(effect!.difference).toBeLessThan(0);
    expect(effect!.beyondSpread, describeEffect(effect!)).toBe(true);
    expect(readFileSync(join(repoRoot, 'benchmarks/demo/README.md'), 'utf8')).toContain(describeEffect(effect!));
  });

  it('is what npm run demo trains, and the demo prints the committed seeds’ spread', () => {
    const demo = readFileSync(join(repoRoot, 'scripts/demo.sh'), 'utf8');
    expect(demo).toContain('ablation --preset demo');
    expect(demo).toContain('node scripts/demo-summary.mjs "$out" benchmarks/demo/seeds');
  });
});
