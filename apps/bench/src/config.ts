import { createHash } from 'node:crypto';
import { availableSplits, constantSchedule, cosineWithWarmup, type LearningRateSchedule } from '@mlaan/core';
import { datasetNames } from '@mlaan/data';
import { NETWORKS } from '@mlaan/models';
import { BenchOptionError } from './errors.js';
import { FRAMEWORKS, FRAMEWORK_NAMES, type FrameworkName } from './registry/frameworks.js';
import { PLUGIN_SETS, PLUGIN_SET_NAMES, type PluginSetName } from './registry/plugin-sets.js';
import { PRESETS, PRESET_NAMES, type PresetName } from './registry/presets.js';
import {
  BACKEND_CHOICES,
  type BackendName,
  defaultSettings,
  DGL_HEAD_NAMES,
  type DglHeadChoice,
  type GridRow,
  INFOPRO_AUX_HEAD_NAMES,
  INFOPRO_TASKS,
  type InfoProAuxHeadChoice,
  type InfoProTaskName,
  type KValue,
  MLAAN_PROFILE_NAMES,
  type MlaanProfileName,
  type Recipe,
  SCHEDULES,
  type ScheduleName,
  type Settings,
  SPLIT_VARIANTS,
  type SplitVariantName,
} from './settings.js';

