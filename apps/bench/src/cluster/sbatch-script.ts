import { quoteArgument } from '../shell.js';
import { formatSlurmTime } from './slurm-time.js';

/** Backends whose tensors live on a GPU: their array tasks ask Slurm for one (`--gres=gpu:1`). */
export const GPU_BACKENDS: readonly string[] = ['tensorflow-gpu', 'webgpu'];

/** Everything the script says and does; `planSlurmJob` (cli/slurm-command.ts) works it out. */
export interface SlurmPlan {
  jobName: string;
  /** The array's tasks: task t runs `--shard t+1/tasks`. */
  tasks: number;
  gridSize: number;
  /** Seconds of one task's time limit. */
  timeLimitSeconds: number;
  /** Comment lines: how the time limit was set, and each configuration's estimate. */
  timeNotes: string[];
  gpu: boolean;
  cpusPerTask: number;
  memory?: string;
  partition?: string;
  account?: string;
  /** More `#SBATCH` options, as given (`--qos=long`). */
  extraOptions: string[];
  /** At most this many tasks at once (`--array=0-N%k`). */
  maxParallel?: number;
  /** Seconds before the time limit at which a task checkpoints and requeues itself. */
  warningSeconds: number;
  /** A task requeues itself at its time limit at most this often (SLURM_RESTART_COUNT). */
  maxTimeRequeues: number;
  /** How a task starts the bench: node and its entry (and tsx when it runs from the TypeScript sources). */
  launcher: string[];
  /** The shared results folder (absolute). */
  out: string;
  /** `mlaan-bench ablation` arguments that make the grid, without `--shard`. */
  ablationArguments: string[];
  /** The command that wrote the script. */
  generatedBy: string;
  warnings: string[];
}

const comment = (lines: readonly string[]) => lines.map((line) => (line === '' ? '#' : `# ${line}`));

/**
 * The sbatch script of a grid: a job array whose task t trains shard t+1 of the grid into one
 * shared results folder (each configuration claimed before it trains), requeued by Slurm with the
 * bench's own checkpoints; run with `bash`, it submits the array and a report job that waits for
 * every task of it (`afterany`) and merges what they finished.
 */
