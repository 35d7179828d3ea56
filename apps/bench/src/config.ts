import { createHash } from 'node:crypto';
import { availableSplits, constantSchedule, cosineWithWarmup, type LearningRateSchedule } from '@mlaan/core';
import { datasetNames } from '@mlaan/data';
import { NETWORKS } from '@mlaan/models';
import { BenchOptionError } from './errors.js';
import { FRAMEWORKS, FRAMEWORK_NAMES, type FrameworkName } from './registry/frameworks.js';
import { PLUGIN_SETS, PLUGIN_SET_NAMES, type PluginSetName } from './registry/plugin-sets.js';
import { paperRecipe, PRESETS, PRESET_NAMES, type PresetName } from './registry/presets.js';

export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'onednn', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_CHOICES)[number];
export const SCHEDULES = ['cosine-warmup', 'cosine', 'constant'] as const;
export type ScheduleName = (typeof SCHEDULES)[number];
export const SPLIT_VARIANTS = ['default', 'balanced'] as const;
export type SplitVariantName = (typeof SPLIT_VARIANTS)[number];
export const MLAAN_PROFILE_NAMES = ['paper', 'reference'] as const;
export type MlaanProfileName = (typeof MLAAN_PROFILE_NAMES)[number];
export const INFOPRO_TASKS = ['contrast', 'cross-entropy'] as const;
export type InfoProTaskName = (typeof INFOPRO_TASKS)[number];
export type KValue = number | 'per-block';

/** Everything that decides what is trained and so what the results mean. */
export interface Settings {
  frameworks: FrameworkName[];
  pluginSets: PluginSetName[];
  Ks: KValue[];
  split: SplitVariantName;
  network: string;
  dataset: string;
  seeds: number[];
  /** undefined: each framework's paper epochs (400; InfoPro 160). */
  epochs: number | undefined;
  batchSize: number;
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  augment: boolean;
  trainLimit: number | undefined;
  testLimit: number | undefined;
  evalBatchSize: number;
  mlaanProfile: MlaanProfileName;
  infoproTask: InfoProTaskName;
  /** InfoPro's λ (`--infopro-lambda`); undefined: the paper's preset (contrast) or the MLAAN runs' λ. */
  infoproLambda?: number[];
  backend: BackendName;
}

/** One configuration of a grid: JSON-safe (null, not undefined), hashed into its id. */
export interface RunConfig {
  framework: FrameworkName;
  plugins: PluginSetName;
  /** Requested K: 1 for E2E, a table K, or 'per-block'. */
  K: KValue;
  split: SplitVariantName;
  network: string;
  dataset: string;
  seed: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  schedule: ScheduleName;
  warmupEpochs: number;
  augment: boolean;
  trainLimit: number | null;
  testLimit: number | null;
  evalBatchSize: number;
  mlaanProfile: MlaanProfileName;
  /** InfoPro's task loss; null for the other frameworks, so it does not change their ids. */
  infoproTask: InfoProTaskName | null;
  /**
   * InfoPro's λ when given with --infopro-lambda; absent otherwise (not null), so that the ids of
   * configurations trained before this option existed do not change.
   */
  infoproLambda?: number[];
  backend: BackendName;
}

function defaults(dataset: string): Settings {
  return {
    frameworks: ['e2e'],
    pluginSets: ['none'],
    Ks: [4],
    split: 'default',
    network: 'resnet32',
    dataset,
    seeds: [0],
    epochs: undefined,
    batchSize: 1024,
    learningRate: 0.8,
    momentum: 0.9,
    nesterov: true,
    weightDecay: 1e-4,
    schedule: 'cosine-warmup',
    warmupEpochs: 10,
    augment: true,
    trainLimit: undefined,
    testLimit: undefined,
    evalBatchSize: 500,
    mlaanProfile: 'paper',
    infoproTask: 'contrast',
    backend: 'auto',
    ...paperRecipe(dataset),
  };
}

/**
 * Settings = defaults (METHOD §6) ← preset ← explicit options. Undefined option values are "not
 * given" and leave the layer below alone.
 */
export function resolveSettings(preset: PresetName | undefined, given: Partial<Settings>): Settings {
  if (preset !== undefined && !PRESET_NAMES.includes(preset)) {
    throw new BenchOptionError(`Unknown preset '${preset}'. Use one of: ${PRESET_NAMES.join(', ')}.`);
  }
  const presetDataset = preset ? (PRESETS[preset].settings('cifar10') as Partial<Settings>).dataset : undefined;
  const dataset = given.dataset ?? presetDataset ?? 'cifar10';
  const fromPreset = preset ? (PRESETS[preset].settings(dataset) as Partial<Settings>) : {};
  const settings: Settings = { ...defaults(dataset), ...definedOnly(fromPreset), ...definedOnly(given), dataset };
  validateSettings(settings);
  return settings;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function list<T>(values: readonly T[]): string {
  return values.map((v) => `'${String(v)}'`).join(', ');
}

function positiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new BenchOptionError(`${name} must be a positive integer, got ${value}.`);
  }
}

