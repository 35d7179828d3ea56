import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Command, Option } from 'commander';
import { GPU_BACKENDS, sbatchScript, type SlurmPlan } from '../cluster/sbatch-script.js';
import { formatSlurmTime, parseSlurmTime } from '../cluster/slurm-time.js';
import { committedMeasurementFolders, describeEstimate, estimateRow, measuredRuns, type RowEstimate } from '../cluster/time-estimate.js';
import { configId } from '../configuration/configuration-id.js';
import { expandGrid } from '../configuration/grid.js';
import { runLabel } from '../configuration/labels.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { selectShard } from '../configuration/shard.js';
import { readableDuration } from '../duration.js';
import { BenchOptionError } from '../errors.js';
import { gridManifest, writeGridManifest } from '../results/grid-manifest.js';
import { commandLine, EXIT, type IO } from './io.js';
import { commanderParser, positiveInteger, positiveNumber } from './option-parsers.js';
import { checkConfigurations } from './train-command.js';
import { executionFrom, presetFrom, settingsFrom } from './training-options.js';

/** The options only `slurm` has (the rest are `ablation`'s, and make the grid the array trains). */
const SLURM_OPTIONS = {
  script: new Option('--script <file>', 'write the sbatch script here [standard output]'),
  perTask: new Option('--per-task <n>', 'configurations per array task [1]').argParser(positiveInteger),
  time: new Option('--time <limit>', "each task's time limit in Slurm's spelling (90, 12:00:00, 2-00:00:00) instead of the estimate from measured speeds").argParser(
    commanderParser(slurmTime),
  ),
  maxTime: new Option('--max-time <limit>', "the partition's longest time limit: a task estimated longer gets this one and requeues itself to go on").argParser(commanderParser(slurmTime)),
  timeMargin: new Option('--time-margin <factor>', 'the estimate times this [1.5]').argParser(positiveNumber),
  throughputFrom: new Option(
    '--throughput-from <folders>',
    "results folders whose finished runs give the speeds the time limit is estimated from (comma-separated), e.g. a short calibration run on the cluster's own nodes [the runs committed under benchmarks/]",
  ),
  cpusPerTask: new Option('--cpus-per-task <n>', 'CPUs per task (OMP_NUM_THREADS of the onednn backend) [2, as the committed speeds were measured]').argParser(positiveInteger),
  mem: new Option('--mem <size>', "memory per task in Slurm's spelling (16G) [the partition's default]"),
  partition: new Option('--partition <name>', 'Slurm partition'),
  account: new Option('--account <name>', 'Slurm account'),
  maxParallel: new Option('--max-parallel <n>', 'at most this many tasks at once (--array=0-N%n)').argParser(positiveInteger),
  sbatch: new Option('--sbatch <option>', 'one more #SBATCH option, e.g. --sbatch=--qos=long (repeatable)').argParser((value: string, previous: string[] = []) => [...previous, value]),
} as const;

type SlurmOptionValues = {
  script?: string;
  perTask?: number;
  time?: number;
  maxTime?: number;
  timeMargin?: number;
  throughputFrom?: string;
  cpusPerTask?: number;
  mem?: string;
  partition?: string;
  account?: string;
  maxParallel?: number;
  sbatch?: string[];
};

/** What a task needs besides training: start-up (data loading), the last evaluation, writing results. */
const TASK_OVERHEAD_SECONDS = 600;
/** The least time limit: enough for a task to start, train a while and checkpoint before its warning. */
const MIN_TIME_SECONDS = 1800;
/** Slurm's warning comes this long before the limit: time to finish a step and save a checkpoint. */
const WARNING_SECONDS = 300;
const MAX_TIME_REQUEUES = 20;

function slurmTime(text: string): number {
  const seconds = parseSlurmTime(text);
  if (typeof seconds === 'string') throw new BenchOptionError(seconds);
  return seconds;
}

export function addSlurmOptions(command: Command): Command {
  for (const option of Object.values(SLURM_OPTIONS)) command.addOption(option);
  return command;
}

/** Options whose value is a path: written absolute, since the tasks start in the submit folder. */
const PATH_OPTIONS = new Set(['dataDir', 'export']);

/**
 * The `ablation` arguments that make the same grid with the same execution options: every option
 * the command line (or the environment: $MLAAN_DATA_DIR) gave, in its long spelling, with paths
 * made absolute, and `--out` always.
 */
