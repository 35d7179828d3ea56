import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { datasetNames } from '@mlaan/data';
import { NETWORKS } from '@mlaan/models';
import { BACKEND_CHOICES, MLAAN_PROFILE_NAMES, SCHEDULES, type Settings, SPLIT_VARIANTS } from '../configuration/settings.js';
import { PROGRESS_MODES, type ProgressMode } from '../progress.js';
import { FRAMEWORK_NAMES, frameworkDefinition, type FrameworkOptionValues } from '../registry/frameworks.js';
import { hostOptionFlag } from '../registry/host-options.js';
import { PLUGIN_SET_NAMES } from '../registry/plugin-sets.js';
import { PRESET_NAMES, type PresetName } from '../registry/presets.js';
import type { ExecutionOptions } from '../runner.js';
import { commanderParser, namesParser, nonNegativeInteger, nonNegativeNumber, parseKs, parseSeeds, positiveInteger, positiveNumber } from './option-parsers.js';

export const DEFAULT_OUT_DIR = 'mlaan-bench-results';

/** How the CLI spells one setting: `run` takes one value where `ablation` takes a list. */
interface SettingOption {
  flags(single: boolean): string;
  description(single: boolean): string;
  choices?: readonly string[];
  parse?: (text: string) => unknown;
  /** `--no-x`: the setting is taken only when the option is on the command line, else the preset's or default. */
  negatable?: boolean;
}

const many = (single: boolean) => (single ? '' : ' (comma-separated list)');
const fixed = (flags: string, description: string, rest: Omit<SettingOption, 'flags' | 'description'> = {}): SettingOption => ({
  flags: () => flags,
  description: () => description,
  ...rest,
});

/**
 * The CLI's spelling of every setting, in the order `--help` lists them: the one place a setting
 * meets its option (the mapping back to settings is read from here). The hosts' own options come
 * from their registry entries (`hostOptions`).
 */
const SETTING_OPTIONS: { [K in keyof Omit<Settings, 'frameworkOptions' | 'rows'>]: SettingOption } = {
  frameworks: {
    flags: (single) => `-f, --framework <${single ? 'name' : 'names'}>`,
    description: (single) => `framework${many(single)}: ${FRAMEWORK_NAMES.join(', ')} [preset, else e2e]`,
    parse: namesParser('framework', FRAMEWORK_NAMES),
  },
  pluginSets: {
    flags: (single) => `-p, --plugins <${single ? 'name' : 'names'}>`,
    description: (single) => `plugin set${many(single)}: ${PLUGIN_SET_NAMES.join(', ')} [preset, else none]`,
    parse: namesParser('plugin set', PLUGIN_SET_NAMES),
  },
  Ks: {
    flags: (single) => `-K, --K <${single ? 'value' : 'values'}>`,
    description: (single) => `local modules${many(single)}: a K of the split tables (2, 3, 4, 8, 16) or per-block; ignored by e2e [preset, else 4]`,
    parse: parseKs,
  },
  split: fixed('--split <variant>', 'split table; balanced = InfoPro* memory-balanced splits (ResNet-110, K=2,3,4) [default]', { choices: SPLIT_VARIANTS }),
  network: fixed('-n, --network <name>', 'backbone [resnet32]', { choices: Object.keys(NETWORKS) }),
  dataset: fixed('-d, --dataset <name>', 'dataset [cifar10]', { choices: datasetNames }),
  backend: fixed('-b, --backend <name>', 'tfjs backend; auto takes the first that works in this order [auto]', { choices: BACKEND_CHOICES }),
  epochs: fixed('-e, --epochs <n>', 'epochs [preset, else 400; InfoPro 160]', { parse: positiveInteger }),
  batchSize: fixed('--batch-size <n>', 'training batch size [1024; STL-10 128]', { parse: positiveInteger }),
  learningRate: fixed('--lr <rate>', 'initial learning rate [0.8; STL-10 0.1]', { parse: positiveNumber }),
  momentum: fixed('--momentum <m>', 'SGD momentum [0.9]', { parse: nonNegativeNumber }),
  nesterov: fixed('--no-nesterov', 'plain momentum instead of Nesterov', { negatable: true }),
  weightDecay: fixed('--weight-decay <wd>', 'L2 weight decay added to the gradient [1e-4]', { parse: nonNegativeNumber }),
  schedule: fixed(
    '--schedule <name>',
    'learning-rate schedule, per epoch: cosine-warmup and cosine as METHOD §6 (last epoch at lr 0), cosine-annealing as PyTorch (first epoch at lr), constant [cosine-warmup]',
    { choices: SCHEDULES },
  ),
  warmupEpochs: fixed('--warmup-epochs <n>', 'warm-up epochs of cosine-warmup [10]', { parse: nonNegativeInteger }),
  augment: fixed('--no-augment', "train without the dataset's augmentation", { negatable: true }),
  trainLimit: fixed('--train-limit <n>', 'train on this many training images (class-balanced subset) [all]', { parse: positiveInteger }),
  testLimit: fixed('--test-limit <n>', 'evaluate on this many test images (class-balanced subset) [all]', { parse: positiveInteger }),
  evalBatchSize: fixed('--eval-batch-size <n>', 'evaluation batch size [500]', { parse: positiveInteger }),
  seeds: fixed('-s, --seeds <list>', 'seeds, e.g. 0,1,2 or 0-4; several give mean ± std [preset, else 0]', { parse: parseSeeds }),
  mlaanProfile: fixed('--mlaan-profile <name>', 'MLM/LAM profile; reference = the authors’ CIFAR code exactly [paper]', { choices: MLAAN_PROFILE_NAMES }),
};

