import { availableSplits } from '@mlaan/core';
import { datasetNames } from '@mlaan/data';
import { NETWORKS } from '@mlaan/models';
import { BenchOptionError } from '../errors.js';
import { FRAMEWORK_NAMES, frameworkDefinition, type FrameworkName, type FrameworkOptionValues } from '../registry/frameworks.js';
import { hostOptionFlag } from '../registry/host-options.js';
import { PLUGIN_SET_NAMES } from '../registry/plugin-sets.js';
import { PRESETS, PRESET_NAMES, type PresetName } from '../registry/presets.js';
import { BACKEND_CHOICES, defaultSettings, MLAAN_PROFILE_NAMES, SCHEDULES, type Settings, SPLIT_VARIANTS } from './settings.js';

/**
 * Settings = defaults (METHOD §6) ← preset ← explicit options. Undefined option values are "not
 * given" and leave the layer below alone; a host's options layer option by option.
 */
export function resolveSettings(preset: PresetName | undefined, given: Partial<Settings>): Settings {
  if (preset !== undefined && !PRESET_NAMES.includes(preset)) {
    throw new BenchOptionError(`Unknown preset '${preset}'. Use one of: ${PRESET_NAMES.join(', ')}.`);
  }
  const presetDataset = preset ? (PRESETS[preset].settings('cifar10') as Partial<Settings>).dataset : undefined;
  const dataset = given.dataset ?? presetDataset ?? 'cifar10';
  const fromPreset = preset ? (PRESETS[preset].settings(dataset) as Partial<Settings>) : {};
  const defaults = defaultSettings(dataset);
  const settings: Settings = {
    ...defaults,
    ...definedOnly(fromPreset),
    ...definedOnly(given),
    dataset,
    frameworkOptions: mergeFrameworkOptions(defaults.frameworkOptions, fromPreset.frameworkOptions, given.frameworkOptions),
  };
  // Naming the grid's axes replaces a preset's own row list.
  if (given.frameworks !== undefined || given.pluginSets !== undefined || given.Ks !== undefined) settings.rows = given.rows;
  validateSettings(settings);
  // An option of a host that the grid does not train would be silently ignored.
  for (const [framework, options] of Object.entries(given.frameworkOptions ?? {}) as [FrameworkName, Record<string, unknown>][]) {
    const named = Object.keys(definedOnly(options));
    if (named.length > 0 && !settings.frameworks.includes(framework)) {
      throw new BenchOptionError(`${hostOptionFlag(framework, named[0]!)} applies to --framework ${framework} only.`);
    }
  }
  return settings;
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function mergeFrameworkOptions(...layers: (FrameworkOptionValues | undefined)[]): FrameworkOptionValues {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const layer of layers) {
    for (const [framework, options] of Object.entries(layer ?? {})) merged[framework] = { ...merged[framework], ...definedOnly(options as object) };
  }
  return merged as FrameworkOptionValues;
}

function list<T>(values: readonly T[]): string {
  return values.map((v) => `'${String(v)}'`).join(', ');
}

function positiveInteger(name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
    throw new BenchOptionError(`${name} must be a positive integer, got ${value}.`);
  }
}

/** The hosts' options: known to their framework, and each value one the host's registry entry allows. */
function validateFrameworkOptions(frameworkOptions: FrameworkOptionValues): void {
  for (const [framework, options] of Object.entries(frameworkOptions) as [FrameworkName, Record<string, unknown>][]) {
    if (!FRAMEWORK_NAMES.includes(framework)) throw new BenchOptionError(`Options for unknown framework '${framework}'. Use one of: ${list(FRAMEWORK_NAMES)}.`);
    const definitions = frameworkDefinition(framework).options;
    for (const [name, value] of Object.entries(options)) {
      const definition = definitions[name];
      if (!definition) throw new BenchOptionError(`Framework '${framework}' has no option '${name}'. Its options: ${list(Object.keys(definitions)) || 'none'}.`);
      const problem = value === undefined ? undefined : definition.problem(value);
      if (problem) throw new BenchOptionError(problem);
    }
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
  validateFrameworkOptions(settings.frameworkOptions);
  if (settings.frameworks.length === 0 || settings.pluginSets.length === 0 || settings.Ks.length === 0 || settings.seeds.length === 0) {
    throw new BenchOptionError('Frameworks, plugin sets, K and seeds each need at least one value.');
  }
  if (settings.frameworks.some((f) => frameworkDefinition(f).local)) {
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