export function validateSettings(settings: Settings): void {
  for (const f of settings.frameworks) {
    if (!FRAMEWORK_NAMES.includes(f)) throw new BenchOptionError(`Unknown framework '${f}'. Use one of: ${list(FRAMEWORK_NAMES)}.`);
  }
  for (const p of settings.pluginSets) {
    if (!PLUGIN_SET_NAMES.includes(p)) throw new BenchOptionError(`Unknown plugin set '${p}'. Use one of: ${list(PLUGIN_SET_NAMES)}.`);
  }
  if (!Object.keys(NETWORKS).includes(settings.network)) {
    throw new BenchOptionError(`Unknown network '${settings.network}'. Use one of: ${list(Object.keys(NETWORKS))}.`);
  }
  if (!datasetNames.includes(settings.dataset as never)) {
    throw new BenchOptionError(`Unknown dataset '${settings.dataset}'. Use one of: ${list(datasetNames)}.`);
  }
  const imagenetNetwork = settings.network === 'resnet34' || settings.network === 'resnet101';
  if ((settings.dataset === 'imagenet') !== imagenetNetwork) {
    throw new BenchOptionError(
      settings.dataset === 'imagenet'
        ? `ImageNet needs an ImageNet network (resnet34 or resnet101), not '${settings.network}'.`
        : `${settings.network} is an ImageNet network; with ${settings.dataset} use resnet32 or resnet110.`,
    );
  }
  if (!SPLIT_VARIANTS.includes(settings.split)) throw new BenchOptionError(`Unknown split '${settings.split}'. Use one of: ${list(SPLIT_VARIANTS)}.`);
  if (!BACKEND_CHOICES.includes(settings.backend)) throw new BenchOptionError(`Unknown backend '${settings.backend}'. Use one of: ${list(BACKEND_CHOICES)}.`);
  if (!SCHEDULES.includes(settings.schedule)) throw new BenchOptionError(`Unknown schedule '${settings.schedule}'. Use one of: ${list(SCHEDULES)}.`);
  if (!MLAAN_PROFILE_NAMES.includes(settings.mlaanProfile)) {
    throw new BenchOptionError(`Unknown MLAAN profile '${settings.mlaanProfile}'. Use one of: ${list(MLAAN_PROFILE_NAMES)}.`);
  }
  if (!INFOPRO_TASKS.includes(settings.infoproTask)) {
    throw new BenchOptionError(`Unknown InfoPro task '${settings.infoproTask}'. Use one of: ${list(INFOPRO_TASKS)}.`);
  }
  if (settings.infoproLambda !== undefined) {
    if (!settings.frameworks.includes('infopro')) throw new BenchOptionError('--infopro-lambda applies to --framework infopro only.');
    if (settings.infoproLambda.length !== 4 || !settings.infoproLambda.every((v) => Number.isFinite(v) && v >= 0)) {
      throw new BenchOptionError(`--infopro-lambda takes four numbers >= 0 (ixx1,ixy1,ixx2,ixy2), got ${settings.infoproLambda.join(',')}.`);
    }
  }
  if (settings.frameworks.length === 0 || settings.pluginSets.length === 0 || settings.Ks.length === 0 || settings.seeds.length === 0) {
    throw new BenchOptionError('Frameworks, plugin sets, K and seeds each need at least one value.');
  }
  if (settings.frameworks.some((f) => FRAMEWORKS[f].local)) {
    const valid = availableSplits(settings.network, settings.split).filter((k) => k !== 1);
    for (const K of settings.Ks) {
      if (!valid.includes(K)) {
        throw new BenchOptionError(
          `K=${K} is not a ${settings.split === 'balanced' ? 'balanced ' : ''}split of ${settings.network}. ` +
            `Valid K for local frameworks: ${valid.join(', ') || 'none (this network has no split table; use --framework e2e)'}.`,
        );
      }
    }
  }
  for (const seed of settings.seeds) {
    if (!(Number.isInteger(seed) && seed >= 0)) throw new BenchOptionError(`Seeds must be non-negative integers, got ${seed}.`);
  }
  positiveInteger('epochs', settings.epochs);
  positiveInteger('batch size', settings.batchSize);
  positiveInteger('eval batch size', settings.evalBatchSize);
  positiveInteger('train limit', settings.trainLimit);
  positiveInteger('test limit', settings.testLimit);
  if (!(settings.learningRate > 0 && Number.isFinite(settings.learningRate))) {
    throw new BenchOptionError(`learning rate must be a positive number, got ${settings.learningRate}.`);
  }
  if (!(settings.momentum >= 0 && settings.momentum < 1)) throw new BenchOptionError(`momentum must be in [0, 1), got ${settings.momentum}.`);
  if (settings.nesterov && settings.momentum === 0) throw new BenchOptionError('Nesterov momentum needs momentum > 0: give --momentum or --no-nesterov.');
  if (!(settings.weightDecay >= 0)) throw new BenchOptionError(`weight decay must be >= 0, got ${settings.weightDecay}.`);
  if (!(Number.isInteger(settings.warmupEpochs) && settings.warmupEpochs >= 0)) {
    throw new BenchOptionError(`warm-up epochs must be a non-negative integer, got ${settings.warmupEpochs}.`);
  }
}

