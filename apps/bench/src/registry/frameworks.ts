import type { LocalLearningPlugin, TrainingMode } from '@mlaan/core';
import { type AnyHostOption, hostOption, type HostOptionValues } from './host-options.js';
import { importPluginPackage } from './import-package.js';
import { checkInfoProLambda, INFOPRO_LAMBDA_NAMES } from './infopro-lambda.js';

/** What a framework or plugin set may need to build its plugins for one configuration. */
export interface PluginBuildContext {
  network: string;
  dataset: string;
  /** Number of local modules (1 for end-to-end). */
  modules: number;
  seed: number;
  /** `paper` or `reference` (METHOD §5 profiles), for the MLAAN plugins. */
  mlaanProfile: 'paper' | 'reference';
  /** InfoPro* memory-balanced split (`--split balanced`). */
  balancedSplit: boolean;
}

/**
 * A training framework: how a backbone is split, which host plugin supplies the local losses, and
 * the host's own options. Plain objects, so that the ablation grid is data: a new host is one
 * entry here (its CLI options, defaults, checks and row labels come from `options`); its package
 * is imported on first use.
 */
export interface FrameworkDefinition<O extends Record<string, AnyHostOption> = Record<string, AnyHostOption>> {
  name: string;
  /** Row label in tables and charts. */
  label: string;
  description: string;
  /** False for end-to-end training: the network is one module and K is 1. */
  local: boolean;
  mode: TrainingMode;
  /** Epochs of METHOD §6's recipe (400; InfoPro 160). */
  paperEpochs: number;
  /** The host's package (imported on first use; recorded in results' provenance). */
  packageName?: string;
  /** The host's options: `--<name>-<option>` on the CLI, `frameworkOptions.<name>` in results. */
  options: O;
  hostPlugins(context: PluginBuildContext, options: HostOptionValues<O>): Promise<LocalLearningPlugin[]>;
  /** Before anything trains: throws a `BenchOptionError` (in the CLI's words) for a configuration the host cannot train. */
  checkConfiguration?(context: PluginBuildContext, options: HostOptionValues<O>): Promise<void>;
}

/** Keeps a framework's option types for its `hostPlugins`. */
function defineFramework<const O extends Record<string, AnyHostOption>>(definition: FrameworkDefinition<O>): FrameworkDefinition<O> {
  return definition;
}

