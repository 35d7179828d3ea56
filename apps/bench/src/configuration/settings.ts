import type { FrameworkName, FrameworkOptionValues } from '../registry/frameworks.js';
import type { PluginSetName } from '../registry/plugin-sets.js';

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
export type KValue = number | 'per-block';

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
    schedule: 'cosine-warmup' as ScheduleName,
    warmupEpochs: 10,
    augment: true,
  };
}

/**
 * What every configuration of a grid shares and copies as it is: the network, data, optimiser and
 * backend. The one place its fields are spelled, with their defaults (the paper's recipe on
 * ResNet-32); `Recipe` is this object's type, and a configuration copies exactly these keys.
 */
export function defaultRecipe(dataset: string) {
  return {
    /** Split table: `balanced` = InfoPro*'s memory-balanced splits. */
    split: 'default' as SplitVariantName,
    network: 'resnet32',
    dataset,
    ...paperRecipe(dataset),
    evalBatchSize: 500,
    /** `paper` or `reference` (METHOD §5 profiles), for the MLAAN plugins. */
    mlaanProfile: 'paper' as MlaanProfileName,
    backend: 'auto' as BackendName,
  };
}

export type Recipe = ReturnType<typeof defaultRecipe>;
export const RECIPE_KEYS = Object.keys(defaultRecipe('cifar10')) as (keyof Recipe)[];

/** One row of a preset's explicit grid: trained once per seed. */
export interface GridRow {
  framework: FrameworkName;
  plugins: PluginSetName;
  K: KValue;
}

/** One configuration of a grid: JSON-safe (null, not undefined), hashed into its id. */
export interface RunConfig extends Recipe {
  framework: FrameworkName;
  plugins: PluginSetName;
  /** Requested K: 1 for E2E, a table K, or 'per-block'. */
  K: KValue;
  seed: number;
  epochs: number;
  trainLimit: number | null;
  testLimit: number | null;
  /**
   * The host's own options, under its framework's name (`{ dgl: { head: 'linear' } }`), defaults
   * filled in; absent for a framework without options. An option without a value (InfoPro's λ
   * when not given) is left out.
   */
  frameworkOptions?: Partial<Record<FrameworkName, Record<string, unknown>>>;
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
  /** The hosts' own options as given (preset, then options), by framework; each configuration adds its host's defaults. */
  frameworkOptions: FrameworkOptionValues;
  /**
   * A preset's own list of rows, in the order they train (seed by seed), instead of the cross
   * product frameworks × plugin sets × K. Options that name frameworks, plugin sets or K drop it.
   */
  rows: GridRow[] | undefined;
}

/** What a run uses when neither a preset nor an option says otherwise: the paper's recipe on ResNet-32. */
export function defaultSettings(dataset: string): Settings {
  return {
    ...defaultRecipe(dataset),
    frameworks: ['e2e'],
    pluginSets: ['none'],
    Ks: [4],
    seeds: [0],
    // undefined: each framework's own (400 epochs; InfoPro 160).
    epochs: undefined,
    trainLimit: undefined,
    testLimit: undefined,
    frameworkOptions: {},
    rows: undefined,
  };
}