/** `--dgl-head`, `--infopro-task`, …: every host's options, from the registry. */
function hostOptions(): { framework: string; name: string; option: Option }[] {
  return FRAMEWORK_NAMES.flatMap((framework) =>
    Object.entries(frameworkDefinition(framework).options).map(([name, definition]) => {
      const shown = definition.default === undefined ? '' : ` [${String(definition.default)}]`;
      const option = new Option(`${hostOptionFlag(framework, name)} <${definition.valueName}>`, `${definition.description}${shown}`);
      if (definition.choices) option.choices(definition.choices);
      else option.argParser(commanderParser(definition.parse));
      return { framework, name, option };
    }),
  );
}

/** What the options that do not change results hold (how to run, where to write). */
interface ExecutionOptionValues {
  preset?: PresetName;
  dataDir?: string;
  download?: boolean;
  export?: string;
  out: string;
  checkpointEvery: number;
  memoryEvery: number;
  loaderWorkers?: number;
  workers?: number;
  exchange?: 'exact' | 'delayed';
  keepCheckpoints?: boolean;
  force?: boolean;
  progress: ProgressMode;
}

/** Declares the options of `run` (one value each) or `ablation` (lists): settings, hosts' options, execution. */
export function addTrainingOptions(command: Command, single: boolean): Command {
  command.addOption(new Option('--preset <name>', 'start from a preset, then apply the other options').choices(PRESET_NAMES));
  for (const spec of Object.values(SETTING_OPTIONS)) {
    const option = new Option(spec.flags(single), spec.description(single));
    if (spec.choices) option.choices(spec.choices);
    if (spec.parse) option.argParser(spec.parse);
    command.addOption(option);
  }
  for (const { option } of hostOptions()) command.addOption(option);
  return command
    .addOption(
      new Option(
        '--data-dir <dir>',
        'the datasets folder (CIFAR-10 in <dir>/cifar10/cifar-10-batches-bin or <dir>/cifar-10-batches-bin); the cifar-10-batches-bin folder itself works too [$MLAAN_DATA_DIR, else ~/.cache/mlaan]',
      ).env('MLAAN_DATA_DIR'),
    )
    .addOption(new Option('--download', 'download a missing dataset (CIFAR-10, SVHN, STL-10) into the data folder'))
    .addOption(new Option('-o, --out <dir>', 'output folder: results, reports, per-configuration checkpoints').default(DEFAULT_OUT_DIR))
    .addOption(new Option('--export <dir>', 'write each trained final model to <dir>/<configuration id>/: PyTorch safetensors and a TensorFlow.js LayersModel'))
    .addOption(new Option('--checkpoint-every <steps>', 'also checkpoint every this many steps (0: only after each epoch)').default(50).argParser(nonNegativeInteger))
    .addOption(new Option('--memory-every <steps>', 'measure tensor memory on step 1 and every this many steps (0: never)').default(50).argParser(nonNegativeInteger))
    .addOption(new Option('--loader-workers <n>', 'data-loader worker threads (decoding, augmentation) [1 on this kind of machine]').argParser(nonNegativeInteger))
    .addOption(
      new Option(
        '--workers <n>',
        'module-parallel training: worker threads that each train a range of the local modules, placed by measured cost (not data loading: that is --loader-workers) [1: the sequential trainer]',
      ).argParser(positiveInteger),
    )
    .addOption(
      new Option(
        '--exchange <mode>',
        "with --workers: how MLM's cascade cotangents cross workers; exact = the sequential result (workers take turns on the modules a window joins), delayed = one step late, no waiting [exact]",
      ).choices(['exact', 'delayed']),
    )
    .addOption(new Option('--keep-checkpoints', 'keep the last checkpoint of finished configurations'))
    .addOption(new Option('--force', 'train finished configurations again instead of skipping them'))
    .addOption(new Option('--progress <mode>', 'progress output: bar on a terminal, lines otherwise').choices(PROGRESS_MODES).default('auto'));
}

/** The settings the command line names (undefined: not given, the preset's or default stays). */
export function settingsFrom(command: Command): Partial<Settings> {
  const values = command.opts() as Record<string, unknown>;
  const given: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTING_OPTIONS)) {
    const attribute = new Option(spec.flags(true)).attributeName();
    given[key] = spec.negatable && command.getOptionValueSource(attribute) !== 'cli' ? undefined : values[attribute];
  }
  const frameworkOptions: Record<string, Record<string, unknown>> = {};
  for (const { framework, name, option } of hostOptions()) {
    const value = values[option.attributeName()];
    if (value !== undefined) frameworkOptions[framework] = { ...frameworkOptions[framework], [name]: value };
  }
  return { ...(given as Partial<Settings>), frameworkOptions: frameworkOptions as FrameworkOptionValues };
}

export function presetFrom(command: Command): PresetName | undefined {
  return (command.opts() as ExecutionOptionValues).preset;
}

export function progressFrom(command: Command): ProgressMode {
  return (command.opts() as ExecutionOptionValues).progress;
}

/** How to run: folders, checkpoints, memory sampling, workers; none of it changes the results. */
export function executionFrom(command: Command): ExecutionOptions {
  const options = command.opts() as ExecutionOptionValues;
  return {
    outDir: resolve(options.out),
    dataDir: options.dataDir,
    download: options.download ?? false,
    checkpointEvery: options.checkpointEvery,
    memoryEvery: options.memoryEvery,
    loaderWorkers: options.loaderWorkers,
    workers: options.workers,
    exchange: options.exchange,
    keepCheckpoints: options.keepCheckpoints ?? false,
    force: options.force ?? false,
    exportDir: options.export === undefined ? undefined : resolve(options.export),
  };
}
