import { getSplit } from '@mlaan/core';
import { frameworkDefinition, frameworkOptionsOf, type PluginBuildContext } from '../registry/frameworks.js';
import type { RunConfig } from './settings.js';

// What follows from a configuration without training it: its cuts and module count (the split
// tables), its host's options with the defaults filled in, and what its plugins are built from.

/** The cut points of a configuration: none for end-to-end training. */
export function splitOf(config: Pick<RunConfig, 'framework' | 'network' | 'K' | 'split'>) {
  return frameworkDefinition(config.framework).local ? getSplit({ net: config.network, K: config.K, variant: config.split }) : [];
}

/** Module count of a configuration, from the split tables. */
export function moduleCount(config: Pick<RunConfig, 'framework' | 'network' | 'K' | 'split'>): number {
  return splitOf(config).length + 1;
}

/** A configuration's host options with the host's defaults where it has none (older results may lack some). */
export function optionsOfConfig(config: Pick<RunConfig, 'framework' | 'frameworkOptions'>): Record<string, unknown> {
  return frameworkOptionsOf(config.framework, config.frameworkOptions?.[config.framework]);
}

/** What the framework and plugin set of a configuration build their plugins from. */
export function pluginBuildContext(config: RunConfig): PluginBuildContext {
  return {
    network: config.network,
    dataset: config.dataset,
    modules: moduleCount(config),
    seed: config.seed,
    mlaanProfile: config.mlaanProfile,
    balancedSplit: config.split === 'balanced',
  };
}
