import { frameworkDefinition } from '../registry/frameworks.js';
import { PLUGIN_SETS } from '../registry/plugin-sets.js';
import { moduleCount, optionsOfConfig } from './configuration-facts.js';
import type { RunConfig } from './settings.js';

/**
 * `DGL[mlaan head]+MLAAN`: the row label of tables and charts. An option whose host marks it
 * (a head) is named when it is not the default, so that rows say which DGL or InfoPro they are.
 */
export function methodLabel(config: Pick<RunConfig, 'framework' | 'plugins' | 'frameworkOptions'>): string {
  const definition = frameworkDefinition(config.framework);
  const options = optionsOfConfig(config);
  const marks = Object.entries(definition.options)
    .filter(([name, option]) => option.label && options[name] !== undefined && options[name] !== option.default)
    .map(([name, option]) => option.label!(options[name]))
    .join('');
  return definition.label + marks + PLUGIN_SETS[config.plugins].suffix;
}

/** `InfoPro+MLAAN K=4 seed 0 on 2 workers`: how progress lines and failures name a run. */
export function runLabel(config: RunConfig, workers = 1, exchange: 'exact' | 'delayed' = 'exact'): string {
  const K = config.K === 'per-block' ? `K=${moduleCount(config)} (per block)` : `K=${config.K}`;
  return `${methodLabel(config)} ${K} seed ${config.seed}${workers > 1 ? ` on ${workers} workers${exchange === 'delayed' ? ' (delayed exchange)' : ''}` : ''}`;
}
