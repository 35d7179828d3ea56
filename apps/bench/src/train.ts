import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  type Batch,
  ConfigError,
  getSplit,
  LocalTrainer,
  loadCheckpoint,
  measureMemory,
  saveCheckpoint,
  type StepResult,
} from '@mlaan/core';
import { createLoader, type Loader } from '@mlaan/data';
import { createNetwork } from '@mlaan/models';
import { type ActiveBackend, backendMemoryFields } from './backend.js';
import { configId, learningRateSchedule, methodLabel, type RunConfig } from './config.js';
import type { DatasetCache } from './data.js';
import { ResultsFolderError } from './errors.js';
import { describeMachine, type MachineInfo } from './machine.js';
import { FRAMEWORKS, type PluginBuildContext } from './registry/frameworks.js';
import { PLUGIN_SETS } from './registry/plugin-sets.js';

export const RESULT_FORMAT = 'mlaan-bench-result';
export const RESULT_VERSION = 1;
export const RESULT_FILE = 'result.json';
export const CHECKPOINT_FOLDER = 'checkpoint';

export interface EpochRecord {
  /** 1-based. */
  epoch: number;
  learningRate: number;
  trainLoss: number;
  testErrorPercent: number;
  testLoss: number;
  /** Wall seconds of the epoch (training, data waits and evaluation). */
  seconds: number;
  imagesPerSecond: number;
}

export interface LossPoint {
  /** Fractional epoch at the end of the window (0.5 = half-way through the first epoch). */
  epoch: number;
  step: number;
  /** Mean training loss of the last module over the window. */
  loss: number;
}

export interface RunResult {
  format: typeof RESULT_FORMAT;
  version: number;
  id: string;
  method: string;
  config: RunConfig;
  /** Local modules actually trained (K; 15 for ResNet-32 per block). */
  modules: number;
  /** 'diverged': the training loss became NaN or infinite, and the run stopped there. */
  status: 'completed' | 'diverged';
  backend: { choice: string; tfjsBackend: string; description: string };
  /** How the trainer held module activations (`LocalTrainer.schedule`: keep, window or sweep). */
  schedule: 'keep' | 'window' | 'sweep';
  trainImages: number;
  testImages: number;
  parameters: number;
  testErrorPercent: { best: number; bestEpoch: number; last: number };
  lastTestLoss: number;
  lastTrainLoss: number;
  memory: {
    /**
     * Largest bytes of distinct tensor data buffers during a sampled step: what was alive when the
     * step began (weights, optimiser state, the batch) plus the most the step held on top, each
     * buffer once however many tensor handles share it (tfjs's own count charges every clone).
     */
    peakTensorBytes: number;
    /** The same peak as tfjs counts it (per tensor handle), for comparison with tf.memory(). */
    peakTensorHandleBytes: number;
    /** True when those tensors live in GPU memory (tensorflow-gpu). */
    tensorBytesOnGpu: boolean;
    /** Largest resident set size of the process seen after a step. */
    peakRssBytes: number;
    /** Extra tf.memory() fields the backend reports (largest seen). */
    backendFields: Record<string, number>;
    sampledSteps: number;
  };
  throughput: { imagesPerSecond: number; measuredSteps: number; meanStepMs: number };
  wallSeconds: number;
  trainSeconds: number;
  evalSeconds: number;
  epochs: EpochRecord[];
  lossCurve: LossPoint[];
  /** 1 + the number of times the run was resumed from a checkpoint. */
  sessions: number;
  /** The command line of the session that finished the run. */
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
}

/** Everything about a run in progress that a checkpoint must carry besides the tensors. */
interface RunState {
  configId: string;
  /** Next epoch (0-based) and next batch within it. */
  epoch: number;
  batch: number;
  globalStep: number;
  epochLossSum: number;
  epochLossCount: number;
  epochTrainSeconds: number;
  epochImages: number;
  epochWallSeconds: number;
  curveLossSum: number;
  curveLossCount: number;
  history: EpochRecord[];
  lossCurve: LossPoint[];
  trainSeconds: number;
  trainImages: number;
  measuredSteps: number;
  evalSeconds: number;
  wallSeconds: number;
  peakTensorBytes: number;
  peakTensorHandleBytes: number;
  peakRssBytes: number;
  backendFields: Record<string, number>;
  sampledSteps: number;
  sessions: number;
  startedAt: string;
}

