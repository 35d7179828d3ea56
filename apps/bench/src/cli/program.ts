import { Command, CommanderError, Option } from 'commander';
import { MlaanError } from '@mlaan/core';
import { BenchOptionError } from '../errors.js';
import { benchVersion } from '../version.js';
import { registryHelp } from './help.js';
import { EXIT, type IO } from './io.js';
import { reportCommand } from './report-command.js';
import { addSlurmOptions, slurmCommand } from './slurm-command.js';
import { trainCommand } from './train-command.js';
import { shardArgument } from './option-parsers.js';
import { addTrainingOptions, DEFAULT_OUT_DIR } from './training-options.js';

export { DEFAULT_OUT_DIR } from './training-options.js';
export { EXIT, type IO } from './io.js';

/**
 * `run --help`'s examples, the first a newcomer's: DGL + MLAAN on the demo protocol (2 epochs of
 * 80 batches of CIFAR-10 at a constant lr 0.05, no warm-up; minutes on 2 cores), with the
 * datasets folder named (and CIFAR-10 downloaded into it when missing).
 */
export const RUN_EXAMPLES = [
  'mlaan-bench run --preset demo --framework dgl --plugins mlaan --K 8 --data-dir ~/datasets --download',
  'mlaan-bench run --preset paper --framework dgl --K 8 --backend tensorflow-gpu --data-dir /data',
];

/** The commands, their options and help; each action is a room of its own (train-command, report-command). */
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
    .addHelpText('after', `\nExamples:\n${RUN_EXAMPLES.map((line) => `  ${line}`).join('\n')}${registryHelp()}`);
  addTrainingOptions(run, true).action(async (_options: unknown, command: Command) => {
    setExitCode(await trainCommand('run', command, argv, io));
  });

  const ablation = program
    .command('ablation')
    .description('train a grid: frameworks × plugin sets × K × seeds, then write tables, charts and an HTML report')
    .addHelpText(
      'after',
      `\nExamples:\n  mlaan-bench ablation --preset smoke --backend wasm\n  mlaan-bench ablation --preset paper --backend tensorflow-gpu --network resnet110\n  mlaan-bench ablation --framework e2e,dgl,infopro --plugins none,mlm,lam,mlaan --K 2,4 --epochs 5 --train-limit 5000${registryHelp()}`,
    );
  addTrainingOptions(ablation, false)
    .addOption(
      new Option(
        '--shard <i/n>',
        'train only the i-th of n slices of the grid (configurations sorted by id, dealt out in turn), e.g. one Slurm array task: --shard $((SLURM_ARRAY_TASK_ID + 1))/$SLURM_ARRAY_TASK_COUNT; shards may share --out (each configuration is claimed before it trains) or write their own; mlaan-bench report merges them',
      ).argParser(shardArgument),
    )
    .action(async (_options: unknown, command: Command) => {
      setExitCode(await trainCommand('ablation', command, argv, io));
    });

  const slurm = program
    .command('slurm')
    .description('write an sbatch script that trains the grid (the ablation options) as a Slurm job array, with a report job after it')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  mlaan-bench slurm --preset mini --backend onednn --data-dir /shared/datasets --out /shared/runs/mini --script mini.sbatch\n' +
        '  mlaan-bench slurm --preset paper --backend tensorflow-gpu --out /shared/runs/paper --partition gpu --max-time 2-00:00:00 --script paper.sbatch\n' +
        '  bash mini.sbatch        # submits the array, then the report job (afterany)\n\n' +
        "Each task trains --shard t+1/<tasks> of the grid into --out, which all tasks share. The time limit is estimated from the speeds\n" +
        'finished runs measured (the ones committed under benchmarks/, or --throughput-from), unless --time gives it.' +
        registryHelp(),
    );
  addSlurmOptions(addTrainingOptions(slurm, false)).action(async (_options: unknown, command: Command) => {
    setExitCode(await slurmCommand(command, argv, io));
  });

  program
    .command('report')
    .description('write the reports of every finished configuration in a results folder, or merge several folders (shards, machines) into one report')
    .argument('[folders...]', 'results folders to merge into --out (each one an ablation --out); none: report --out itself')
    .addOption(new Option('-o, --out <dir>', 'output folder; without it and without folders, the default or the one folder inside it that holds results (the demo\'s: mlaan-bench-results/demo)').default(DEFAULT_OUT_DIR))
    .addHelpText(
      'after',
      '\nExamples:\n  mlaan-bench report --out mlaan-bench-results/demo\n  mlaan-bench report --out merged runs/shard-1 runs/shard-2 runs/shard-3\n\n' +
        'Merging: a configuration found in several folders must be the same training in each (else the report is refused, naming both\n' +
        'folders); the configurations of the folders\' grids (grid.json, written by ablation) that none has finished are named.',
    )
    .action(async (folders: string[], options: { out: string }, command: Command) => {
      await reportCommand(options.out, command.getOptionValueSource('out') === 'cli', folders, argv, io);
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