export function ablationArguments(command: Command, out: string): string[] {
  const own = new Set(Object.values(SLURM_OPTIONS).map((option) => option.attributeName()));
  const args: string[] = [];
  for (const option of command.options) {
    const key = option.attributeName();
    if (own.has(key) || key === 'out' || key === 'progress') continue;
    const source = command.getOptionValueSource(key);
    if (source !== 'cli' && source !== 'env') continue;
    const value: unknown = command.getOptionValue(key);
    if (option.negate || typeof value === 'boolean') {
      if (value === !option.negate) args.push(option.long!);
      continue;
    }
    const text = Array.isArray(value) ? value.join(',') : String(value);
    args.push(option.long!, PATH_OPTIONS.has(key) ? resolve(text) : text);
  }
  return [...args, '--out', out];
}

/** The bench's package folder (apps/bench), from this module in dist/ or src/. */
function benchFolder(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 4; depth++) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@mlaan/bench') return folder;
    folder = dirname(folder);
  }
  throw new BenchOptionError('Cannot find the @mlaan/bench package folder above this module, to name it in the script.');
}

/**
 * How the tasks start the bench: the same code as this process runs. Built: node and dist/cli.js;
 * from the TypeScript sources (a checkout's tests): node with tsx and src/cli.ts.
 */
export function benchLauncher(): string[] {
  const folder = benchFolder();
  if (fileURLToPath(import.meta.url).endsWith('.ts')) {
    const tsx = pathToFileURL(createRequire(join(folder, 'package.json')).resolve('tsx')).href;
    return [process.execPath, '--import', tsx, join(folder, 'src', 'cli.ts')];
  }
  return [process.execPath, join(folder, 'dist', 'cli.js')];
}

/** Each task's configurations and estimated seconds. */
function taskEstimates(estimates: readonly RowEstimate[], tasks: number) {
  const configs = estimates.map((estimate) => estimate.config);
  return Array.from({ length: tasks }, (_, task) => {
    const mine = new Set(selectShard(configs, { index: task + 1, count: tasks }).map(configId));
    const rows = estimates.filter((estimate) => mine.has(configId(estimate.config)));
    return { task, rows, seconds: rows.reduce((sum, row) => sum + row.seconds, 0) };
  });
}

/**
 * `slurm`: the sbatch script of the grid the training options make (as `ablation` would train it),
 * with each task's time limit from measured speeds unless --time gives one, and the results
 * folder's grid.json and log folder created. Prints what the grid costs.
 */