export function sbatchScript(plan: SlurmPlan): string {
  const logs = `${plan.out}/slurm-logs`;
  const directives = [
    `--job-name=${plan.jobName}`,
    `--array=0-${plan.tasks - 1}${plan.maxParallel ? `%${plan.maxParallel}` : ''}`,
    `--time=${formatSlurmTime(plan.timeLimitSeconds)}`,
    `--cpus-per-task=${plan.cpusPerTask}`,
    ...(plan.gpu ? ['--gres=gpu:1'] : []),
    ...(plan.memory ? [`--mem=${plan.memory}`] : []),
    ...(plan.partition ? [`--partition=${plan.partition}`] : []),
    ...(plan.account ? [`--account=${plan.account}`] : []),
    ...plan.extraOptions,
    '--requeue',
    '--open-mode=append',
    `--output=${logs}/%A_%a.log`,
    `--signal=B:USR1@${plan.warningSeconds}`,
  ];
  const reportOptions = [
    `--job-name=${plan.jobName}-report`,
    '--time=00:30:00',
    '--cpus-per-task=1',
    ...(plan.partition ? [`--partition=${plan.partition}`] : []),
    ...(plan.account ? [`--account=${plan.account}`] : []),
    `--output=${logs}/report-%j.log`,
  ];
  const header = comment([
    `${plan.jobName}: an mlaan-bench grid as a Slurm job array, written by`,
    `  ${plan.generatedBy}`,
    '',
    'Submit:  bash THIS_SCRIPT   (the array, then a report job that waits for every task of it)',
    `         sbatch THIS_SCRIPT (the array alone; the report afterwards: mlaan-bench report --out ${plan.out})`,
    `Grid:    ${plan.gridSize} configurations, ${plan.tasks} array tasks; task t trains --shard t+1/${plan.tasks} (the configurations`,
    '         sorted by id, dealt out in turn), into one results folder that every task shares; each configuration',
    '         is claimed there before it trains, so none is trained twice.',
    `Results: ${plan.out} (report.html once the report job ran)`,
    `Logs:    ${logs}/<array job>_<task>.log (appended across requeues), report-<job>.log`,
    'Requeue and preemption: Slurm sends SIGTERM; the bench finishes its step, saves a checkpoint and exits, and',
    `         the requeued task resumes from it (it also checkpoints every --checkpoint-every steps and each epoch, so`,
    `         a hard kill loses at most the steps since then). ${plan.warningSeconds} s before the time limit Slurm sends USR1: the task`,
    `         checkpoints the same way and requeues itself (at most ${plan.maxTimeRequeues} times), so a configuration longer than`,
    '         the limit goes on over several runs. A rerun of the whole array skips finished configurations.',
    '',
    ...plan.timeNotes,
    ...plan.warnings.map((warning) => `Warning: ${warning}`),
  ]);
  const ablation = plan.ablationArguments.map(quoteArgument).join(' ');
  const body = `
set -uo pipefail

# Node >= 20.19 and the bench, as the compute nodes reach them (edit if they differ from this machine's).
bench=(${plan.launcher.map(quoteArgument).join(' ')})
OUT=${quoteArgument(plan.out)}
TASKS=${plan.tasks}

if [ -z "\${SLURM_ARRAY_TASK_ID:-}" ]; then
  # Run with bash (not as an array task): submit the array, then the report job that waits for it.
  mkdir -p "$OUT/slurm-logs"
  array=$(sbatch --parsable "$0") || exit 1
  array=\${array%%;*}
  report_command=$(printf '%q ' "\${bench[@]}" report --out "$OUT")
  report=$(sbatch --parsable ${reportOptions.map(quoteArgument).join(' ')} --dependency="afterany:$array" --wrap="$report_command") || exit 1
  echo "Submitted array job $array ($TASKS tasks) and report job \${report%%;*} (runs once every task has ended)."
  exit 0
fi

shard="$((SLURM_ARRAY_TASK_ID + 1))/$TASKS"
export OMP_NUM_THREADS="\${SLURM_CPUS_PER_TASK:-${plan.cpusPerTask}}"
echo "$(date -Is) task $SLURM_ARRAY_TASK_ID (--shard $shard) of job \${SLURM_ARRAY_JOB_ID:-?} on $(hostname), requeued \${SLURM_RESTART_COUNT:-0} time(s) before"

# Slurm's warning before the time limit reaches this shell alone (--signal=B:USR1@...): the bench
# gets it as SIGTERM (finish the step, checkpoint, exit 130), then this task requeues itself.
time_up=0
trap 'time_up=1; kill -TERM "$pid" 2>/dev/null' USR1
# On scancel, requeue or preemption Slurm signals every process of the job itself, the bench included.
trap ':' TERM

"\${bench[@]}" ablation ${ablation} --shard "$shard" --progress lines &
pid=$!
while true; do
  wait "$pid"
  status=$?
  # A trapped signal ends \`wait\` early; wait again until the bench itself has exited.
  kill -0 "$pid" 2>/dev/null || break
done

if [ "$status" -eq 130 ] && [ "$time_up" -eq 1 ]; then
  if [ "\${SLURM_RESTART_COUNT:-0}" -lt ${plan.maxTimeRequeues} ]; then
    echo "$(date -Is) time limit near: checkpoint saved; requeueing this task to go on"
    scontrol requeue "$SLURM_JOB_ID"
  else
    echo "$(date -Is) time limit near, and this task was requeued ${plan.maxTimeRequeues} times already: not again. Raise --time (or resubmit)."
  fi
fi
exit "$status"
`;
  return `#!/bin/bash\n${header.join('\n')}\n#\n${directives.map((directive) => `#SBATCH ${directive}`).join('\n')}\n${body}`;
}
