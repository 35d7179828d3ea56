import type { LocalLearningPlugin } from '@mlaan/core';
import { importPluginPackage } from './import-package.js';
import type { PluginBuildContext } from './frameworks.js';

/**
 * Plugins added after a framework's host: the ablation's second axis. `mlm` and `lam` alone are
 * METHOD §5's ablations (LAM alone sits on the independent branch); `mlaan` is both.
 */
export interface PluginSetDefinition {
  name: string;
  /** Appended to the framework label: `InfoPro+MLAAN`. */
  suffix: string;
  description: string;
  /** True when the set only makes sense with local modules (not with E2E). */
  requiresLocal: boolean;
  /** The packages its plugins come from (imported on first use; recorded in results' provenance). */
  packageNames: readonly string[];
  plugins(context: PluginBuildContext): Promise<LocalLearningPlugin[]>;
}

export const PLUGIN_SETS = {
  none: {
    name: 'none',
    suffix: '',
    description: "the framework's own losses only",
    requiresLocal: false,
    packageNames: [],
    async plugins() {
      return [];
    },
  },
  mlm: {
    name: 'mlm',
    suffix: '+MLM',
    description: 'multilaminar local modules: cascaded losses over windows of kc modules, kc = min(3, K) (@mlaan/mlm)',
    requiresLocal: true,
    packageNames: ['@mlaan/mlm'],
    async plugins(context) {
      const { mlm } = await importPluginPackage('@mlaan/mlm', "Plugin set 'mlm'", () => import('@mlaan/mlm'));
      // The papers' grids include K = 2, which the profile's window of 3 cannot span: MLM clips it.
      return [mlm({ profile: context.mlaanProfile, clipWindowToModules: true })];
    },
  },
  lam: {
    name: 'lam',
    suffix: '+LAM',
    description: 'leap augmented modules: leap nets with EMA twins in front of the local heads (@mlaan/lam)',
    requiresLocal: true,
    packageNames: ['@mlaan/lam'],
    async plugins(context) {
      const { lam } = await importPluginPackage('@mlaan/lam', "Plugin set 'lam'", () => import('@mlaan/lam'));
      return [lam({ profile: context.mlaanProfile })];
    },
  },
  mlaan: {
    name: 'mlaan',
    suffix: '+MLAAN',
    description: 'MLM + LAM (@mlaan/mlaan withMLAAN())',
    requiresLocal: true,
    packageNames: ['@mlaan/mlaan', '@mlaan/mlm', '@mlaan/lam'],
    async plugins(context) {
      const { withMLAAN } = await importPluginPackage('@mlaan/mlaan', "Plugin set 'mlaan'", () => import('@mlaan/mlaan'));
      return [...withMLAAN({ profile: context.mlaanProfile, clipWindowToModules: true })];
    },
  },
} as const satisfies Record<string, PluginSetDefinition>;

export type PluginSetName = keyof typeof PLUGIN_SETS;
export const PLUGIN_SET_NAMES = Object.keys(PLUGIN_SETS) as PluginSetName[];