export const FRAMEWORKS = {
  e2e: defineFramework({
    name: 'e2e',
    label: 'E2E',
    description: 'end-to-end back-propagation (the baseline; K is 1)',
    local: false,
    mode: 'simultaneous',
    paperEpochs: 400,
    options: {},
    async hostPlugins() {
      return [];
    },
  }),
  dgl: defineFramework({
    name: 'dgl',
    label: 'DGL',
    description: 'greedy local classifiers (@mlaan/dgl; head by --dgl-head, MLP-SR by default; one step over all local gradients)',
    local: true,
    // MLM's cascaded losses span several modules, which the per-module steps of 'sequential' cannot take.
    mode: 'simultaneous',
    paperEpochs: 400,
    packageName: '@mlaan/dgl',
    options: {
      head: hostOption.choice({
        // @mlaan/dgl's heads: DGL's own MLP-SR, the MLAAN authors' DGL head, GAP + Linear.
        choices: ['mlp-sr', 'mlaan', 'linear'],
        default: 'mlp-sr',
        title: 'DGL head',
        description: "DGL's auxiliary classifier: mlp-sr (DGL's own), mlaan (the MLAAN authors' DGL runs), linear (GAP + Linear)",
        label: (head) => `[${head} head]`,
        formerField: { name: 'dglHead' },
      }),
    },
    async hostPlugins(_context, options) {
      const { dgl } = await importPluginPackage('@mlaan/dgl', "Framework 'dgl'", () => import('@mlaan/dgl'));
      return [dgl({ head: options.head })];
    },
  }),
  infopro: defineFramework({
    name: 'infopro',
    label: 'InfoPro',
    description: 'InfoPro local losses: reconstruction + task head (@mlaan/infopro)',
    local: true,
    mode: 'simultaneous',
    paperEpochs: 160,
    packageName: '@mlaan/infopro',
    options: {
      task: hostOption.choice({
        choices: ['contrast', 'cross-entropy'],
        default: 'contrast',
        valueName: 'task',
        title: 'InfoPro task',
        description: 'InfoPro task loss: contrast (InfoPro paper, its λ presets) or cross-entropy (MLAAN runs, λ 5,0.5,0,0)',
        inSectionTitle: true,
        formerField: { name: 'infoproTask', inOtherFrameworks: null },
      }),
      auxHead: hostOption.choice({
        // @mlaan/infopro's auxiliary heads (the authors' --aux_net_config).
        choices: ['0c1f', '0c2f', '1c1f', '1c2f', '1c3f', '2c2f'],
        default: '1c2f',
        valueName: 'config',
        title: 'InfoPro head',
        description: "InfoPro's auxiliary head, the authors' --aux_net_config",
        label: (head) => `[${head} head]`,
        formerField: { name: 'infoproAuxHead' },
      }),
      lambda: hostOption.weights({
        names: INFOPRO_LAMBDA_NAMES,
        example: '5,0.5,0,0',
        meaning: 'reconstruction and task weights at the first and last local module',
        title: 'InfoPro λ',
        description: "InfoPro's loss weights ixx1,ixy1,ixx2,ixy2, e.g. 5,0.5,0,0 [the paper's for the K; cross-entropy 5,0.5,0,0]",
        formerField: { name: 'infoproLambda' },
      }),
    },
    async hostPlugins(context, options) {
      const { infoPro, MLAAN_LAMBDA } = await importPluginPackage('@mlaan/infopro', "Framework 'infopro'", () => import('@mlaan/infopro'));
      const given = options.lambda as readonly [number, number, number, number] | undefined;
      const auxHead = options.auxHead;
      // ImageNet has no InfoPro λ preset: the MLAAN authors' λ with cross-entropy (the
      // paper-imagenet preset also picks 0c2f heads, since 1c2f takes only the CIFAR widths).
      if (context.dataset === 'imagenet') return [infoPro({ task: 'cross-entropy', lambda: given ?? MLAAN_LAMBDA, auxHead })];
      const dataset = context.dataset as 'cifar10' | 'svhn' | 'stl10';
      // Contrastive: the InfoPro paper's λ preset for (dataset, network, K). Cross-entropy: the MLAAN
      // authors' InfoPro runs, which use λ = (5, 0.5, 0, 0) at every K.
      return options.task === 'contrast'
        ? [infoPro({ dataset, balancedMemory: context.balancedSplit, task: 'contrast', auxHead, ...(given ? { lambda: given } : {}) })]
        : [infoPro({ dataset, balancedMemory: context.balancedSplit, task: 'cross-entropy', lambda: given ?? MLAAN_LAMBDA, auxHead })];
    },
    async checkConfiguration(context, options) {
      if (options.task === 'contrast' && options.lambda === undefined) await checkInfoProLambda(context);
    },
  }),
} as const;

export type FrameworkName = keyof typeof FRAMEWORKS;
export const FRAMEWORK_NAMES = Object.keys(FRAMEWORKS) as FrameworkName[];

/** A framework's entry with its option types widened, for code that serves every framework alike. */
export function frameworkDefinition(name: FrameworkName): FrameworkDefinition {
  return FRAMEWORKS[name] as unknown as FrameworkDefinition;
}

/** The option values of each framework, by framework name (`{ dgl: { head: 'linear' } }`). */
export type FrameworkOptionValues = { [F in FrameworkName]?: Partial<HostOptionValues<(typeof FRAMEWORKS)[F]['options']>> };

/** A framework's options with its defaults where `given` has none (undefined stays for options without a default). */
export function frameworkOptionsOf(name: FrameworkName, given: Record<string, unknown> | undefined): Record<string, unknown> {
  const options = frameworkDefinition(name).options;
  return Object.fromEntries(Object.entries(options).map(([key, definition]) => [key, given?.[key] ?? definition.default]));
}
