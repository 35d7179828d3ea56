import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cifarFolder, dataFolder } from '@mlaan/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../results/result-format.js';
import { CLAIM_FOLDER, type ClaimOwner } from '../results/run-claim.js';
import { removeScratchFolders, runCli, runFolders, scratchFolder } from '../testing.js';
import { type SingleNodeSlurm, slurmUnavailableReason, startSingleNodeSlurm } from './single-node-slurm.testing.js';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const noCifar = cifarFolder() === undefined ? 'no CIFAR-10 copy in $MLAAN_DATA_DIR' : undefined;
const unavailable = slurmUnavailableReason();
// CI installs Slurm (scripts/install-test-packages.sh) and runs as root: there, a missing Slurm fails the suite instead of skipping it.
const required = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== '0';
const skipReason = noCifar ?? (required ? undefined : unavailable);

// Four configurations (E2E and DGL K=2, seeds 0 and 1), 3 epochs of 2 batches each on 32 images, a checkpoint after every step.
const grid = [
  '--framework', 'e2e,dgl', '--K', '2', '--seeds', '0,1', '--epochs', '3', '--train-limit', '32', '--test-limit', '32',
  '--batch-size', '16', '--eval-batch-size', '32', '--schedule', 'constant', '--lr', '0.05', '--backend', 'wasm',
  '--checkpoint-every', '1', '--memory-every', '0', '--data-dir', dataFolder(),
];