export async function slurmCommand(command: Command, argv: readonly string[], io: IO): Promise<number> {
  const options = command.opts() as SlurmOptionValues & { force?: boolean };
  if (options.force) {
    throw new BenchOptionError('--force would train finished configurations again each time a task is requeued. To train some again, delete their runs/<id> folders first.');
  }
  const settings = resolveSettings(presetFrom(command), settingsFrom(command));
  const grid = expandGrid(settings);
  await checkConfigurations(grid);
  const execution = executionFrom(command);
  const perTask = options.perTask ?? 1;
  const tasks = Math.ceil(grid.length / perTask);
  const cpusPerTask = options.cpusPerTask ?? 2;
  const gpu = GPU_BACKENDS.includes(settings.backend);
  const warnings: string[] = [];
  if (settings.backend === 'auto') {
    warnings.push(`--backend auto: no GPU is requested. Name the backend (--backend ${GPU_BACKENDS.join(' or ')}) to get --gres=gpu:1 on each task.`);
  }

  let timeLimit: number;
  const timeNotes: string[] = [];
  const launcher = benchLauncher();
  const repository = dirname(dirname(benchFolder()));
  if (options.time !== undefined) {
    timeLimit = options.time;
    timeNotes.push(`Time limit: ${formatSlurmTime(timeLimit)} per task, as given (--time).`);
  } else {
    const folders = options.throughputFrom ? options.throughputFrom.split(',').map((folder) => resolve(folder.trim())) : committedMeasurementFolders();
    const measured = await measuredRuns(folders);
    const outcomes = grid.map((config) => estimateRow(config, measured));
    const missing = outcomes.filter((outcome): outcome is { config: (typeof grid)[number]; missing: string } => 'missing' in outcome);
    if (missing.length > 0) {
      const reasons = [...new Set(missing.map((m) => m.missing))];
      throw new BenchOptionError(
        `No measured speed to estimate the time limit of ${missing.length} of the ${grid.length} configurations from (in ${folders.length > 0 ? folders.join(', ') : 'no folder: no benchmarks/ folder was found'}): ` +
          `${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? `; and ${reasons.length - 3} more` : ''} (e.g. ${runLabel(missing[0]!.config)}). ` +
          'Give the time limit with --time (e.g. --time 2-00:00:00), or measure: train a short run of the same configurations on one of the nodes ' +
          '(mlaan-bench ablation <the same options> --epochs 1 --out calibration) and pass --throughput-from calibration.',
      );
    }
    const estimates = outcomes as RowEstimate[];
    const byTask = taskEstimates(estimates, tasks);
    const longest = byTask.reduce((a, b) => (b.seconds > a.seconds ? b : a));
    const margin = options.timeMargin ?? 1.5;
    const wanted = longest.seconds * margin + TASK_OVERHEAD_SECONDS;
    // Whole minutes, as a person would write it.
    const estimated = Math.ceil(Math.max(MIN_TIME_SECONDS, wanted) / 60) * 60;
    timeLimit = options.maxTime !== undefined ? Math.min(options.maxTime, estimated) : estimated;
    const total = estimates.reduce((sum, estimate) => sum + estimate.seconds, 0);
    const resourceHours = (total / 3600) * (gpu ? 1 : cpusPerTask);
    timeNotes.push(
      `Time limit: ${formatSlurmTime(timeLimit)} per task = the longest task's estimate (task ${longest.task}: ${readableDuration(longest.seconds)}) × ${margin} + ${TASK_OVERHEAD_SECONDS / 60} min` +
        `${wanted < MIN_TIME_SECONDS ? `, raised to the least limit of ${MIN_TIME_SECONDS / 60} min` : ''}` +
        `${timeLimit < estimated ? `, capped at --max-time (tasks that need longer requeue themselves and go on)` : ''}.`,
      `The whole grid: ${readableDuration(total)} of training, ${resourceHours >= 10 ? Math.round(resourceHours) : resourceHours.toFixed(1)} ${gpu ? 'GPU' : 'CPU-core'}-hours (${cpusPerTask} CPUs per task${gpu ? ', 1 GPU' : ''}).`,
      `Estimated from the speeds finished runs measured (seconds per image of their wall time outside evaluation, so start-up,`,
      `data loading and checkpoints count; the quietest measurement of the closest configuration), in ${folders.map((folder) => folder.startsWith(repository) ? folder.slice(repository.length + 1) : folder).join(', ')}:`,
      ...byTask.flatMap(({ task, rows }) => rows.map((row) => `  task ${task}: ${describeEstimate(row, repository)}`)),
    );
    if (estimates.some((estimate) => estimate.source.result.backend.choice !== settings.backend && settings.backend !== 'auto')) {
      warnings.push('Some estimates come from another backend than the grid trains on.');
    }
  }

  const out = execution.outDir;
  const plan: SlurmPlan = {
    jobName: `mlaan-${presetFrom(command) ?? 'grid'}`,
    tasks,
    gridSize: grid.length,
    timeLimitSeconds: timeLimit,
    timeNotes,
    gpu,
    cpusPerTask,
    memory: options.mem,
    partition: options.partition,
    account: options.account,
    extraOptions: options.sbatch ?? [],
    maxParallel: options.maxParallel,
    warningSeconds: WARNING_SECONDS,
    maxTimeRequeues: MAX_TIME_REQUEUES,
    launcher,
    out,
    ablationArguments: ablationArguments(command, out),
    generatedBy: commandLine(argv),
    warnings,
  };
  const script = sbatchScript(plan);
  // The tasks need the log folder before they start; the grid lets `report` name what is missing.
  await mkdir(join(out, 'slurm-logs'), { recursive: true });
  await writeGridManifest(out, gridManifest(grid, commandLine(['ablation', ...plan.ablationArguments]), execution.workers, execution.exchange));
  if (options.script) {
    await writeFile(options.script, script, { mode: 0o755 });
    io.stderr.write(`Wrote ${options.script}: ${grid.length} configurations as ${tasks} array tasks of ${formatSlurmTime(timeLimit)}${gpu ? ' with one GPU each' : ''}. Submit with: bash ${options.script}\n`);
  } else {
    io.stdout.write(script);
  }
  for (const note of timeNotes.slice(0, 2)) io.stderr.write(`${note}\n`);
  for (const warning of warnings) io.stderr.write(`warning: ${warning}\n`);
  return EXIT.ok;
}
