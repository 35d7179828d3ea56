import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { MlaanError } from '@mlaan/core';
import { datasetNames } from '@mlaan/data';
import { NETWORKS } from '@mlaan/models';
import {
  BACKEND_CHOICES,
  expandGrid,
  type KValue,
  INFOPRO_TASKS,
  MLAAN_PROFILE_NAMES,
  resolveSettings,
  SCHEDULES,
  type Settings,
  SPLIT_VARIANTS,
  warmupWarning,
  DGL_HEAD_NAMES,
  INFOPRO_AUX_HEAD_NAMES,
} from './config.js';
import { peakLearningRate } from './train.js';
import { BenchOptionError } from './errors.js';
import { checkInfoProLambdas, parseInfoProLambda } from './infopro-lambda.js';
import { describeMachine } from './machine.js';
import { createReporter, PROGRESS_MODES, type ProgressMode } from './progress.js';
import { FRAMEWORKS, FRAMEWORK_NAMES, type FrameworkName } from './registry/frameworks.js';
import { PLUGIN_SETS, PLUGIN_SET_NAMES, type PluginSetName } from './registry/plugin-sets.js';
import { PRESETS, PRESET_NAMES, type PresetName } from './registry/presets.js';
import { metricTable, tableToMarkdown } from './results/tables.js';
import { writeReports } from './results/report.js';
import { type ExecutionOptions, readAllResults, runGrid } from './runner.js';
import { benchVersion } from './version.js';

export const DEFAULT_OUT_DIR = 'mlaan-bench-results';
/** Exit codes: 0 done, 1 a configuration failed, 2 bad options, 130 interrupted (resume by rerunning). */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

// ---- option parsers: each names the option and the fix in its error --------------------------------

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}

function nonNegativeInteger(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n)) throw new InvalidArgumentError('Expected a non-negative integer.');
  return n;
}

function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('Expected a non-negative number.');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a positive number.');
  return n;
}

function splitList(value: string): string[] {
  const items = value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new InvalidArgumentError('Expected a comma-separated list with at least one value.');
  return items;
}

function namesParser<T extends string>(kind: string, allowed: readonly T[]) {
  return (value: string): T[] => {
    const items = splitList(value);
    for (const item of items) {
      if (!allowed.includes(item as T)) throw new InvalidArgumentError(`Unknown ${kind} '${item}'. Use one of: ${allowed.join(', ')}.`);
    }
    return [...new Set(items)] as T[];
  };
}

function parseKs(value: string): KValue[] {
  return [
    ...new Set(
      splitList(value).map((item) => {
        if (item === 'per-block') return 'per-block' as const;
        if (!/^\d+$/.test(item) || Number(item) < 1) throw new InvalidArgumentError(`K must be a positive integer or 'per-block', got '${item}'.`);
        return Number(item);
      }),
    ),
  ];
}

/** `0,1,2` or a range `0-4`. */
function parseSeeds(value: string): number[] {
  const seeds: number[] = [];
  for (const item of splitList(value)) {
    const range = /^(\d+)-(\d+)$/.exec(item);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from) throw new InvalidArgumentError(`Seed range '${item}' runs backwards; write it low-high, e.g. 0-4.`);
      for (let seed = from; seed <= to; seed++) seeds.push(seed);
    } else if (/^\d+$/.test(item)) {
      seeds.push(Number(item));
    } else {
      throw new InvalidArgumentError(`Seeds are non-negative integers or ranges like 0-4, got '${item}'.`);
    }
  }
  return [...new Set(seeds)];
}

// ---- the options both commands share ----------------------------------------------------------------

