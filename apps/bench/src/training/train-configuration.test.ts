import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createLoader, loadDataset } from '@mlaan/data';
import { cifarFolder, dataFolder } from '@mlaan/test-support';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { activateBackend, type ActiveBackend } from '../backend.js';
import { expandGrid } from '../configuration/grid.js';
import type { RunConfig } from '../configuration/settings.js';
import { resolveSettings } from '../configuration/resolve-settings.js';
import { DatasetCache } from '../data.js';
import { divergedLine, type TrainingObserver } from '../progress.js';
import type { RunResult } from '../results/result-format.js';
import { batchesFrom, disposedAfterUse } from './batches.js';
import { trainConfiguration } from './train-configuration.js';
import { moduleCount } from '../configuration/configuration-facts.js';

const dataDir = dataFolder();
const haveCifar = cifarFolder() !== undefined;

describe('moduleCount', () => {
  it('is 1 for E2E, K for the tables, one per block (15 for ResNet-32) for per-block', () => {
    const settings = resolveSettings(undefined, { frameworks: ['e2e', 'dgl'], Ks: [4, 'per-block'], epochs: 1 });
    expect(expandGrid(settings).map((c) => `${c.framework} ${c.K} ${moduleCount(c)}`)).toEqual(['e2e 1 1', 'dgl 4 4', 'dgl per-block 15']);
  });
});

