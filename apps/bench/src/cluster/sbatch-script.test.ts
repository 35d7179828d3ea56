import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { sbatchScript, type SlurmPlan } from './sbatch-script.js';

const plan: SlurmPlan = {
  jobName: 'mlaan-mini',
  tasks: 7,
  gridSize: 14,
  timeLimitSeconds: 3 * 3600 + 60,
  timeNotes: ['Time limit: from the estimate.'],
  gpu: true,
  cpusPerTask: 4,
  memory: '16G',
  partition: 'gpu',
  account: 'lab',
  extraOptions: ['--qos=long'],
  maxParallel: 3,
  warningSeconds: 300,
  maxTimeRequeues: 20,
  launcher: ['/opt/node/bin/node', '/home/me/mlaan js/apps/bench/dist/cli.js'],
  out: '/shared/runs/mini',
  ablationArguments: ['--preset', 'mini', '--backend', 'tensorflow-gpu', '--out', '/shared/runs/mini'],
  generatedBy: 'mlaan-bench slurm --preset mini',
  warnings: [],
};

describe('the sbatch script', () => {
  const script = sbatchScript(plan);
  it('asks Slurm for the array, the time, the GPU and the requeue, with a log per task kept across requeues', () => {
    const directives = script.split('\n').filter((line) => line.startsWith('#SBATCH ')).map((line) => line.slice(8));
    expect(directives).toEqual([
      '--job-name=mlaan-mini',
      '--array=0-6%3',
      '--time=03:01:00',
      '--cpus-per-task=4',
      '--gres=gpu:1',
      '--mem=16G',
      '--partition=gpu',
      '--account=lab',
      '--qos=long',
      '--requeue',
      '--open-mode=append',
      '--output=/shared/runs/mini/slurm-logs/%A_%a.log',
      '--signal=B:USR1@300',
    ]);
    expect(sbatchScript({ ...plan, gpu: false })).not.toContain('--gres');
  });

  it('runs shard t+1 of the tasks, quoting what needs quotes, and submits the report job after the array', () => {
    expect(script).toContain(`bench=(/opt/node/bin/node '/home/me/mlaan js/apps/bench/dist/cli.js')`);
    expect(script).toContain('"${bench[@]}" ablation --preset mini --backend tensorflow-gpu --out /shared/runs/mini --shard "$shard" --progress lines &');
    expect(script).toContain('shard="$((SLURM_ARRAY_TASK_ID + 1))/$TASKS"');
    expect(script).toContain('--dependency="afterany:$array"');
    expect(script).toContain('--job-name=mlaan-mini-report --time=00:30:00 --cpus-per-task=1 --partition=gpu --account=lab --output=/shared/runs/mini/slurm-logs/report-%j.log');
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
  });
});
