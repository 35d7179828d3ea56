// How the bench builds a trainer from a run configuration, as a module of its own: the sequential
// run calls it directly, and each worker of a pipelined run (`--workers`) imports it by URL and
// calls it with the same JSON options, so every worker builds the same model from the same seed.
import type { TrainerOptions } from '@mlaan/core';
import { createNetwork } from '@mlaan/models';
import { optionsOfConfig, pluginBuildContext, splitOf } from '../configuration/configuration-facts.js';
import type { RunConfig } from '../configuration/settings.js';
import { frameworkDefinition } from '../registry/frameworks.js';
import { PLUGIN_SETS } from '../registry/plugin-sets.js';

export interface BenchRecipeOptions {
  config: RunConfig;
  /** Classes of the training set. */
  classes: number;
}

/** The trainer options of a configuration (the caller owns the backbone). */
export async function benchTrainerOptions({ config, classes }: BenchRecipeOptions): Promise<TrainerOptions> {
  const backbone = createNetwork(config.network, { classes, seed: config.seed });
  try {
    const framework = frameworkDefinition(config.framework);
    const context = pluginBuildContext(config);
    const plugins = [...(await framework.hostPlugins(context, optionsOfConfig(config))), ...(await PLUGIN_SETS[config.plugins].plugins(context))];
    return {
      backbone,
      cuts: splitOf(config),
      plugins,
      mode: framework.mode,
      seed: config.seed,
      optimizer: { learningRate: config.learningRate, momentum: config.momentum, nesterov: config.nesterov, weightDecay: config.weightDecay },
    };
  } catch (error) {
    backbone.dispose();
    throw error;
  }
}

/** This module's URL for a pipeline recipe: the built file once built (tsup writes it as dist/trainer-recipe.js), this source under tests. */
export function benchRecipeModule(): string {
  const here = import.meta.url;
  return here.endsWith('.ts') ? here : new URL('./trainer-recipe.js', here).href;
}

export default benchTrainerOptions;