interface CommandOptions {
  preset?: PresetName;
  framework?: FrameworkName[];
  plugins?: PluginSetName[];
  K?: KValue[];
  split?: Settings['split'];
  network?: string;
  dataset?: string;
  backend?: Settings['backend'];
  epochs?: number;
  batchSize?: number;
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  schedule?: Settings['schedule'];
  warmupEpochs?: number;
  augment?: boolean;
  trainLimit?: number;
  testLimit?: number;
  evalBatchSize?: number;
  seeds?: number[];
  mlaanProfile?: Settings['mlaanProfile'];
  infoproTask?: Settings['infoproTask'];
  infoproLambda?: number[];
  dglHead?: Settings['dglHead'];
  infoproAuxHead?: Settings['infoproAuxHead'];
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

function addTrainingOptions(command: Command, single: boolean): Command {
  const many = single ? '' : ' (comma-separated list)';
  return command
    .addOption(new Option('--preset <name>', 'start from a preset, then apply the other options').choices(PRESET_NAMES))
    .addOption(
      new Option(`-f, --framework <${single ? 'name' : 'names'}>`, `framework${many}: ${FRAMEWORK_NAMES.join(', ')} [preset, else e2e]`).argParser(
        namesParser('framework', FRAMEWORK_NAMES),
      ),
    )
    .addOption(
      new Option(`-p, --plugins <${single ? 'name' : 'names'}>`, `plugin set${many}: ${PLUGIN_SET_NAMES.join(', ')} [preset, else none]`).argParser(
        namesParser('plugin set', PLUGIN_SET_NAMES),
      ),
    )
    .addOption(
      new Option(
        `-K, --K <${single ? 'value' : 'values'}>`,
        `local modules${many}: a K of the split tables (2, 3, 4, 8, 16) or per-block; ignored by e2e [preset, else 4]`,
      ).argParser(parseKs),
    )
    .addOption(new Option('--split <variant>', 'split table; balanced = InfoPro* memory-balanced splits (ResNet-110, K=2,3,4) [default]').choices(SPLIT_VARIANTS))
    .addOption(new Option('-n, --network <name>', 'backbone [resnet32]').choices(Object.keys(NETWORKS)))
    .addOption(new Option('-d, --dataset <name>', 'dataset [cifar10]').choices(datasetNames))
    .addOption(new Option('-b, --backend <name>', 'tfjs backend; auto takes the first that works in this order [auto]').choices(BACKEND_CHOICES))
    .addOption(new Option('-e, --epochs <n>', 'epochs [preset, else 400; InfoPro 160]').argParser(positiveInteger))
    .addOption(new Option('--batch-size <n>', 'training batch size [1024; STL-10 128]').argParser(positiveInteger))
    .addOption(new Option('--lr <rate>', 'initial learning rate [0.8; STL-10 0.1]').argParser(positiveNumber))
    .addOption(new Option('--momentum <m>', 'SGD momentum [0.9]').argParser(nonNegativeNumber))
    .addOption(new Option('--no-nesterov', 'plain momentum instead of Nesterov'))
    .addOption(new Option('--weight-decay <wd>', 'L2 weight decay added to the gradient [1e-4]').argParser(nonNegativeNumber))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule, per epoch: cosine-warmup and cosine as METHOD §6 (last epoch at lr 0), cosine-annealing as PyTorch (first epoch at lr), constant [cosine-warmup]').choices(SCHEDULES))
    .addOption(new Option('--warmup-epochs <n>', 'warm-up epochs of cosine-warmup [10]').argParser(nonNegativeInteger))
    .addOption(new Option('--no-augment', "train without the dataset's augmentation"))
    .addOption(new Option('--train-limit <n>', 'train on this many training images (class-balanced subset) [all]').argParser(positiveInteger))
    .addOption(new Option('--test-limit <n>', 'evaluate on this many test images (class-balanced subset) [all]').argParser(positiveInteger))
    .addOption(new Option('--eval-batch-size <n>', 'evaluation batch size [500]').argParser(positiveInteger))
    .addOption(new Option('-s, --seeds <list>', 'seeds, e.g. 0,1,2 or 0-4; several give mean ± std [preset, else 0]').argParser(parseSeeds))
    .addOption(new Option('--mlaan-profile <name>', 'MLM/LAM profile; reference = the authors’ CIFAR code exactly [paper]').choices(MLAAN_PROFILE_NAMES))
    .addOption(
      new Option('--infopro-task <task>', 'InfoPro task loss: contrast (InfoPro paper, its λ presets) or cross-entropy (MLAAN runs, λ 5,0.5,0,0) [contrast]').choices(
        INFOPRO_TASKS,
      ),
    )
    .addOption(
      new Option('--dgl-head <name>', "DGL's auxiliary classifier: mlp-sr (DGL's own), mlaan (the MLAAN authors' DGL runs), linear (GAP + Linear) [mlp-sr]").choices(
        DGL_HEAD_NAMES,
      ),
    )
    .addOption(
      new Option('--infopro-aux-head <config>', "InfoPro's auxiliary head, the authors' --aux_net_config [1c2f]").choices(INFOPRO_AUX_HEAD_NAMES),
    )
    .addOption(
      new Option('--infopro-lambda <weights>', "InfoPro's loss weights ixx1,ixy1,ixx2,ixy2, e.g. 5,0.5,0,0 [the paper's for the K; cross-entropy 5,0.5,0,0]").argParser(
        parseInfoProLambda,
      ),
    )
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

function settingsFrom(options: CommandOptions, command: Command): Partial<Settings> {
  const fromCli = (name: string) => command.getOptionValueSource(name) === 'cli';
  return {
    frameworks: options.framework,
    pluginSets: options.plugins,
    Ks: options.K,
    split: options.split,
    network: options.network,
    dataset: options.dataset,
    backend: options.backend,
    epochs: options.epochs,
    batchSize: options.batchSize,
    learningRate: options.lr,
    momentum: options.momentum,
    nesterov: fromCli('nesterov') ? options.nesterov : undefined,
    weightDecay: options.weightDecay,
    schedule: options.schedule,
    warmupEpochs: options.warmupEpochs,
    augment: fromCli('augment') ? options.augment : undefined,
    trainLimit: options.trainLimit,
    testLimit: options.testLimit,
    evalBatchSize: options.evalBatchSize,
    seeds: options.seeds,
    mlaanProfile: options.mlaanProfile,
    infoproTask: options.infoproTask,
    infoproLambda: options.infoproLambda,
    dglHead: options.dglHead,
    infoproAuxHead: options.infoproAuxHead,
  };
}

function executionFrom(options: CommandOptions): ExecutionOptions {
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

function quote(argument: string): string {
  return /^[\w@%+=:,./-]+$/.test(argument) ? argument : `'${argument.replace(/'/g, `'\\''`)}'`;
}

export interface IO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown; isTTY?: boolean; columns?: number };
}

async function execute(kind: 'run' | 'ablation', options: CommandOptions, command: Command, argv: readonly string[], io: IO): Promise<number> {
  const given = settingsFrom(options, command);
  if (kind === 'run') {
    for (const [name, values] of [
      ['--framework', given.frameworks],
      ['--plugins', given.pluginSets],
      ['--K', given.Ks],
    ] as const) {
      if (values && values.length > 1) {
        throw new BenchOptionError(`mlaan-bench run trains one configuration, but ${name} has ${values.length} values. Give one, or use mlaan-bench ablation for a grid.`);
      }
    }
    if (given.Ks && given.frameworks && given.frameworks.every((f) => !FRAMEWORKS[f].local)) {
      throw new BenchOptionError('--K does not apply to e2e (end-to-end training is one module). Drop --K, or choose --framework dgl or infopro.');
    }
  }
  let settings = resolveSettings(options.preset, given);
  if (kind === 'run') {
    // A preset's grid collapses to its first framework, plugin set and K unless the options name them.
    settings = { ...settings, frameworks: settings.frameworks.slice(0, 1), pluginSets: settings.pluginSets.slice(0, 1), Ks: settings.Ks.slice(0, 1), rows: settings.rows?.slice(0, 1) };
  }
  const configs = expandGrid(settings);
  await checkInfoProLambdas(configs);
  const execution = executionFrom(options);
  const reporter = createReporter(options.progress, io.stderr);
  const commandLine = ['mlaan-bench', ...argv].map(quote).join(' ');
  reporter.info(`mlaan-bench ${kind}: ${configs.length} configuration(s) → ${execution.outDir}`);
  // Before anything trains: a schedule that never leaves warm-up trains at a fraction of --lr.
  for (const warning of new Set(configs.map((config) => warmupWarning(config, peakLearningRate(config))))) {
    if (warning) reporter.info(`warning: ${warning}`);
  }

  const stop = { requested: false };
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.requested) process.exit(EXIT.interrupted);
    stop.requested = true;
    reporter.info(`${signal}: stopping after this step and saving a checkpoint (send it again to quit at once).`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await runGrid(configs, settings.backend, execution, reporter, stop, commandLine);
    reporter.close();
    if (outcome.report) {
      for (const section of outcome.report.sections) {
        // What a user reads first: how well each method learned, and what its training step costs.
        const tables = (['bestError', 'memory', 'throughput'] as const).map((metric) => tableToMarkdown(metricTable(section, metric)));
        io.stdout.write(`\n## ${section.title}\n\n${tables.join('\n\n')}\n`);
      }
      io.stdout.write(`\nReport: ${execution.outDir}/report.html (also results.json, results.csv, results.md, charts/)\n`);
    }
    if (outcome.failures.length > 0) {
      io.stderr.write(`\n${outcome.failures.length} configuration(s) failed:\n${outcome.failures.map((f) => `- ${f.label}: ${f.message}`).join('\n')}\n`);
      return EXIT.failed;
    }
    if (outcome.interrupted) {
      io.stderr.write('Interrupted. Rerun the same command to resume: finished configurations are skipped, the interrupted one continues from its checkpoint.\n');
      return EXIT.interrupted;
    }
    return EXIT.ok;
  } finally {
    reporter.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function registryHelp(): string {
  const lines = ['', '', 'Frameworks:'];
  for (const f of Object.values(FRAMEWORKS)) lines.push(`  ${f.name.padEnd(9)} ${f.description}`);
  lines.push('', 'Plugin sets:');
  for (const p of Object.values(PLUGIN_SETS)) lines.push(`  ${p.name.padEnd(9)} ${p.description}`);
  lines.push('', 'Presets:');
  for (const p of Object.values(PRESETS)) lines.push(`  ${p.name.padEnd(9)} ${p.description}`);
  lines.push(
    '',
    'Backends: auto tries tensorflow-gpu (@tensorflow/tfjs-node-gpu), webgpu (@mlaan/backend-webgpu on a hardware GPU),',
    'tensorflow (@tensorflow/tfjs-node), onednn (@mlaan/backend-onednn), wasm, cpu, and takes the first that loads.',
    'Naming one that is not installed is an error that says which package to install; --backend webgpu also runs on',
    "a software GPU (Mesa's lavapipe), which auto never takes.",
    '',
    'Interrupt with Ctrl-C: the current step finishes and a checkpoint is saved. Rerunning the same command skips',
    'finished configurations (out/runs/<id>/result.json) and continues the interrupted one from its checkpoint.',
    'Exit codes: 0 done, 1 a configuration failed, 2 bad options, 130 interrupted.',
  );
  return lines.join('\n');
}

export function createProgram(io: IO, setExitCode: (code: number) => void, argv: readonly string[] = process.argv.slice(2)): Command {
  const program = new Command('mlaan-bench')
    .description('Train E2E, DGL and InfoPro with and without the MLAAN plugins (MLM, LAM) and report test error, memory and speed.')
    .version(benchVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for the options)')
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .exitOverride();

  const run = program
    .command('run')
    .description('train one configuration (several --seeds give mean ± std)')
    .addHelpText('after', `\nExamples:\n  mlaan-bench run --framework infopro --plugins mlaan --K 4 --epochs 1 --train-limit 1024 --backend wasm\n  mlaan-bench run --preset paper --framework dgl --K 8 --backend tensorflow-gpu${registryHelp()}`);
  addTrainingOptions(run, true).action(async (options: CommandOptions, command: Command) => {
    setExitCode(await execute('run', options, command, argv, io));
  });

  const ablation = program
    .command('ablation')
    .description('train a grid: frameworks × plugin sets × K × seeds, then write tables, charts and an HTML report')
    .addHelpText(
      'after',
      `\nExamples:\n  mlaan-bench ablation --preset smoke --backend wasm\n  mlaan-bench ablation --preset paper --backend tensorflow-gpu --network resnet110\n  mlaan-bench ablation --framework e2e,dgl,infopro --plugins none,mlm,lam,mlaan --K 2,4 --epochs 5 --train-limit 5000${registryHelp()}`,
    );
  addTrainingOptions(ablation, false).action(async (options: CommandOptions, command: Command) => {
    setExitCode(await execute('ablation', options, command, argv, io));
  });

  program
    .command('report')
    .description('rewrite the reports of an output folder from every finished configuration in it')
    .addOption(new Option('-o, --out <dir>', 'output folder').default(DEFAULT_OUT_DIR))
    .action(async (options: { out: string }) => {
      const outDir = resolve(options.out);
      const results = await readAllResults(outDir);
      if (results.length === 0) throw new BenchOptionError(`No finished configuration in ${outDir}/runs. Run mlaan-bench ablation --out ${options.out} first.`);
      await writeReports(outDir, results, { command: ['mlaan-bench', ...argv].map(quote).join(' '), machine: describeMachine() });
      io.stdout.write(`Wrote ${outDir}/report.html, results.json, results.csv, results.md and charts/ from ${results.length} configuration(s).\n`);
    });
  return program;
}

/** Runs the CLI on `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[], io: IO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = createProgram(io, (code) => (exitCode = code), argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; everything commander rejects is a usage error (it printed why).
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof BenchOptionError) {
      io.stderr.write(`error: ${error.message}\n(add --help for the options)\n`);
      return EXIT.usage;
    }
    if (error instanceof MlaanError) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT.failed;
    }
    throw error;
  }
}
