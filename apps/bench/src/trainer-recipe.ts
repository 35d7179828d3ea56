// How the bench builds a trainer from a run configuration, as a module of its own: the sequential
// run calls it directly, and each worker of a pipelined run (`--workers`) imports it by URL and
// calls it with the same JSON options, so every worker builds the same model from the same seed.
import { getSplit, type TrainerOptions } from '@mlaan/core';
import { createNetwork } from '@mlaan/models';
import type { RunConfig } from './config.js';
import { FRAMEWORKS, type PluginBuildContext } from './registry/frameworks.js';
import { PLUGIN_SETS } from './registry/plugin-sets.js';

export interface BenchRecipeOptions {
  config: RunConfig;
  /** Classes of the training set. */
  classes: number;
}

/** The cut points of a configuration: none for end-to-end training. */
export function splitOf(config: RunConfig) {
  return FRAMEWORKS[config.framework].local ? getSplit({ net: config.network, K: config.K, variant: config.split }) : [];
}

/** The trainer options of a configuration (the caller owns the backbone). */
export async function benchTrainerOptions({ config, classes }: BenchRecipeOptions): Promise<TrainerOptions> {
  const backbone = createNetwork(config.network, { classes, seed: config.seed });
  try {
    const framework = FRAMEWORKS[config.framework];
    const cuts = splitOf(config);
    const context: PluginBuildContext = {
      network: config.network,
      dataset: config.dataset,
      modules: cuts.length + 1,
      seed: config.seed,
      mlaanProfile: config.mlaanProfile,
      balancedSplit: config.split === 'balanced',
      infoproTask: config.infoproTask ?? 'contrast',
      infoproLambda: config.infoproLambda,
      dglHead: config.dglHead ?? 'mlp-sr',
      infoproAuxHead: config.infoproAuxHead ?? '1c2f',
    };
    const plugins = [...(await framework.hostPlugins(context)), ...(await PLUGIN_SETS[config.plugins].plugins(context))];
    return {
      backbone,
      cuts,
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

/** This module's URL for a pipeline recipe: the built file once built, this source under tests. */
export function benchRecipeModule(): string {
  const here = import.meta.url;
  return here.endsWith('.ts') ? here : new URL('./trainer-recipe.js', here).href;
}

export default benchTrainerOptions;