export interface StepProgress {
  epoch: number;
  epochs: number;
  batch: number;
  batches: number;
  loss: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface TrainingObserver {
  started(info: { epochs: number; batches: number; resumedAt?: { epoch: number; batch: number } }): void;
  step(progress: StepProgress): void;
  evaluating(epoch: number): void;
  epochDone(record: EpochRecord, etaSeconds: number): void;
}

export interface TrainOptions {
  /** Folder of this configuration: result.json and checkpoint/ go here. */
  runDir: string;
  data: DatasetCache;
  backend: ActiveBackend;
  /** Save a checkpoint every this many steps (0: only at the end of each epoch). */
  checkpointEvery: number;
  /** Measure tensor memory on step 1 and every this many steps after (profiling slows those steps). */
  memoryEvery: number;
  /** Loader worker threads (undefined: @mlaan/data's default). */
  workers?: number;
  /** Keep the last checkpoint after the run finished (default: deleted, the result stays). */
  keepCheckpoint?: boolean;
  observer: TrainingObserver;
  /** Set by a signal handler; the run saves a checkpoint after the current step and returns. */
  stop: { requested: boolean };
  /** The command line, recorded in the result. */
  command: string;
}

export type TrainOutcome = { status: 'finished'; result: RunResult } | { status: 'interrupted'; epoch: number; batch: number };

/** Module count of a configuration, from the split tables. */
export function moduleCount(config: RunConfig): number {
  if (!FRAMEWORKS[config.framework].local) return 1;
  return getSplit({ net: config.network, K: config.K, variant: config.split }).length + 1;
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.partial-${process.pid}`;
  await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temporary, path);
}

/** Batches of `epoch` from batch `start` on: the same batches an uninterrupted run would see. */
export async function* batchesFrom(loader: Loader, epoch: number, start: number): AsyncGenerator<Batch> {
  if (start === 0) {
    yield* loader.batches(epoch);
    return;
  }
  const { normalization } = loader.dataset;
  for (let index = start; index < loader.size; index++) {
    // prepareAsync decodes as the workers do (sharp for ImageNet), so a resumed epoch sees the same pixels.
    const prepared = await loader.prepareAsync(epoch, index);
    yield {
      inputs: tf.tensor4d(prepared.inputs, [prepared.count, prepared.height, prepared.width, 3], 'float32'),
      labels: tf.tensor1d(prepared.labels, 'int32'),
      normalization: { mean: [...normalization.mean], std: [...normalization.std] },
    };
  }
}

function freshState(id: string): RunState {
  return {
    configId: id,
    epoch: 0,
    batch: 0,
    globalStep: 0,
    epochLossSum: 0,
    epochLossCount: 0,
    epochTrainSeconds: 0,
    epochImages: 0,
    epochWallSeconds: 0,
    curveLossSum: 0,
    curveLossCount: 0,
    history: [],
    lossCurve: [],
    trainSeconds: 0,
    trainImages: 0,
    measuredSteps: 0,
    evalSeconds: 0,
    wallSeconds: 0,
    peakTensorBytes: 0,
    peakTensorHandleBytes: 0,
    peakRssBytes: 0,
    backendFields: {},
    sampledSteps: 0,
    sessions: 1,
    startedAt: new Date().toISOString(),
  };
}

/**
 * Trains one configuration, resuming from `runDir/checkpoint` when one is there, and writes
 * `runDir/result.json` when it finishes. Returns early (checkpoint saved) when `stop.requested`.
 */
export async function trainConfiguration(config: RunConfig, options: TrainOptions): Promise<TrainOutcome> {
  const id = configId(config);
  const { runDir, observer, stop } = options;
  const checkpointDir = join(runDir, CHECKPOINT_FOLDER);
  await mkdir(runDir, { recursive: true });

  const [trainSet, testSet] = await Promise.all([
    options.data.get(config.dataset, 'train', config.trainLimit),
    options.data.get(config.dataset, 'test', config.testLimit),
  ]);
  const backbone = createNetwork(config.network, { classes: trainSet.classes.length, seed: config.seed });
  const framework = FRAMEWORKS[config.framework];
  // End-to-end training pools globally and takes any size; local heads are sized from backbone.inputSize.
  if (framework.local && (trainSet.height !== backbone.inputSize || trainSet.width !== backbone.inputSize)) {
    backbone.dispose();
    throw new ConfigError(
      `${config.dataset} images are ${trainSet.height}×${trainSet.width} but ${config.network} declares ${backbone.inputSize}×${backbone.inputSize} inputs, ` +
        'which the local heads are sized from. Use a dataset of that size (CIFAR-10, SVHN) for local frameworks, or --framework e2e.',
    );
  }
  const cuts = framework.local ? getSplit({ net: config.network, K: config.K, variant: config.split }) : [];
  const context: PluginBuildContext = {
    network: config.network,
    dataset: config.dataset,
    modules: cuts.length + 1,
    seed: config.seed,
    mlaanProfile: config.mlaanProfile,
    balancedSplit: config.split === 'balanced',
    infoproTask: config.infoproTask ?? 'contrast',
  };
  let trainer: LocalTrainer | undefined;
  let trainLoader: Loader | undefined;
  try {
    const plugins = [...(await framework.hostPlugins(context)), ...(await PLUGIN_SETS[config.plugins].plugins(context))];
    trainer = new LocalTrainer({
      backbone,
      cuts,
      plugins,
      mode: framework.mode,
      seed: config.seed,
      optimizer: {
        learningRate: config.learningRate,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weightDecay: config.weightDecay,
      },
    });
    trainLoader = createLoader(trainSet, { batchSize: config.batchSize, augment: config.augment, seed: config.seed, workers: options.workers });
    const testLoader = createLoader(testSet, { batchSize: config.evalBatchSize, augment: false, shuffle: false, workers: 0 });
    return await trainLoop(config, id, trainer, trainLoader, testLoader, checkpointDir, options, observer, stop);
  } finally {
    await trainLoader?.close();
    trainer?.dispose();
    backbone.dispose();
  }
}

async function trainLoop(
  config: RunConfig,
  id: string,
  trainer: LocalTrainer,
  trainLoader: Loader,
  testLoader: Loader,
  checkpointDir: string,
  options: TrainOptions,
  observer: TrainingObserver,
  stop: { requested: boolean },
): Promise<TrainOutcome> {
  let state = freshState(id);
  let resumedAt: { epoch: number; batch: number } | undefined;
  if (existsSync(join(checkpointDir, 'checkpoint.json'))) {
    const manifest = await loadCheckpoint(checkpointDir, trainer);
    const saved = manifest.extra.state as RunState | undefined;
    if (!saved || saved.configId !== id) {
      throw new ResultsFolderError(
        `The checkpoint in ${checkpointDir} belongs to ${saved?.configId ?? 'an unknown configuration'}, not ${id}. Delete that folder to start this run over.`,
      );
    }
    state = { ...saved, sessions: saved.sessions + 1 };
    resumedAt = { epoch: state.epoch, batch: state.batch };
  }

  const schedule = learningRateSchedule(config);
  const batches = trainLoader.size;
  const stepsTotal = config.epochs * batches;
  const testBatches = testLoader.size;
  let wallMark = performance.now();
  const addWall = () => {
    const now = performance.now();
    const elapsed = (now - wallMark) / 1000;
    state.wallSeconds += elapsed;
    state.epochWallSeconds += elapsed;
    wallMark = now;
  };
  const checkpoint = async () => {
    addWall();
    await saveCheckpoint(checkpointDir, trainer, { state });
  };
  // Seconds per step and per evaluation, smoothed, for the ETA.
  let secondsPerStep = NaN;
  let secondsPerEvaluation = NaN;
  let imagesPerSecond = NaN;
  const eta = (epoch: number, nextBatch: number) => {
    const stepsLeft = stepsTotal - (epoch * batches + nextBatch);
    const evaluationsLeft = config.epochs - epoch - (nextBatch >= batches ? 1 : 0);
    const evaluation = Number.isFinite(secondsPerEvaluation) ? secondsPerEvaluation : secondsPerStep * testBatches * 0.3;
    return stepsLeft * secondsPerStep + Math.max(evaluationsLeft, 0) * evaluation;
  };
  const curveWindow = Math.max(1, Math.round(batches / 20));
  let diverged = false;
  let firstStepOfSession = true;
  observer.started({ epochs: config.epochs, batches, resumedAt });

  for (let epoch = state.epoch; epoch < config.epochs && !diverged; epoch++) {
    trainer.epoch = epoch;
    const learningRate = schedule(epoch);
    trainer.learningRate = learningRate;
    if (state.batch === 0) {
      state.epochLossSum = 0;
      state.epochLossCount = 0;
      state.epochTrainSeconds = 0;
      state.epochImages = 0;
      state.epochWallSeconds = 0;
    }
    let lastStepEnd = performance.now();
    for await (const batch of batchesFrom(trainLoader, epoch, state.batch)) {
      const size = batch.inputs.shape[0];
      const sampleMemory = options.memoryEvery > 0 && state.globalStep % options.memoryEvery === 1 % options.memoryEvery;
      let result: StepResult;
      const started = performance.now();
      try {
        if (sampleMemory) {
          const measured = await measureMemory(() => trainer.step(batch));
          result = measured.result;
          const { baselineTensorBytes, peakBufferAllocationBytes, peakTensorBytes } = measured.memory;
          state.peakTensorBytes = Math.max(state.peakTensorBytes, baselineTensorBytes + peakBufferAllocationBytes);
          state.peakTensorHandleBytes = Math.max(state.peakTensorHandleBytes || 0, peakTensorBytes);
          state.sampledSteps += 1;
          for (const [key, value] of Object.entries(backendMemoryFields())) {
            state.backendFields[key] = Math.max(state.backendFields[key] ?? 0, value);
          }
        } else {
          result = trainer.step(batch);
        }
      } finally {
        batch.inputs.dispose();
        batch.labels.dispose();
      }
      const finished = performance.now();
      const stepSeconds = (finished - started) / 1000;
      // The first step of a session pays for kernel compilation and allocation, and profiled steps for
      // the profiler: neither is the speed of training.
      if (!sampleMemory && !firstStepOfSession) {
        state.trainSeconds += stepSeconds;
        state.trainImages += size;
        state.measuredSteps += 1;
      }
      state.epochTrainSeconds += stepSeconds;
      state.epochImages += size;
      firstStepOfSession = false;
      state.peakRssBytes = Math.max(state.peakRssBytes, process.memoryUsage.rss());

      const wallStep = (finished - lastStepEnd) / 1000;
      lastStepEnd = finished;
      secondsPerStep = Number.isFinite(secondsPerStep) ? 0.8 * secondsPerStep + 0.2 * wallStep : wallStep;
      imagesPerSecond = size / secondsPerStep;

      const loss = result.loss;
      state.batch += 1;
      state.globalStep += 1;
      if (!Number.isFinite(loss)) {
        diverged = true;
        break;
      }
      state.epochLossSum += loss * size;
      state.epochLossCount += size;
      state.curveLossSum += loss;
      state.curveLossCount += 1;
      if (state.curveLossCount >= curveWindow || state.batch === batches) {
        state.lossCurve.push({ epoch: epoch + state.batch / batches, step: state.globalStep, loss: state.curveLossSum / state.curveLossCount });
        state.curveLossSum = 0;
        state.curveLossCount = 0;
      }
      observer.step({ epoch, epochs: config.epochs, batch: state.batch, batches, loss, imagesPerSecond, etaSeconds: eta(epoch, state.batch) });

      if (stop.requested && state.batch < batches) {
        await checkpoint();
        return { status: 'interrupted', epoch: state.epoch, batch: state.batch };
      }
      if (options.checkpointEvery > 0 && state.globalStep % options.checkpointEvery === 0 && state.batch < batches) {
        await checkpoint();
      }
    }
    if (diverged) break;

    observer.evaluating(epoch);
    const evaluationStart = performance.now();
    const evaluation = await trainer.evaluate(testLoader.batches(0));
    const evaluationSeconds = (performance.now() - evaluationStart) / 1000;
    secondsPerEvaluation = evaluationSeconds;
    state.evalSeconds += evaluationSeconds;
    addWall();
    const record: EpochRecord = {
      epoch: epoch + 1,
      learningRate,
      trainLoss: state.epochLossCount > 0 ? state.epochLossSum / state.epochLossCount : NaN,
      testErrorPercent: evaluation.error * 100,
      testLoss: evaluation.loss,
      seconds: state.epochWallSeconds,
      imagesPerSecond: state.epochTrainSeconds > 0 ? state.epochImages / state.epochTrainSeconds : NaN,
    };
    state.history.push(record);
    state.epoch = epoch + 1;
    state.batch = 0;
    observer.epochDone(record, eta(epoch + 1, 0));
    if (state.epoch < config.epochs) {
      await checkpoint();
      if (stop.requested) return { status: 'interrupted', epoch: state.epoch, batch: 0 };
    }
  }
  addWall();

  const result = buildResult(config, id, trainer, state, diverged, options, trainLoader, testLoader);
  await writeJsonAtomic(join(options.runDir, RESULT_FILE), result);
  if (!options.keepCheckpoint) await rm(checkpointDir, { recursive: true, force: true });
  return { status: 'finished', result };
}

function buildResult(
  config: RunConfig,
  id: string,
  trainer: LocalTrainer,
  state: RunState,
  diverged: boolean,
  options: TrainOptions,
  trainLoader: Loader,
  testLoader: Loader,
): RunResult {
  const history = state.history;
  const best = history.reduce<EpochRecord | undefined>((a, b) => (!a || b.testErrorPercent < a.testErrorPercent ? b : a), undefined);
  const last = history[history.length - 1];
  const { backend } = options;
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    id,
    method: methodLabel(config),
    config,
    modules: trainer.modules.length,
    status: diverged ? 'diverged' : 'completed',
    backend: { choice: backend.choice, tfjsBackend: backend.tfjsBackend, description: backend.description },
    schedule: trainer.schedule,
    trainImages: trainLoader.dataset.count,
    testImages: testLoader.dataset.count,
    parameters: trainer.namedParameters().reduce((sum, [, v]) => sum + v.size, 0),
    testErrorPercent: { best: best?.testErrorPercent ?? NaN, bestEpoch: best?.epoch ?? 0, last: last?.testErrorPercent ?? NaN },
    lastTestLoss: last?.testLoss ?? NaN,
    lastTrainLoss: last?.trainLoss ?? NaN,
    memory: {
      peakTensorBytes: state.peakTensorBytes,
      peakTensorHandleBytes: state.peakTensorHandleBytes,
      tensorBytesOnGpu: backend.gpu,
      peakRssBytes: state.peakRssBytes,
      backendFields: state.backendFields,
      sampledSteps: state.sampledSteps,
    },
    throughput: {
      imagesPerSecond: state.trainSeconds > 0 ? state.trainImages / state.trainSeconds : NaN,
      measuredSteps: state.measuredSteps,
      meanStepMs: state.measuredSteps > 0 ? (state.trainSeconds * 1000) / state.measuredSteps : NaN,
    },
    wallSeconds: state.wallSeconds,
    trainSeconds: state.trainSeconds,
    evalSeconds: state.evalSeconds,
    epochs: history,
    lossCurve: state.lossCurve,
    sessions: state.sessions,
    command: options.command,
    startedAt: state.startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(),
  };
}
