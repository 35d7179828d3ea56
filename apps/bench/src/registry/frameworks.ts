import type { LocalLearningPlugin, TrainingMode } from '@mlaan/core';
import { importPluginPackage } from './import-package.js';

/** What a framework or plugin set may need to build its plugins for one configuration. */
export interface PluginBuildContext {
  network: string;
  dataset: string;
  /** Number of local modules (1 for end-to-end). */
  modules: number;
  seed: number;
  /** `paper` or `reference` (METHOD §5 profiles), for the MLAAN plugins. */
  mlaanProfile: 'paper' | 'reference';
  /** InfoPro* memory-balanced split (selects InfoPro's λ preset). */
  balancedSplit: boolean;
  /** InfoPro's task loss: the paper's supervised contrastive loss, or cross-entropy as in the MLAAN runs. */
  infoproTask: 'contrast' | 'cross-entropy';
  /** InfoPro's λ from --infopro-lambda; undefined: the task's default. */
  infoproLambda?: readonly number[];
  /** DGL's auxiliary classifier (`@mlaan/dgl`'s `head` option). */
  dglHead: 'mlp-sr' | 'mlaan' | 'linear';
  /** InfoPro's auxiliary head (`@mlaan/infopro`'s `auxHead`, the authors' `--aux_net_config`). */
  infoproAuxHead: '0c1f' | '0c2f' | '1c1f' | '1c2f' | '1c3f' | '2c2f';
}

/**
 * A training framework: how a backbone is split and which host plugin supplies the local losses.
 * Plain objects so that the ablation grid is data; the host package is imported on first use.
 */
export interface FrameworkDefinition {
  name: string;
  /** Row label in tables and charts. */
  label: string;
  description: string;
  /** False for end-to-end training: the network is one module and K is 1. */
  local: boolean;
  mode: TrainingMode;
  /** Epochs of METHOD §6's recipe (400; InfoPro 160). */
  paperEpochs: number;
  packageName?: string;
  hostPlugins(context: PluginBuildContext): Promise<LocalLearningPlugin[]>;
}

export const FRAMEWORKS = {
  e2e: {
    name: 'e2e',
    label: 'E2E',
    description: 'end-to-end back-propagation (the baseline; K is 1)',
    local: false,
    mode: 'simultaneous',
    paperEpochs: 400,
    async hostPlugins() {
      return [];
    },
  },
  dgl: {
    name: 'dgl',
    label: 'DGL',
    description: 'greedy local classifiers (@mlaan/dgl; head by --dgl-head, MLP-SR by default; one step over all local gradients)',
    local: true,
    // MLM's cascaded losses span several modules, which the per-module steps of 'sequential' cannot take.
    mode: 'simultaneous',
    paperEpochs: 400,
    packageName: '@mlaan/dgl',
    async hostPlugins(context) {
      const { dgl } = await importPluginPackage('@mlaan/dgl', "Framework 'dgl'", () => import('@mlaan/dgl'));
      return [dgl({ head: context.dglHead })];
    },
  },
  infopro: {
    name: 'infopro',
    label: 'InfoPro',
    description: 'InfoPro local losses: reconstruction + task head (@mlaan/infopro)',
    local: true,
    mode: 'simultaneous',
    paperEpochs: 160,
    packageName: '@mlaan/infopro',
    async hostPlugins(context) {
      const { infoPro, MLAAN_LAMBDA } = await importPluginPackage('@mlaan/infopro', "Framework 'infopro'", () => import('@mlaan/infopro'));
      const given = context.infoproLambda as readonly [number, number, number, number] | undefined;
      // ImageNet has no InfoPro λ preset: the MLAAN authors' λ with cross-entropy (the
      // paper-imagenet preset also picks 0c2f heads, since 1c2f takes only the CIFAR widths).
      if (context.dataset === 'imagenet') return [infoPro({ task: 'cross-entropy', lambda: given ?? MLAAN_LAMBDA, auxHead: context.infoproAuxHead })];
      const dataset = context.dataset as 'cifar10' | 'svhn' | 'stl10';
      // Contrastive: the InfoPro paper's λ preset for (dataset, network, K). Cross-entropy: the MLAAN
      // authors' InfoPro runs, which use λ = (5, 0.5, 0, 0) at every K.
      return context.infoproTask === 'contrast'
        ? [infoPro({ dataset, balancedMemory: context.balancedSplit, task: 'contrast', auxHead: context.infoproAuxHead, ...(given ? { lambda: given } : {}) })]
        : [infoPro({ dataset, balancedMemory: context.balancedSplit, task: 'cross-entropy', lambda: given ?? MLAAN_LAMBDA, auxHead: context.infoproAuxHead })];
    },
  },
} as const satisfies Record<string, FrameworkDefinition>;

export type FrameworkName = keyof typeof FRAMEWORKS;
export const FRAMEWORK_NAMES = Object.keys(FRAMEWORKS) as FrameworkName[];