/**
 * The grid as configurations: frameworks × plugin sets × K × seeds. E2E takes K = 1 and only the
 * plugin set 'none' (MLM and LAM need local modules); such pairs are left out of a grid.
 */
export function expandGrid(settings: Settings): RunConfig[] {
  const configs: RunConfig[] = [];
  const seen = new Set<string>();
  for (const framework of settings.frameworks) {
    const definition = FRAMEWORKS[framework];
    for (const plugins of settings.pluginSets) {
      if (PLUGIN_SETS[plugins].requiresLocal && !definition.local) continue;
      for (const requestedK of settings.Ks) {
        const K: KValue = definition.local ? requestedK : 1;
        for (const seed of settings.seeds) {
          const config: RunConfig = {
            framework,
            plugins,
            K,
            split: settings.split,
            network: settings.network,
            dataset: settings.dataset,
            seed,
            epochs: settings.epochs ?? definition.paperEpochs,
            batchSize: settings.batchSize,
            learningRate: settings.learningRate,
            momentum: settings.momentum,
            nesterov: settings.nesterov,
            weightDecay: settings.weightDecay,
            schedule: settings.schedule,
            warmupEpochs: settings.warmupEpochs,
            augment: settings.augment,
            trainLimit: settings.trainLimit ?? null,
            testLimit: settings.testLimit ?? null,
            evalBatchSize: settings.evalBatchSize,
            mlaanProfile: settings.mlaanProfile,
            infoproTask: framework === 'infopro' ? settings.infoproTask : null,
            ...(framework === 'infopro' && settings.infoproLambda ? { infoproLambda: [...settings.infoproLambda] } : {}),
            backend: settings.backend,
          };
          const id = configId(config);
          if (seen.has(id)) continue;
          seen.add(id);
          configs.push(config);
        }
      }
    }
  }
  if (configs.length === 0) {
    throw new BenchOptionError(
      'The grid is empty: MLM, LAM and MLAAN need local modules, so with only --framework e2e use --plugins none (or add dgl/infopro).',
    );
  }
  return configs;
}

/** JSON with sorted keys, so that equal configurations hash equally whatever their key order. */
export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Folder name of a configuration: readable fields, then a hash of all of them, so that a rerun
 * with any setting changed (epochs, lr, limits, backend) never picks up another run's results.
 */
export function configId(config: RunConfig): string {
  const hash = createHash('sha256').update(stableStringify(config)).digest('hex').slice(0, 8);
  return `${config.dataset}-${config.network}-${config.framework}-${config.plugins}-k${config.K}-s${config.seed}-${hash}`;
}

/** `InfoPro+MLAAN`: the row label of tables and charts. */
export function methodLabel(config: Pick<RunConfig, 'framework' | 'plugins'>): string {
  return FRAMEWORKS[config.framework].label + PLUGIN_SETS[config.plugins].suffix;
}

export function learningRateSchedule(config: RunConfig): LearningRateSchedule {
  switch (config.schedule) {
    case 'constant':
      return constantSchedule(config.learningRate);
    case 'cosine':
      return cosineWithWarmup({ initialLearningRate: config.learningRate, epochs: config.epochs, warmupEpochs: 0 });
    case 'cosine-warmup':
      return cosineWithWarmup({ initialLearningRate: config.learningRate, epochs: config.epochs, warmupEpochs: config.warmupEpochs });
  }
}
