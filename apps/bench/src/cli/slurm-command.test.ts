import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { configId } from '../configuration/configuration-id.js';
import { expandGrid } from '../configuration/grid.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { readGridManifest } from '../results/grid-manifest.js';
import { writeResult } from '../results/result-format.js';
import { result } from '../results/result.fixture.js';
import { removeScratchFolders, runCli, scratchFolder } from '../testing.js';
import { ablationArguments, addSlurmOptions } from './slurm-command.js';
import { addTrainingOptions, executionFrom, presetFrom, settingsFrom } from './training-options.js';

afterAll(removeScratchFolders);

function parsed(argv: string[]): Command {
  const command = addSlurmOptions(addTrainingOptions(new Command('slurm'), false)).exitOverride();
  command.parse(argv, { from: 'user' });
  return command;
}

describe('the ablation command an array task runs', () => {
  it('makes the same grid with the same execution options as the slurm command line, paths absolute', () => {
    const given = [
      '--preset', 'mini', '--framework', 'dgl,infopro', '--plugins', 'none,mlaan', '--K', '4,per-block', '--seeds', '0-2', '--no-nesterov', '--momentum', '0.8',
      '--dgl-head', 'linear', '--infopro-lambda', '5,0.5,0,0', '--infopro-task', 'cross-entropy', '--train-limit', '500', '--data-dir', 'datasets',
      '--checkpoint-every', '10', '--memory-every', '0', '--workers', '2', '--exchange', 'delayed', '--keep-checkpoints', '--download',
      '--time', '90', '--partition', 'gpu', '--sbatch', '--qos=long', '--script', 'x.sbatch', '--progress', 'bar', '--out', 'runs/here',
    ];
    const slurm = parsed(given);
    const args = ablationArguments(slurm, resolve('runs/here'));
    expect(args).not.toContain('--time');
    expect(args).not.toContain('--partition');
    expect(args).not.toContain('--progress');
    expect(args.slice(args.indexOf('--data-dir'), args.indexOf('--data-dir') + 2)).toEqual(['--data-dir', resolve('datasets')]);
    expect(args.slice(-2)).toEqual(['--out', resolve('runs/here')]);

    const ablation = addTrainingOptions(new Command('ablation'), false).exitOverride();
    ablation.parse(args, { from: 'user' });
    const grid = (command: Command) => expandGrid(resolveSettings(presetFrom(command), settingsFrom(command))).map(configId);
    expect(grid(ablation)).toEqual(grid(slurm));
    expect(grid(ablation)).toHaveLength(2 * 2 * 2 * 3);
    expect(executionFrom(ablation)).toEqual({ ...executionFrom(slurm), dataDir: resolve('datasets') });
  });
});

describe('mlaan-bench slurm', () => {
  const tiny = ['--framework', 'dgl', '--K', '4', '--seeds', '0,1,2', '--epochs', '3', '--train-limit', '100', '--test-limit', '50', '--backend', 'cpu'];

  it('estimates the time limit from the runs of --throughput-from, and writes the grid and the log folder', async () => {
    const measured = await scratchFolder('slurm-measured');
    const [config] = expandGrid(resolveSettings(undefined, { frameworks: ['dgl'], Ks: [4], epochs: 2, trainLimit: 100, testLimit: 50, backend: 'cpu' }));
    // 2 epochs, 100 training and 50 test images: (2400 - 400) s / 200 = 10 s per training image, 400 s / 100 = 4 s per test image.
    const run = { ...result(config!, 4, 10, 2 ** 20, 30), wallSeconds: 2400, evalSeconds: 400 };
    run.epochs = [run.epochs[0]!, { ...run.epochs[0]!, epoch: 2 }];
    await writeResult(join(measured, 'runs', run.id), run);
    const out = await scratchFolder('slurm-out');
    const script = join(out, 'job.sbatch');
    const { code, stderr } = await runCli(['slurm', ...tiny, '--per-task', '2', '--throughput-from', measured, '--out', out, '--script', script]);
    expect(code, stderr).toBe(0);
    // Each configuration: 3 epochs × (100 × 10 s + 50 × 4 s) = 3600 s; the first task has two of the three.
    expect(stderr).toContain(`Wrote ${script}: 3 configurations as 2 array tasks of 03:10:00. Submit with: bash ${script}`);
    expect(stderr).toContain("Time limit: 03:10:00 per task = the longest task's estimate (task 0: 2.0 h) × 1.5 + 10 min.");
    expect(stderr).toContain('The whole grid: 3.0 h of training, 6.0 CPU-core-hours (2 CPUs per task).');
    const text = await readFile(script, 'utf8');
    expect(text).toContain('#   task 0: DGL K=4 seed ');
    expect(text).toContain('1.0 h = 3 epochs × (100 images × 10000.00 ms + 50 test images × 4000.00 ms), from DGL K=4 seed 0 (same settings) on cpu');
    expect(text).toContain('#SBATCH --array=0-1');
    expect(existsSync(join(out, 'slurm-logs'))).toBe(true);
    expect((await readGridManifest(out))?.configurations).toHaveLength(3);
  });

  it('asks for a GPU for a GPU backend, and without a measurement of it asks for --time or --throughput-from', async () => {
    const out = await scratchFolder('slurm-gpu');
    const gpu = [...tiny.slice(0, -1), 'tensorflow-gpu', '--out', out];
    const refused = await runCli(['slurm', ...gpu]);
    expect(refused.stderr).toMatch(/No measured speed to estimate the time limit of 3 of the 3 configurations from .*was measured on the tensorflow-gpu backend.*Give the time limit with --time.*--throughput-from calibration/);
    expect(refused.code).toBe(2);
    const given = await runCli(['slurm', ...gpu, '--time', '1-00:00:00']);
    expect(given.code).toBe(0);
    expect(given.stdout).toContain('#SBATCH --gres=gpu:1');
    expect(given.stdout).toContain('#SBATCH --time=1-00:00:00');
    expect(given.stdout).toContain('# Time limit: 1-00:00:00 per task, as given (--time).');
  });

  it('refuses --force, which every requeue would repeat', async () => {
    const { code, stderr } = await runCli(['slurm', ...tiny, '--time', '60', '--force', '--out', await scratchFolder('slurm-force')]);
    expect(stderr).toMatch(/--force would train finished configurations again each time a task is requeued/);
    expect(code).toBe(2);
  });
});