describe.skipIf(!haveCifar)('batchesFrom (resuming inside an epoch)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives the same augmented batches as the uninterrupted epoch, from the resume point on', async () => {
    const dataset = await loadDataset({ name: 'cifar10', split: 'train', dataDir, limit: 80 });
    const loader = createLoader(dataset, { batchSize: 16, seed: 7, workers: 1 });
    const collect = async (iterable: AsyncIterable<{ inputs: tf.Tensor; labels: tf.Tensor }>) => {
      const out: { inputs: Float32Array; labels: Int32Array }[] = [];
      for await (const batch of iterable) {
        out.push({ inputs: batch.inputs.dataSync() as Float32Array, labels: batch.labels.dataSync() as Int32Array });
        batch.inputs.dispose();
        batch.labels.dispose();
      }
      return out;
    };
    const before = tf.memory().numTensors;
    const whole = await collect(batchesFrom(loader, 2, 0));
    const resumed = await collect(batchesFrom(loader, 2, 3));
    await loader.close();
    expect(whole).toHaveLength(5);
    expect(resumed).toHaveLength(2);
    expect(resumed[0]!.labels).toEqual(whole[3]!.labels);
    expect(resumed[1]!.inputs).toEqual(whole[4]!.inputs);
    // A different epoch is shuffled and augmented differently, so the check above can fail.
    const other = await collect(batchesFrom(loader, 3, 3));
    expect(other[0]!.inputs).not.toEqual(whole[3]!.inputs);
    await loader.close();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('disposedAfterUse', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('disposes each batch once the consumer moves on or stops, and tolerates a consumer that disposed it already', async () => {
    async function* three() {
      for (let i = 0; i < 3; i++) yield { inputs: tf.zeros([1, 2, 2, 3]) as tf.Tensor4D, labels: tf.tensor1d([i], 'int32') };
    }
    const before = tf.memory().numTensors;
    for await (const batch of disposedAfterUse(three())) {
      expect(batch.inputs.isDisposed).toBe(false);
      if (batch.labels.dataSync()[0] === 1) batch.inputs.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    for await (const batch of disposedAfterUse(three())) {
      if (batch.labels.dataSync()[0] === 0) break;
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.skipIf(!haveCifar)('trainConfiguration on real CIFAR-10 (wasm, tiny runs)', () => {
  let backend: ActiveBackend;
  const folders: string[] = [];
  const data = new DatasetCache(dataDir, false);
  beforeAll(async () => {
    backend = await activateBackend('wasm', () => undefined);
  });
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });

  const tiny = (overrides: Partial<Parameters<typeof resolveSettings>[1]>): RunConfig =>
    expandGrid(
      resolveSettings(undefined, {
        frameworks: ['e2e'],
        epochs: 1,
        batchSize: 16,
        evalBatchSize: 32,
        learningRate: 0.05,
        schedule: 'constant',
        trainLimit: 32,
        testLimit: 64,
        backend: 'wasm',
        ...overrides,
      }),
    )[0]!;

  async function train(
    config: RunConfig,
    observer: Partial<TrainingObserver> = {},
    memoryEvery = 1,
    pipeline: { workers?: number; checkpointEvery?: number; exchange?: 'exact' | 'delayed' } = {},
  ): Promise<RunResult> {
    const runDir = await mkdtemp(join(tmpdir(), 'mlaan-bench-train-'));
    folders.push(runDir);
    const outcome = await trainConfiguration(config, {
      runDir,
      data,
      backend,
      checkpointEvery: pipeline.checkpointEvery ?? 0,
      memoryEvery,
      loaderWorkers: 0,
      workers: pipeline.workers,
      exchange: pipeline.exchange,
      observer: { started: () => undefined, step: () => undefined, evaluating: () => undefined, epochDone: () => undefined, ...observer },
      stop: { requested: false },
      command: 'test',
    });
    if (outcome.status !== 'finished') throw new Error('the run did not finish');
    return outcome.result;
  }

  it('holds as many tensors after its last epoch as after its first: evaluation leaves nothing behind', async () => {
    const tensorsAfterEpoch: number[] = [];
    const result = await train(tiny({ epochs: 3, trainLimit: 16, testLimit: 32 }), { epochDone: () => tensorsAfterEpoch.push(tf.memory().numTensors) }, 0);
    expect(tensorsAfterEpoch).toHaveLength(3);
    expect(tensorsAfterEpoch[2]).toBe(tensorsAfterEpoch[0]);
    expect(result.memory.data.tensorsLeftByEvaluation).toBe(0);
    expect(result.epochs.map((epoch) => epoch.learningRate)).toEqual([0.05, 0.05, 0.05]);
  });

  it('never reads the device synchronously: steps, their memory sampling, the losses read every few steps, checkpoints and evaluation', async () => {
    // Every synchronous read from JavaScript (dataSync, arraySync, bufferSync) goes through the
    // engine's readSync; on webgpu it fails outright, on a CUDA GPU it stalls the queue each step.
    const engineRead = vi.spyOn(tf.engine(), 'readSync');
    try {
      // DGL K = 4: four steps (one read of their losses at the end), each profiled for memory,
      // a checkpoint after every step, then the evaluation.
      const config = tiny({ frameworks: ['dgl'], Ks: [4], trainLimit: 32, batchSize: 8, testLimit: 32, frameworkOptions: { dgl: { head: 'linear' } } });
      const result = await train(config, {}, 1, { checkpointEvery: 1 });
      expect(result.status).toBe('completed');
      expect(result.lossCurve).toHaveLength(4);
      expect(result.memory.step.sampledSteps).toBe(4);
      expect(Number.isFinite(result.epochs[0]!.testErrorPercent)).toBe(true);
      expect(engineRead).not.toHaveBeenCalled();
    } finally {
      engineRead.mockRestore();
    }
  });

  it('measures the step memory of a run shorter than --memory-every, even of one step (issue 27)', async () => {
    // 16 images in one batch: one step, and the default --memory-every 50.
    const result = await train(tiny({ trainLimit: 16, testLimit: 16 }), {}, 50);
    expect(result.memory.step.sampledSteps).toBe(1);
    expect(result.memory.step.sampleEvery).toBe(50);
    expect(result.memory.step.stepPeakBytes).toBeGreaterThan(result.memory.step.stateBytes);
  });

  it('keeps the dataset out of the step memory: eight times the images, the same step peak', async () => {
    // Only the second step is profiled (memoryEvery 1000): the first one pays for kernel setup.
    const small = await train(tiny({ trainLimit: 32, testLimit: 16 }), {}, 1000);
    const large = await train(tiny({ trainLimit: 256, testLimit: 16 }), {}, 1000);
    expect(large.memory.step.sampledSteps).toBe(1);
    expect(large.memory.data.datasetBytes - small.memory.data.datasetBytes).toBe(224 * (32 * 32 * 3 + 4));
    expect(large.memory.step.stepPeakBytes).toBe(small.memory.step.stepPeakBytes);
    expect(large.memory.step.stateBytes).toBe(small.memory.step.stateBytes);
  });

  it('--workers 2 (module-parallel) trains the same steps as the sequential trainer and records each worker', async () => {
    const config = tiny({ frameworks: ['dgl'], Ks: [4], trainLimit: 16, batchSize: 8, testLimit: 16, frameworkOptions: { dgl: { head: 'linear' } } });
    const sequential = await train(config, {}, 1);
    // A checkpoint after every step: the pipeline is drained at each one.
    const pipelined = await train(config, {}, 1, { workers: 2, checkpointEvery: 1 });
    expect(pipelined.lossCurve).toEqual(sequential.lossCurve);
    expect(pipelined.epochs[0]!.testErrorPercent).toBe(sequential.epochs[0]!.testErrorPercent);
    expect(sequential.pipeline).toBeNull();
    expect(pipelined.pipeline!.workers).toBe(2);
    expect(pipelined.pipeline!.placement.ranges.flat()).toEqual([0, pipelined.pipeline!.placement.ranges[0]![1], pipelined.pipeline!.placement.ranges[0]![1], 4]);
    expect(pipelined.pipeline!.moduleCosts!.milliseconds).toHaveLength(4);
    for (const worker of pipelined.pipeline!.meters) {
      expect(worker.steps).toBe(2);
      expect(worker.busyMs).toBeGreaterThan(0);
      expect(worker.numBytes).toBeGreaterThan(0);
    }
    // Step memory: each worker's own step, measured in the worker; the column is the largest worker's.
    expect(sequential.memory.step.workers).toBeNull();
    const { workers, stepPeakBytes, sampledSteps } = pipelined.memory.step;
    expect(workers!.count).toBe(2);
    for (const worker of workers!.perWorker) {
      expect(worker.sampledSteps).toBe(2);
      expect(worker.stateBytes).toBeGreaterThan(0);
      // The largest sampled step's state + allocation; state and allocation may peak on different steps.
      expect(worker.stepPeakBytes).toBeLessThanOrEqual(worker.stateBytes + worker.stepAllocationBytes);
      expect(worker.stepPeakBytes).toBeGreaterThan(Math.max(worker.stateBytes, worker.stepAllocationBytes));
      expect(worker.stepAllocationBytes).toBeGreaterThan(0);
    }
    const peaks = workers!.perWorker.map((worker) => worker.stepPeakBytes);
    expect(stepPeakBytes).toBe(Math.max(...peaks));
    expect(workers!.stepPeakBytesSum).toBe(peaks[0]! + peaks[1]!);
    expect(sampledSteps).toBe(2);
    // A worker holds and steps part of the model only.
    expect(stepPeakBytes).toBeLessThan(sequential.memory.step.stepPeakBytes);
    expect(pipelined.memory.data.tensorsLeftByEvaluation).toBe(0);
  });

  it('--workers 2 with MLM: --exchange exact and delayed both train; delayed applies the cascade one step late', async () => {
    const config = tiny({ frameworks: ['dgl'], pluginSets: ['mlm'], Ks: [4], trainLimit: 16, batchSize: 8, testLimit: 16, frameworkOptions: { dgl: { head: 'linear' } } });
    const exact = await train(config, {}, 0, { workers: 2 });
    const delayed = await train(config, {}, 1, { workers: 2, exchange: 'delayed' });
    expect([exact.pipeline!.exchange, delayed.pipeline!.exchange]).toEqual(['exact', 'delayed']);
    expect(delayed.status).toBe('completed');
    // The first step's losses come before any update; the second sees weights that differ.
    expect(delayed.lossCurve[0]!.loss).toBe(exact.lossCurve[0]!.loss);
    expect(delayed.lossCurve[1]!.loss).not.toBe(exact.lossCurve[1]!.loss);
    // Workers that exchange cotangents measure their steps too; the earlier one keeps its last input.
    for (const worker of delayed.memory.step.workers!.perWorker) {
      expect(worker.sampledSteps).toBe(2);
      expect(worker.stepAllocationBytes).toBeGreaterThan(0);
    }
    // No checkpoint before the epoch's evaluation: the mirror first takes the workers' state (and
    // makes its momentum buffers) there, which is model state, not something evaluation left.
    expect(delayed.memory.data.tensorsLeftByEvaluation).toBe(0);
  });

  it('stops a run that diverges at the step the trainer skipped, keeps its last good checkpoint and says so in the CLI\'s words (issue 25)', async () => {
    // A learning rate of 1e30 makes the first update overflow the weights: the next step's loss is not finite.
    const config = tiny({ learningRate: 1e30, trainLimit: 64, testLimit: 16 });
    const runDir = await mkdtemp(join(tmpdir(), 'mlaan-bench-diverge-'));
    folders.push(runDir);
    const steps: number[] = [];
    const outcome = await trainConfiguration(config, {
      runDir,
      data,
      backend,
      checkpointEvery: 1,
      memoryEvery: 0,
      loaderWorkers: 0,
      observer: { started: () => undefined, step: (progress) => steps.push(progress.batch), evaluating: () => undefined, epochDone: () => undefined },
      stop: { requested: false },
      command: 'test',
    });
    if (outcome.status !== 'finished') throw new Error('the run did not finish');
    const { result, divergence } = outcome;
    expect(result.status).toBe('diverged');
    expect(divergence).toBeDefined();
    const { at, checkpoint, cause } = divergence!;
    // The run stopped at the first bad step: no step after it was booked, no epoch was evaluated.
    expect(steps).toEqual(Array.from({ length: at.batch - 1 }, (_, i) => i + 1));
    expect(at.batch).toBeLessThan(4);
    expect(result.epochs).toHaveLength(0);
    expect(cause).toBe("its loss 'module0.independent' (module 0) was NaN or infinite");
    expect(cause).not.toMatch(/optimizer|learningRate/);
    // The checkpoint of the step before is kept (a finished run deletes it), and it loads.
    expect(checkpoint).toEqual({ epoch: 0, batch: at.batch - 1, step: at.step - 1, folder: join(runDir, 'checkpoint') });
    const manifest = JSON.parse(await readFile(join(runDir, 'checkpoint', 'checkpoint.json'), 'utf8')) as { extra: { state: { cursor: { globalStep: number } } } };
    expect(manifest.extra.state.cursor.globalStep).toBe(at.step - 1);
    const line = divergedLine({ index: 1, total: 1, id: 'x', label: 'E2E seed 0' }, divergence!);
    expect(line).toContain(`stopped: diverged at epoch 1, batch ${at.batch} (step ${at.step})`);
    expect(line).toContain(`Its last good checkpoint, saved at epoch 1, batch ${at.batch - 1} (step ${at.step - 1}), is kept in ${join(runDir, 'checkpoint')}.`);
    expect(line).toMatch(/Lower --lr/);
  });

  it('--workers above the module count is refused in the CLI\'s words', async () => {
    await expect(train(tiny({ trainLimit: 16, testLimit: 16 }), {}, 0, { workers: 2 })).rejects.toThrow(
      /--workers 2 gives each worker a range of the local modules, but this configuration has 1 \(end-to-end training is one module\)\. Use --workers 1 or fewer/,
    );
  });
});