export {
  BACKEND_CHOICES,
  DGL_HEAD_NAMES,
  INFOPRO_AUX_HEAD_NAMES,
  INFOPRO_TASKS,
  MLAAN_PROFILE_NAMES,
  SCHEDULES,
  SPLIT_VARIANTS,
  type BackendName,
  type DglHeadChoice,
  type InfoProAuxHeadChoice,
  type InfoProTaskName,
  type KValue,
  type MlaanProfileName,
  type Recipe,
  type ScheduleName,
  type Settings,
  type SplitVariantName,
};

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
  /** InfoPro's task loss; null for the other frameworks, so it does not change their ids. */
  infoproTask: InfoProTaskName | null;
  /**
   * InfoPro's λ when given with --infopro-lambda; absent otherwise (not null), so that the ids of
   * configurations trained before this option existed do not change.
   */
  infoproLambda?: number[];
  /** DGL's auxiliary head; absent for the other frameworks (so their ids do not change). */
  dglHead?: DglHeadChoice;
  /** InfoPro's auxiliary head; absent for the other frameworks. */
  infoproAuxHead?: InfoProAuxHeadChoice;
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
  const settings: Settings = { ...defaultSettings(dataset), ...definedOnly(fromPreset), ...definedOnly(given), dataset };
  // Naming the grid's axes replaces a preset's own row list.
  if (given.frameworks !== undefined || given.pluginSets !== undefined || given.Ks !== undefined) settings.rows = given.rows;
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
  if (!DGL_HEAD_NAMES.includes(settings.dglHead)) throw new BenchOptionError(`Unknown DGL head '${settings.dglHead}'. Use one of: ${list(DGL_HEAD_NAMES)}.`);
  if (!INFOPRO_AUX_HEAD_NAMES.includes(settings.infoproAuxHead)) {
    throw new BenchOptionError(`Unknown InfoPro auxiliary head '${settings.infoproAuxHead}'. Use one of: ${list(INFOPRO_AUX_HEAD_NAMES)}.`);
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

/** The grid's rows: the preset's own list, or frameworks × plugin sets × K. */
function gridRows(settings: Settings): GridRow[] {
  if (settings.rows) return settings.rows;
  const rows: GridRow[] = [];
  for (const framework of settings.frameworks) {
    for (const plugins of settings.pluginSets) {
      for (const K of settings.Ks) rows.push({ framework, plugins, K });
    }
  }
  return rows;
}

function configOf(settings: Settings, row: GridRow, seed: number): RunConfig {
  const { framework, plugins } = row;
  const definition = FRAMEWORKS[framework];
  return {
    framework,
    plugins,
    K: definition.local ? row.K : 1,
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
    // Per-framework heads stay out of the other frameworks' configurations (and ids).
    ...(framework === 'dgl' ? { dglHead: settings.dglHead } : {}),
    ...(framework === 'infopro' ? { infoproAuxHead: settings.infoproAuxHead } : {}),
    backend: settings.backend,
  };
}

/**
 * The grid as configurations. Without a preset's row list: frameworks × plugin sets × K × seeds,
 * each row's seeds together. With one: its rows in order, all rows of a seed before the next seed
 * (so a grid cut short has compared every row once). E2E takes K = 1 and only the plugin set
 * 'none' (MLM and LAM need local modules); such pairs are left out of a grid.
 */
export function expandGrid(settings: Settings): RunConfig[] {
  const rows = gridRows(settings).filter((row) => !(PLUGIN_SETS[row.plugins].requiresLocal && !FRAMEWORKS[row.framework].local));
  const cells = settings.rows
    ? settings.seeds.flatMap((seed) => rows.map((row) => [row, seed] as const))
    : rows.flatMap((row) => settings.seeds.map((seed) => [row, seed] as const));
  const configs: RunConfig[] = [];
  const seen = new Set<string>();
  for (const [row, seed] of cells) {
    const config = configOf(settings, row, seed);
    const id = configId(config);
    if (seen.has(id)) continue;
    seen.add(id);
    configs.push(config);
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

/**
 * `DGL[mlaan head]+MLAAN`: the row label of tables and charts. A head other than the framework's
 * default is named, so that rows say which DGL or InfoPro they are.
 */
export function methodLabel(config: Pick<RunConfig, 'framework' | 'plugins' | 'dglHead' | 'infoproAuxHead'>): string {
  const head =
    config.framework === 'dgl' && config.dglHead && config.dglHead !== 'mlp-sr'
      ? `[${config.dglHead} head]`
      : config.framework === 'infopro' && config.infoproAuxHead && config.infoproAuxHead !== '1c2f'
        ? `[${config.infoproAuxHead} head]`
        : '';
  return FRAMEWORKS[config.framework].label + head + PLUGIN_SETS[config.plugins].suffix;
}

/**
 * Why a run would not train at the learning rate its settings name: a cosine warm-up that lasts as
 * long as the run (or longer) never reaches the initial rate, and METHOD §6's cosine over a single
 * epoch trains at 0. undefined when the schedule is fine.
 */
export function warmupWarning(config: Pick<RunConfig, 'schedule' | 'warmupEpochs' | 'epochs' | 'learningRate'>, peakLearningRate: number): string | undefined {
  const peak = peakLearningRate.toPrecision(3);
  if (config.schedule === 'cosine-warmup' && config.warmupEpochs > 0 && config.epochs <= config.warmupEpochs) {
    return (
      `${config.epochs} epoch(s) with ${config.warmupEpochs} warm-up epochs: the run never leaves warm-up and its learning rate ` +
      `peaks at ${peak}, not ${config.learningRate}. Give --warmup-epochs 0 or --schedule cosine-annealing, or more --epochs.`
    );
  }
  if (peakLearningRate < 0.5 * config.learningRate) {
    return (
      `with --schedule ${config.schedule} over ${config.epochs} epoch(s) the learning rate peaks at ${peak}, not ${config.learningRate} ` +
      '(METHOD §6’s cosine trains its last epoch at 0). Give --schedule cosine-annealing, or more --epochs.'
    );
  }
  return undefined;
}

export function learningRateSchedule(config: RunConfig): LearningRateSchedule {
  switch (config.schedule) {
    case 'constant':
      return constantSchedule(config.learningRate);
    case 'cosine':
      return cosineWithWarmup({ initialLearningRate: config.learningRate, epochs: config.epochs, warmupEpochs: 0 });
    case 'cosine-warmup':
      return cosineWithWarmup({ initialLearningRate: config.learningRate, epochs: config.epochs, warmupEpochs: config.warmupEpochs });
    case 'cosine-annealing':
      return (epoch: number) => 0.5 * config.learningRate * (1 + Math.cos((Math.PI * epoch) / config.epochs));
  }
}
