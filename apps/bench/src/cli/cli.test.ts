import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recoverCheckpoint } from '@mlaan/core';
import { cifarFolder, dataFolder } from '@mlaan/test-support';
import { afterAll, describe, expect, it } from 'vitest';
import { removeScratchFolders, runCli as runInProcess, runFolders, scratchFolder } from '../testing.js';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dataDir = dataFolder();
const haveCifar = cifarFolder() !== undefined;

describe('option validation', () => {
  it('--help lists every option of the brief', async () => {
    const { code, stdout } = await runInProcess(['ablation', '--help']);
    expect(code).toBe(0);
    for (const option of [
      '--framework', '--plugins', '--K', '--network', '--dataset', '--backend', '--epochs', '--batch-size', '--lr',
      '--train-limit', '--test-limit', '--seeds', '--data-dir', '--out', '--preset', '--checkpoint-every', '--progress',
    ]) {
      expect(stdout).toContain(option);
    }
    expect(stdout).toContain('"tensorflow-gpu"');
    expect(stdout).toContain('MLAAN_DATA_DIR');
    expect(stdout).toMatch(/smoke\s+A few minutes/);
  });

  it.each([
    [['run', '--framework', 'dgx'], /Unknown framework 'dgx'. Use one of: e2e, dgl, infopro/],
    [['ablation', '--plugins', 'none,mlaam'], /Unknown plugin set 'mlaam'/],
    [['run', '--backend', 'cuda'], /argument 'cuda' is invalid. Allowed choices are auto, tensorflow-gpu, webgpu, tensorflow, onednn, wasm, cpu/],
    [['run', '--epochs', '0'], /--epochs <n>' argument '0' is invalid. Expected a positive integer/],
    [['run', '--lr', 'fast'], /Expected a positive number/],
    [['ablation', '--seeds', '4-1'], /runs backwards/],
    [['ablation', '--K', 'two'], /K must be a positive integer or 'per-block'/],
    [['ablation', '--framework', 'dgl', '--K', '5'], /K=5 is not a split of resnet32\. Valid K for local frameworks: 2, 3, 4, 8, 16, per-block/],
    [['run', '--framework', 'e2e,dgl'], /trains one configuration, but --framework has 2 values/],
    [['run', '--framework', 'e2e', '--K', '4'], /--K does not apply to e2e/],
    [['ablation', '--framework', 'e2e', '--plugins', 'mlaan'], /grid is empty: MLM, LAM and MLAAN need local modules/],
    [['ablation', '--dataset', 'imagenet'], /ImageNet needs an ImageNet network/],
    [['ablation', '--bogus'], /unknown option '--bogus'/],
  ])('%j is refused with a clear message and exit code 2', async (argv, message) => {
    const { code, stderr } = await runInProcess(argv as string[]);
    expect(stderr).toMatch(message);
    expect(code).toBe(2);
  });
});

describe('--backend tensorflow-gpu without @tensorflow/tfjs-node-gpu', () => {
  it('fails before training with the package to install and the CUDA it needs', async () => {
    const out = await scratchFolder('gpu');
    try {
      const { code, stderr } = await runInProcess(['run', '--backend', 'tensorflow-gpu', '--epochs', '1', '--train-limit', '16', '--out', out, '--progress', 'none']);
      expect(stderr).toMatch(/Backend 'tensorflow-gpu' needs the npm package @tensorflow\/tfjs-node-gpu, which is not installed\. Install it with `npm install @tensorflow\/tfjs-node-gpu`/);
      expect(stderr).toMatch(/CUDA 11\.2 and cuDNN 8\.1/);
      expect(code).toBe(1);
      expect(await runFolders(out)).toEqual([]);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('a run that never leaves warm-up', () => {
  it('is warned about before anything trains', async () => {
    const out = await scratchFolder('warmup');
    try {
      // tensorflow-gpu is not installed here, so the run stops right after the warning: nothing trains.
      const { stderr } = await runInProcess(['run', '--epochs', '2', '--warmup-epochs', '10', '--lr', '0.8', '--backend', 'tensorflow-gpu', '--out', out, '--progress', 'lines']);
      const warning = stderr.indexOf('warning: 2 epoch(s) with 10 warm-up epochs: the run never leaves warm-up');
      expect(warning).toBeGreaterThan(-1);
      expect(warning).toBeLessThan(stderr.indexOf('tensorflow-gpu'));
      expect(stderr).toContain('Give --warmup-epochs 0 or --schedule cosine-annealing, or more --epochs.');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function spawnCli(argv: string[]): { child: ChildProcess; done: Promise<Finished> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(appDir, 'src/cli.ts'), ...argv], {
    cwd: appDir,
    env: { ...process.env, MLAAN_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<Finished>((resolveDone) => child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })));
  return { child, done };
}

async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 180_000): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!haveCifar)('the CLI on real CIFAR-10 (wasm, one epoch)', () => {
  afterAll(removeScratchFolders);

  // E2E, then DGL at K=2: 192 training images in batches of 32 (6 steps each), 128 test images.
  const grid = (out: string) => [
    'ablation', '--framework', 'e2e,dgl', '--plugins', 'none', '--K', '2', '--epochs', '1',
    '--train-limit', '192', '--test-limit', '128', '--batch-size', '32', '--eval-batch-size', '64', '--lr', '0.05', '--schedule', 'constant',
    '--backend', 'wasm', '--checkpoint-every', '2', '--memory-every', '3', '--progress', 'lines', '--out', out,
  ];

  it('survives a kill mid-run: the rerun skips the finished configuration, resumes the other, and writes every report', async () => {
    const out = await scratchFolder('cli');

    // 1. Kill (SIGKILL: no chance to clean up) once E2E has finished and DGL has saved a checkpoint.
    const first = spawnCli(grid(out));
    const dglCheckpoint = async () => {
      const dgl = (await runFolders(out)).find((name) => name.includes('-dgl-'));
      return dgl !== undefined && existsSync(join(out, 'runs', dgl, 'checkpoint', 'checkpoint.json'));
    };
    await Promise.race([waitFor(dglCheckpoint, 'a DGL checkpoint'), first.done.then((f) => Promise.reject(new Error(`CLI ended early (${f.code}): ${f.stderr}`)))]);
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    const [e2eFolder, dglFolder] = [(await runFolders(out)).find((n) => n.includes('-e2e-'))!, (await runFolders(out)).find((n) => n.includes('-dgl-'))!];
    expect(existsSync(join(out, 'runs', e2eFolder, 'result.json'))).toBe(true);
    expect(existsSync(join(out, 'runs', dglFolder, 'result.json'))).toBe(false);

    // 2. The same command again.
    const second = await spawnCli(grid(out)).done;
    expect(second.stderr).toMatch(/\[1\/2\] E2E K=1 seed 0 · already finished, skipped/);
    expect(second.stderr).toMatch(/\[2\/2\] DGL K=2 seed 0 · 1 epoch\(s\) × 6 batches · resuming at epoch 1, batch [35]/);
    expect(second.code).toBe(0);

    const dglResult = JSON.parse(await readFile(join(out, 'runs', dglFolder, 'result.json'), 'utf8'));
    expect(dglResult.sessions).toBe(2);
    expect(existsSync(join(out, 'runs', dglFolder, 'checkpoint'))).toBe(false);

    // 3. What it wrote.
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.runs.map((r: { method: string; modules: number }) => `${r.method}/${r.modules}`)).toEqual(['E2E/1', 'DGL/2']);
    for (const run of results.runs) {
      expect(run.status).toBe('completed');
      expect(run.trainImages).toBe(192);
      expect(run.testImages).toBe(128);
      expect(run.epochs).toHaveLength(1);
      // 128 test images: the error is a multiple of 1/128.
      expect(Number.isInteger(Math.round(run.testErrorPercent.last * 1.28 * 1e6) / 1e6)).toBe(true);
      expect(run.testErrorPercent.last).toBeGreaterThanOrEqual(0);
      expect(run.testErrorPercent.last).toBeLessThanOrEqual(100);
      expect(run.testErrorPercent.best).toBe(run.testErrorPercent.last);
      expect(run.memory.step.stepPeakBytes).toBeGreaterThan(run.parameters.total * 4);
      expect(run.memory.step.stepPeakBytes).toBe(run.memory.step.stateBytes + run.memory.step.stepAllocationBytes);
      expect(run.memory.step.sampledSteps).toBeGreaterThan(0);
      // The batch is alive outside the trainer when a step begins: at least its 32 images of 32×32×3 floats.
      expect(run.memory.data.tensorsOutsideTrainerBytes).toBeGreaterThanOrEqual(32 * 32 * 32 * 3 * 4);
      expect(run.memory.data.datasetBytes).toBe((192 + 128) * (32 * 32 * 3 + 4));
      expect(run.memory.data.tensorsLeftByEvaluation).toBe(0);
      expect(run.epochs[0].learningRate).toBe(0.05);
      expect(run.provenance.packages['@mlaan/core']).toMatch(/^\d+\.\d+\.\d+/);
      expect(run.throughput.imagesPerSecond).toBeGreaterThan(0);
      expect(run.wallSeconds).toBeGreaterThan(0);
      expect(run.lossCurve.length).toBeGreaterThan(0);
      expect(run.backend.choice).toBe('wasm');
      expect(Number.isFinite(run.lastTrainLoss)).toBe(true);
    }
    // DGL's auxiliary heads add parameters, yet it holds only one module's activations at a time: less memory.
    expect(results.runs[0].parameters.auxiliary).toBe(0);
    expect(results.runs[1].parameters.backbone).toBe(results.runs[0].parameters.backbone);
    expect(results.runs[1].parameters.auxiliary).toBeGreaterThan(0);
    expect(results.runs[1].memory.step.stepPeakBytes).toBeLessThan(results.runs[0].memory.step.stepPeakBytes);
    // The local-learning view: one loss per module for DGL, the network's own loss for E2E.
    expect(Object.keys(results.runs[1].epochs[0].moduleLosses)).toHaveLength(2);
    expect(Object.keys(results.runs[0].epochs[0].moduleLosses)).toHaveLength(1);

    const csv = (await readFile(join(out, 'results.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(3);
    expect(csv[1]).toContain(',e2e,none,E2E,1,1,');
    expect(csv[2]).toContain(',dgl,none,DGL,2,2,');
    const markdown = await readFile(join(out, 'results.md'), 'utf8');
    expect(markdown).toContain('| Method | K=1 | K=2 |');
    // One epoch is not the papers' protocol: their numbers stand apart, marked not comparable (issue 27).
    expect(markdown).toMatch(/\| E2E \| \d+\.\d\d \| – \|/);
    expect(markdown).toMatch(/\| DGL \| – \| \d+\.\d\d \|/);
    expect(markdown).toContain('### Published test error (%): the papers’ protocol: 160–400 epochs on the full training set, not comparable with these runs');
    expect(markdown).toContain('| E2E | 7.37 | – |');
    expect(markdown).toContain('resumed 1×');
    const html = await readFile(join(out, 'report.html'), 'utf8');
    const charts = await readdir(join(out, 'charts'));
    // error and memory vs K, test error, test loss and learning rate per epoch, DGL's module losses, loss curves.
    expect(charts.filter((name) => name.endsWith('.svg'))).toHaveLength(7);
    expect(html.match(/<svg/g)).toHaveLength(7);
    for (const heading of ['Parameters: backbone and auxiliary', 'Hyperparameters', 'Code and versions', 'Input data held (MiB)']) expect(html).toContain(heading);
    expect(second.stdout).toContain('| Method | K=1 | K=2 |');

    // 4. The resumed run is the run that was never interrupted: same batches, weights, statistics.
    const uninterruptedOut = await scratchFolder('cli');
    const dglOnly = grid(uninterruptedOut).map((arg) => (arg === 'e2e,dgl' ? 'dgl' : arg));
    const uninterrupted = await spawnCli(dglOnly).done;
    expect(uninterrupted.code).toBe(0);
    const reference = JSON.parse(await readFile(join(uninterruptedOut, 'runs', dglFolder, 'result.json'), 'utf8'));
    expect(reference.sessions).toBe(1);
    expect(dglResult.epochs.map((e: { trainLoss: number; testLoss: number }) => [e.trainLoss, e.testLoss])).toEqual(
      reference.epochs.map((e: { trainLoss: number; testLoss: number }) => [e.trainLoss, e.testLoss]),
    );
    expect(dglResult.testErrorPercent).toEqual(reference.testErrorPercent);

    // 5. Once more: nothing left to train, so not even the backend starts.
    const third = await spawnCli(grid(out)).done;
    expect(third.code).toBe(0);
    expect(third.stderr.match(/already finished, skipped/g)).toHaveLength(2);
    expect(third.stderr).not.toContain('backend: using');

    // 6. `report` rebuilds the reports from the runs folder alone.
    await rm(join(out, 'results.json'));
    const report = await runInProcess(['report', '--out', out]);
    expect(report.code).toBe(0);
    expect(report.stdout).toContain('from 2 configuration(s)');
    expect(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')).runs).toHaveLength(2);
  });

  it('trains both hosts with the MLAAN plugins', async () => {
    const out = await scratchFolder('mlaan');
    const run = await spawnCli([
      'ablation', '--framework', 'dgl,infopro', '--plugins', 'mlaan', '--K', '2', '--epochs', '1', '--train-limit', '32', '--test-limit', '32',
      '--batch-size', '16', '--schedule', 'constant', '--lr', '0.05', '--backend', 'wasm', '--memory-every', '1', '--progress', 'lines', '--out', out,
    ]).done;
    expect(run.stderr).not.toContain('FAILED');
    expect(run.code).toBe(0);
    const results = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(results.runs.map((r: { method: string }) => r.method)).toEqual(['DGL+MLAAN', 'InfoPro+MLAAN']);
    for (const result of results.runs) {
      expect(result.status).toBe('completed');
      expect(result.memory.step.sampledSteps).toBe(2);
      // Heads, decoders and leap nets are auxiliary; LAM's EMA twins are auxiliary buffers.
      expect(result.parameters.auxiliary).toBeGreaterThan(0);
      expect(result.parameters.auxiliaryBuffers).toBeGreaterThan(0);
      expect(Number.isFinite(result.lastTrainLoss)).toBe(true);
    }
  });

  it('interrupting a shard loses only the steps since its last checkpoint, and only a whole shard says it is done', async () => {
    // E2E, seeds 0 to 3: shard 2/2 is seeds 1 and 3 (ids sorted, dealt out in turn), 8 steps each,
    // a checkpoint after every step. Seed 1 finishes; seed 3 is interrupted twice.
    const out = await scratchFolder('shard');
    const shard = [
      'ablation', '--framework', 'e2e', '--seeds', '0,1,2,3', '--shard', '2/2', '--epochs', '1', '--train-limit', '128', '--test-limit', '32',
      '--batch-size', '16', '--schedule', 'constant', '--lr', '0.05', '--backend', 'wasm', '--checkpoint-every', '1', '--memory-every', '0',
      '--progress', 'lines', '--out', out,
    ];
    const seed3 = async () => (await runFolders(out)).find((name) => name.includes('-s3-'));
    const savedCursor = async (): Promise<{ epoch: number; batch: number } | undefined> => {
      const folder = await seed3();
      if (!folder) return undefined;
      const manifest = await readFile(join(out, 'runs', folder, 'checkpoint', 'checkpoint.json'), 'utf8').then((t) => JSON.parse(t), () => undefined);
      return manifest?.extra?.state?.cursor;
    };
    const shardDone = 'Shard 2/2 done.';

    // 1. SIGTERM (what Slurm sends on preemption or requeue) once seed 1 has finished: a checkpoint,
    // exit 130, and no "done" although one configuration finished.
    const terminated = spawnCli(shard);
    await waitFor(async () => (await savedCursor()) !== undefined, 'a checkpoint of seed 3');
    terminated.child.kill('SIGTERM');
    const stopped = await terminated.done;
    expect(stopped.stderr).toMatch(/SIGTERM: stopping after this step and saving a checkpoint/);
    expect(stopped.stderr).toContain('[1/2] E2E K=1 seed 1 · done · ');
    expect(stopped.code).toBe(130);
    expect(stopped.stdout).not.toContain(shardDone);
    const afterTerm = (await savedCursor())!;
    expect(afterTerm.batch).toBeGreaterThan(0);

    // 2. SIGKILL (a node lost, a grace period overrun): the rerun resumes exactly at the last
    // checkpoint the killed process wrote, whatever it trained after that.
    const killed = spawnCli(shard);
    await waitFor(async () => ((await savedCursor())?.batch ?? 0) > afterTerm.batch, 'a checkpoint past the first session\'s');
    killed.child.kill('SIGKILL');
    expect((await killed.done).signal).toBe('SIGKILL');
    // A kill between a save's renames leaves the previous checkpoint aside: repair it as the rerun will.
    await recoverCheckpoint(join(out, 'runs', (await seed3())!, 'checkpoint'));
    const lastCheckpoint = (await savedCursor())!;
    expect(lastCheckpoint.batch).toBeLessThan(8);

    const resumed = await spawnCli(shard).done;
    expect(resumed.stderr).toMatch(/\[1\/2\] E2E K=1 seed 1 · already finished, skipped/);
    expect(resumed.stderr).toContain(`resuming at epoch 1, batch ${lastCheckpoint.batch + 1}`);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(shardDone);
    expect((await runFolders(out)).map((name) => /-s(\d)-/.exec(name)![1])).toEqual(['1', '3']);
    const result = JSON.parse(await readFile(join(out, 'runs', (await seed3())!, 'result.json'), 'utf8'));
    expect(result.sessions).toBe(3);
    expect(result.lossCurve.at(-1).step).toBe(8);
  });

  it('stops cleanly on SIGINT with a checkpoint and exit code 130', async () => {
    const out = await scratchFolder('sigint');
    const run = spawnCli([
      'run', '--framework', 'e2e', '--epochs', '1', '--train-limit', '128', '--test-limit', '64', '--batch-size', '16',
      '--schedule', 'constant', '--lr', '0.05', '--backend', 'wasm', '--checkpoint-every', '1', '--memory-every', '0', '--progress', 'lines', '--out', out,
    ]);
    await waitFor(async () => (await runFolders(out)).some((name) => existsSync(join(out, 'runs', name, 'checkpoint', 'checkpoint.json'))), 'a checkpoint');
    run.child.kill('SIGINT');
    const stopped = await run.done;
    expect(stopped.stderr).toMatch(/SIGINT: stopping after this step and saving a checkpoint/);
    expect(stopped.stderr).toMatch(/interrupted at epoch 1, batch \d; checkpoint saved, rerun the same command to resume/);
    expect(stopped.code).toBe(130);
    const [folder] = await runFolders(out);
    expect(existsSync(join(out, 'runs', folder!, 'checkpoint', 'checkpoint.json'))).toBe(true);
    expect(existsSync(join(out, 'runs', folder!, 'result.json'))).toBe(false);
  });
});
