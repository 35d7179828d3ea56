import { BenchOptionError } from '../errors.js';
import { frameworkDefinition, frameworkOptionsOf } from '../registry/frameworks.js';
import { PLUGIN_SETS } from '../registry/plugin-sets.js';
import { configId } from './configuration-id.js';
import { type GridRow, type Recipe, RECIPE_KEYS, type RunConfig, type Settings } from './settings.js';

/** The grid's rows: the preset's own list, or frameworks × plugin sets × K. */
function gridRows(settings: Settings): GridRow[] {
  if (settings.rows) return settings.rows;
  const rows: GridRow[] = [];
  for (const framework of settings.frameworks) {
    for (const plugins of settings.pluginSets) {
      for (const K of settings.Ks) rows.push({ framework, plugins, K });
    }
  }
  return rows;
}

function configOf(settings: Settings, row: GridRow, seed: number): RunConfig {
  const { framework, plugins } = row;
  const definition = frameworkDefinition(framework);
  const recipe = Object.fromEntries(RECIPE_KEYS.map((key) => [key, settings[key]])) as unknown as Recipe;
  // Only this framework's options, so that the other frameworks' configurations (and ids) do not change.
  const options = Object.fromEntries(
    Object.entries(frameworkOptionsOf(framework, settings.frameworkOptions[framework])).filter(([, value]) => value !== undefined),
  );
  return {
    ...recipe,
    framework,
    plugins,
    K: definition.local ? row.K : 1,
    seed,
    epochs: settings.epochs ?? definition.paperEpochs,
    trainLimit: settings.trainLimit ?? null,
    testLimit: settings.testLimit ?? null,
    ...(Object.keys(options).length > 0 ? { frameworkOptions: { [framework]: options } } : {}),
  };
}

/**
 * The grid as configurations. Without a preset's row list: frameworks × plugin sets × K × seeds,
 * each row's seeds together. With one: its rows in order, all rows of a seed before the next seed
 * (so a grid cut short has compared every row once). E2E takes K = 1 and only the plugin set
 * 'none' (MLM and LAM need local modules); such pairs are left out of a grid.
 */
export function expandGrid(settings: Settings): RunConfig[] {
  const rows = gridRows(settings).filter((row) => !(PLUGIN_SETS[row.plugins].requiresLocal && !frameworkDefinition(row.framework).local));
  const cells = settings.rows
    ? settings.seeds.flatMap((seed) => rows.map((row) => [row, seed] as const))
    : rows.flatMap((row) => settings.seeds.map((seed) => [row, seed] as const));
  const configs: RunConfig[] = [];
  const seen = new Set<string>();
  for (const [row, seed] of cells) {
    const config = configOf(settings, row, seed);
    const id = configId(config);
    if (seen.has(id)) continue;
    seen.add(id);
    configs.push(config);
  }
  if (configs.length === 0) {
    throw new BenchOptionError(
      'The grid is empty: MLM, LAM and MLAAN need local modules, so with only --framework e2e use --plugins none (or add dgl/infopro).',
    );
  }
  return configs;
}