/** What a training computed, without what depends on the machine's speed. */
function numbersOf(result: RunResult) {
  return {
    status: result.status,
    trainImages: result.trainImages,
    testImages: result.testImages,
    testErrorPercent: result.testErrorPercent,
    lastTrainLoss: result.lastTrainLoss,
    lastTestLoss: result.lastTestLoss,
    epochs: result.epochs.map(({ seconds: _seconds, imagesPerSecond: _speed, ...numbers }) => numbers),
    lossCurve: result.lossCurve,
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, slurm: SingleNodeSlurm): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}.\n${await slurm.command('squeue', ['--all']).catch(String)}\n${await slurm.logs()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(skipReason !== undefined)(`a grid as a Slurm job array on a single-node cluster${skipReason ? ` [SKIPPED: ${skipReason}]` : ''}`, () => {
  let slurm: SingleNodeSlurm;
  beforeAll(async () => {
    if (unavailable) throw new Error(`CI is set, so the Slurm test must run, but ${unavailable}.`);
    slurm = await startSingleNodeSlurm();
    // What stop() checks is left afterwards (none) it must see now: the three daemons.
    const daemons = (await slurm.processes()).map((p) => p.command.split(' ')[0]);
    for (const daemon of ['munged', 'slurmctld', 'slurmd']) expect(daemons, JSON.stringify(daemons)).toContain(daemon);
  });
  afterAll(async () => {
    try {
      // Rejects when any process of the cluster (daemon, step daemon, job) outlives it.
      await slurm?.stop();
    } finally {
      await removeScratchFolders();
    }
  });

  it('trains every configuration once, survives a requeue mid-configuration, and reports what one process computes', { timeout: 900_000 }, async () => {
    const out = await scratchFolder('slurm-grid');
    const script = join(out, 'grid.sbatch');
    const written = await runCli(['slurm', ...grid, '--out', out, '--time', '15', '--cpus-per-task', '1', '--script', script]);
    expect(written.stderr).toContain(`Wrote ${script}: 4 configurations as 4 array tasks of 00:15:00. Submit with: bash ${script}`);
    const text = await readFile(script, 'utf8');
    expect(text).toContain('#SBATCH --array=0-3');
    expect(text).toContain('#SBATCH --requeue');
    expect(text).not.toContain('--gres');

    // 1. Submit as a user would: `bash script` submits the array and the report job after it.
    const submitted = await new Promise<string>((resolveSubmit, reject) => {
      const child = spawn('bash', [script], { cwd: appDir, env: { ...process.env, ...slurm.environment } });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      child.on('close', (code) => (code === 0 ? resolveSubmit(output) : reject(new Error(`bash ${script} exited ${code}: ${output}`))));
    });
    const [, arrayJob, reportJob] = /Submitted array job (\d+) \(4 tasks\) and report job (\d+)/.exec(submitted) ?? [];
    expect(arrayJob, submitted).toBeDefined();
    expect(await slurm.command('scontrol', ['show', 'job', reportJob!])).toContain(`Dependency=afterany:${arrayJob}_*`);

    // 2. Once a task has checkpointed its configuration and not finished it: requeue that task.
    const interrupted = await waitFor(
      'a task in the middle of its configuration',
      async () => {
        for (const run of await runFolders(out)) {
          const folder = join(out, 'runs', run);
          if (!existsSync(join(folder, 'checkpoint', 'checkpoint.json')) || existsSync(join(folder, 'result.json'))) continue;
          const owner = await readFile(join(folder, CLAIM_FOLDER, 'owner.json'), 'utf8').then((t) => JSON.parse(t) as ClaimOwner, () => undefined);
          const job = owner?.schedulerTask?.split(':')[2];
          if (job) return { run, job };
        }
        return undefined;
      },
      600_000,
      slurm,
    );
    await slurm.command('scontrol', ['requeue', interrupted.job]);
    // Slurm holds a requeued job back for a while (its begin time); release it once it is pending again.
    await waitFor('the requeued task to be pending', async () => ((await slurm.command('squeue', ['--noheader', '--jobs', interrupted.job, '--format=%T'])).trim() === 'PENDING' ? true : undefined), 120_000, slurm);
    await slurm.command('scontrol', ['update', `JobId=${interrupted.job}`, 'StartTime=now']);

    // 3. The report job runs after every task has ended.
    const reportState = await waitFor(
      'the report job to end',
      async () => {
        const state = /JobState=(\w+)/.exec(await slurm.command('scontrol', ['show', 'job', reportJob!]))?.[1];
        return state === 'COMPLETED' || state === 'FAILED' || state === 'CANCELLED' || state === 'TIMEOUT' ? state : undefined;
      },
      600_000,
      slurm,
    );
    const logs = join(out, 'slurm-logs');
    const logFiles = (await readdir(logs)).sort();
    const reportLog = await readFile(join(logs, logFiles.find((name) => name.startsWith('report-'))!), 'utf8');
    expect(reportState, reportLog).toBe('COMPLETED');
    expect(reportLog).toContain('from 4 configuration(s)');
    expect(reportLog).toContain('Every configuration of the grid (4) has a result.');

    // 4. Nothing lost, nothing trained twice: four results, each trained to its end once; the
    // requeued one in two sessions, resumed from its checkpoint; no claim left behind.
    const merged = JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as { runs: RunResult[] };
    expect(merged.runs.map((run) => run.id).sort()).toEqual((await runFolders(out)).sort());
    expect(merged.runs).toHaveLength(4);
    for (const run of merged.runs) {
      expect(run.sessions, run.id).toBe(run.id === interrupted.run ? 2 : 1);
      expect(run.lossCurve.at(-1)!.step, run.id).toBe(3 * 2);
    }
    for (const run of await runFolders(out)) expect(await readdir(join(out, 'runs', run))).toEqual(['result.json']);
    const taskLogs = await Promise.all(logFiles.filter((name) => name.startsWith(`${arrayJob}_`)).map((name) => readFile(join(logs, name), 'utf8')));
    expect(taskLogs).toHaveLength(4);
    const all = taskLogs.join('\n');
    expect(all.match(/ · done · /g)).toHaveLength(4);
    expect(all.match(/SIGTERM: stopping after this step and saving a checkpoint/g)).toHaveLength(1);
    expect(all.match(/resuming at epoch/g)).toHaveLength(1);
    expect(all).toMatch(/DUE TO JOB REQUEUE/);

    // 5. The same grid in one process: the same numbers for every configuration.
    const local = await scratchFolder('slurm-local');
    const reference = await runCli(['ablation', ...grid, '--out', local, '--progress', 'none']);
    expect(reference.code, reference.stderr).toBe(0);
    const expected = JSON.parse(await readFile(join(local, 'results.json'), 'utf8')) as { runs: RunResult[] };
    const byId = new Map(merged.runs.map((run) => [run.id, run]));
    expect([...byId.keys()].sort()).toEqual(expected.runs.map((run) => run.id).sort());
    for (const run of expected.runs) expect(numbersOf(byId.get(run.id)!), run.id).toEqual(numbersOf(run));
  });
});
