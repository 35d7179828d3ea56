import type { FrameworkName } from './registry/frameworks.js';
import type { PluginSetName } from './registry/plugin-sets.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'onednn', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_CHOICES)[number];
/**
 * Per-epoch learning-rate schedules. `cosine-warmup` and `cosine` are METHOD §6's (the authors'
 * train.py, cosine evaluated at epochs 1..E: the last epoch trains at lr 0); `cosine-annealing` is
 * PyTorch's CosineAnnealingLR stepped per epoch (evaluated at 0..E-1: the first epoch trains at lr,
 * none at 0), which short protocols want.
 */
export const SCHEDULES = ['cosine-warmup', 'cosine', 'cosine-annealing', 'constant'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];
export const SPLIT_VARIANTS = ['default', 'balanced'] as const;
export type SplitVariantName = (typeof SPLIT_VARIANTS)[number];
export const MLAAN_PROFILE_NAMES = ['paper', 'reference'] as const;
export type MlaanProfileName = (typeof MLAAN_PROFILE_NAMES)[number];
export const INFOPRO_TASKS = ['contrast', 'cross-entropy'] as const;
export type InfoProTaskName = (typeof INFOPRO_TASKS)[number];
/** `@mlaan/dgl`'s heads: DGL's own MLP-SR, the MLAAN authors' DGL head, GAP + Linear. */
export const DGL_HEAD_NAMES = ['mlp-sr', 'mlaan', 'linear'] as const;
export type DglHeadChoice = (typeof DGL_HEAD_NAMES)[number];
/** `@mlaan/infopro`'s auxiliary heads (the authors' `--aux_net_config`). */
export const INFOPRO_AUX_HEAD_NAMES = ['0c1f', '0c2f', '1c1f', '1c2f', '1c3f', '2c2f'] as const;
export type InfoProAuxHeadChoice = (typeof INFOPRO_AUX_HEAD_NAMES)[number];
export type KValue = number | 'per-block';

/** One row of a preset's explicit grid: trained once per seed. */
export interface GridRow {
  framework: FrameworkName;
  plugins: PluginSetName;
  K: KValue;
}

/** What a grid's configurations share: the network, data and optimiser recipe. */
export interface Recipe {
  split: SplitVariantName;
  network: string;
  dataset: string;
  batchSize: number;
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  augment: boolean;
  evalBatchSize: number;
  mlaanProfile: MlaanProfileName;
  backend: BackendName;
}

/** Everything that decides what is trained and so what the results mean. */
export interface Settings extends Recipe {
  frameworks: FrameworkName[];
  pluginSets: PluginSetName[];
  Ks: KValue[];
  seeds: number[];
  /** undefined: each framework's paper epochs (400; InfoPro 160). */
  epochs: number | undefined;
  trainLimit: number | undefined;
  testLimit: number | undefined;
  infoproTask: InfoProTaskName;
  /** InfoPro's λ (`--infopro-lambda`); undefined: the paper's preset (contrast) or the MLAAN runs' λ. */
  infoproLambda?: number[];
  dglHead: DglHeadChoice;
  infoproAuxHead: InfoProAuxHeadChoice;
  /**
   * A preset's own list of rows, in the order they train (seed by seed), instead of the cross
   * product frameworks × plugin sets × K. Options that name frameworks, plugin sets or K drop it.
   */
  rows: GridRow[] | undefined;
}

/**
 * METHOD §6, the optimiser and schedule of the papers' runs: the one place these numbers are
 * written. STL-10 trains with batch 128 / lr 0.1, the other datasets with batch 1024 / lr 0.8.
 */
export function paperRecipe(dataset: string) {
  const stl = dataset === 'stl10';
  return {
    batchSize: stl ? 128 : 1024,
    learningRate: stl ? 0.1 : 0.8,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    schedule: 'cosine-warmup',
    warmupEpochs: 10,
    augment: true,
    // undefined: each framework's own (400 epochs; InfoPro 160).
    epochs: undefined,
  } satisfies Partial<Settings>;
}

/** What a run uses when neither a preset nor an option says otherwise: the paper's recipe on ResNet-32. */
export function defaultSettings(dataset: string): Settings {
  return {
    frameworks: ['e2e'],
    pluginSets: ['none'],
    Ks: [4],
    split: 'default',
    network: 'resnet32',
    dataset,
    seeds: [0],
    trainLimit: undefined,
    testLimit: undefined,
    evalBatchSize: 500,
    mlaanProfile: 'paper',
    infoproTask: 'contrast',
    dglHead: 'mlp-sr',
    infoproAuxHead: '1c2f',
    backend: 'auto',
    rows: undefined,
    ...paperRecipe(dataset),
  };
}
