import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, ConfigError, isMemorySampledStep, LocalTrainer, PipelinedTrainer } from '@mlaan/core';
import { createLoader, type Dataset, type Loader } from '@mlaan/data';
import type { ActiveBackend } from './backend.js';
import { configId, learningRateSchedule, methodLabel, type RunConfig, warmupWarning } from './config.js';
import type { DatasetCache } from './data.js';
import { ResultsFolderError } from './errors.js';
import type { FinalModel } from './export.js';
import { describeMachine } from './machine.js';
import { datasetBytes, parameterCounts } from './memory.js';
import { EtaEstimator, type TrainingObserver } from './progress.js';
import { describeProvenance } from './provenance.js';
import { FRAMEWORKS } from './registry/frameworks.js';
import { type EpochRecord, RESULT_FORMAT, RESULT_VERSION, type RunResult, writeResult } from './results/result-format.js';
import { addStepLosses, emptyEpochTotals, freshRunState, meanTermLosses, type RunState } from './run-state.js';
import { benchRecipeModule, benchTrainerOptions, splitOf } from './trainer-recipe.js';
import { PipelinedEngine, SequentialEngine, type TrainingEngine } from './training-engine.js';

export type { EpochRecord, LossPoint, RunResult } from './results/result-format.js';
export type { StepProgress, TrainingObserver } from './progress.js';

export const CHECKPOINT_FOLDER = 'checkpoint';

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
  loaderWorkers?: number;
  /** Pipeline workers for module-parallel training (`--workers`; 1 or undefined: the sequential trainer). */
  workers?: number;
  /** How cascade cotangents cross the pipeline's workers (`--exchange`; default exact). */
  exchange?: 'exact' | 'delayed';
  /** Keep the last checkpoint after the run finished (default: deleted, the result stays). */
  keepCheckpoint?: boolean;
  observer: TrainingObserver;
  /** Set by a signal handler; the run saves a checkpoint after the current step and returns. */
  stop: { requested: boolean };
  /** The command line, recorded in the result. */
  command: string;
  /** Called once with the trained network before the result is written (`--export`). */
  finalModel?: (model: FinalModel) => Promise<void>;
}

export type TrainOutcome = { status: 'finished'; result: RunResult } | { status: 'interrupted'; epoch: number; batch: number };

/** Module count of a configuration, from the split tables. */
export function moduleCount(config: RunConfig): number {
  return splitOf(config).length + 1;
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

/**
 * Hands on each batch and disposes it when the consumer asks for the next one (or stops early):
 * the bench owns the batches it feeds to evaluation, whatever the evaluator does with them.
 * Disposing a tensor twice is a no-op in tfjs, so an evaluator that disposes them too is fine.
 */
export async function* disposedAfterUse(batches: AsyncIterable<Batch>): AsyncGenerator<Batch> {
  for await (const batch of batches) {
    try {
      yield batch;
    } finally {
      batch.inputs.dispose();
      batch.labels.dispose();
    }
  }
}

/** The learning rate the schedule reaches at its highest over the run. */
export function peakLearningRate(config: RunConfig): number {
  const schedule = learningRateSchedule(config);
  let peak = 0;
  for (let epoch = 0; epoch < config.epochs; epoch++) peak = Math.max(peak, schedule(epoch));
  return peak;
}

/**
 * Trains one configuration, resuming from `runDir/checkpoint` when one is there, and writes
 * `runDir/result.json` when it finishes. Returns early (checkpoint saved) when `stop.requested`.
 */
export async function trainConfiguration(config: RunConfig, options: TrainOptions): Promise<TrainOutcome> {
  await mkdir(options.runDir, { recursive: true });
  const [trainSet, testSet] = await Promise.all([
    options.data.get(config.dataset, 'train', config.trainLimit),
    options.data.get(config.dataset, 'test', config.testLimit),
  ]);
  const framework = FRAMEWORKS[config.framework];
  const recipeOptions = { config, classes: trainSet.classes.length };
  const trainerOptions = await benchTrainerOptions(recipeOptions);
  const { backbone, cuts = [] } = trainerOptions;
  // End-to-end training pools globally and takes any size; local heads are sized from backbone.inputSize.
  if (framework.local && (trainSet.height !== backbone.inputSize || trainSet.width !== backbone.inputSize)) {
    backbone.dispose();
    throw new ConfigError(
      `${config.dataset} images are ${trainSet.height}×${trainSet.width} but ${config.network} declares ${backbone.inputSize}×${backbone.inputSize} inputs, ` +
        'which the local heads are sized from. Use a dataset of that size (CIFAR-10, SVHN) for local frameworks, or --framework e2e.',
    );
  }
  let engine: TrainingEngine | undefined;
  let trainLoader: Loader | undefined;
  let ownsBackbone = true;
  try {
    if ((options.workers ?? 1) > 1) {
      const modules = cuts.length + 1;
      if (options.workers! > modules) {
        throw new ConfigError(
          `--workers ${options.workers} gives each worker a range of the local modules, but this configuration has ${modules} (${framework.local ? `K=${config.K}` : 'end-to-end training is one module'}). Use --workers ${modules} or fewer${framework.local ? ', or a larger --K' : ''}.`,
        );
      }
      // Every worker (and the mirror) builds its own model from the same recipe and seed.
      backbone.dispose();
      ownsBackbone = false;
      const pipelined = await PipelinedTrainer.create({
        recipe: { module: benchRecipeModule(), options: recipeOptions, backend: options.backend.choice },
        workers: options.workers!,
        exchange: options.exchange,
        memoryEvery: options.memoryEvery,
      });
      engine = new PipelinedEngine(pipelined);
    } else {
      engine = new SequentialEngine(new LocalTrainer(trainerOptions));
    }
    // The bench disposes every batch once trained on or evaluated and never keeps its arrays, so the
    // loaders may write later batches into them: 77 MB a batch on ImageNet, whose fresh pages cost
    // about as much CPU as decoding the JPEGs (benchmarks/README.md, JPEG section).
    const reuseInputBuffers = true;
    trainLoader = createLoader(trainSet, { batchSize: config.batchSize, augment: config.augment, seed: config.seed, workers: options.loaderWorkers, reuseInputBuffers });
    const testLoader = createLoader(testSet, { batchSize: config.evalBatchSize, augment: false, shuffle: false, workers: 0, reuseInputBuffers });
    return await new TrainingRun(config, engine, trainLoader, testLoader, [trainSet, testSet], options).run();
  } finally {
    await trainLoader?.close();
    await engine?.dispose();
    if (ownsBackbone) backbone.dispose();
  }
}

/** One configuration's training: the loop, its checkpoints and the result it writes. */
class TrainingRun {
  private readonly id: string;
  private readonly checkpointDir: string;
  private state: RunState;
  private wallMark = performance.now();
  private readonly warning: string | undefined;

  constructor(
    private readonly config: RunConfig,
    private readonly engine: TrainingEngine,
    private readonly trainLoader: Loader,
    private readonly testLoader: Loader,
    private readonly datasets: readonly Dataset[],
    private readonly options: TrainOptions,
  ) {
    this.id = configId(config);
    this.checkpointDir = join(options.runDir, CHECKPOINT_FOLDER);
    this.state = freshRunState(this.id);
    this.warning = warmupWarning(config, peakLearningRate(config));
  }

  private addWall(): void {
    const now = performance.now();
    const elapsed = (now - this.wallMark) / 1000;
    this.state.throughput.wallSeconds += elapsed;
    this.state.epoch.wallSeconds += elapsed;
    this.wallMark = now;
  }

  private get trainer(): LocalTrainer {
    return this.engine.trainer;
  }

  private async checkpoint(): Promise<void> {
    this.addWall();
    await this.engine.save(this.checkpointDir, { state: this.state });
  }

  private async resume(): Promise<{ epoch: number; batch: number } | undefined> {
    if (!existsSync(join(this.checkpointDir, 'checkpoint.json'))) return undefined;
    const manifest = await this.engine.load(this.checkpointDir);
    const saved = manifest.extra.state as RunState | undefined;
    if (!saved || saved.configId !== this.id || !saved.cursor) {
      throw new ResultsFolderError(
        `The checkpoint in ${this.checkpointDir} belongs to ${saved?.configId ?? 'an unknown configuration'} (or an older mlaan-bench), not ${this.id}. ` +
          'Delete that folder to start this run over.',
      );
    }
    this.state = { ...saved, sessions: saved.sessions + 1 };
    return { epoch: saved.cursor.epoch, batch: saved.cursor.batch };
  }

  async run(): Promise<TrainOutcome> {
    const { config, engine, options } = this;
    const { observer, stop } = options;
    const resumedAt = await this.resume();
    const schedule = learningRateSchedule(config);
    const batches = this.trainLoader.size;
    const eta = new EtaEstimator({ epochs: config.epochs, batches, testBatches: this.testLoader.size });
    const curveWindow = Math.max(1, Math.round(batches / 20));
    let diverged = false;
    let firstStepOfSession = true;
    this.wallMark = performance.now();
    observer.started({ epochs: config.epochs, batches, resumedAt });

    for (let epoch = this.state.cursor.epoch; epoch < config.epochs && !diverged; epoch++) {
      const state = this.state;
      const { cursor } = state;
      const learningRate = schedule(epoch);
      engine.setSchedule(epoch, learningRate);
      if (cursor.batch === 0) state.epoch = emptyEpochTotals();
      const source = batchesFrom(this.trainLoader, epoch, cursor.batch)[Symbol.asyncIterator]();
      // Batches are handed to the engine in segments that end where a checkpoint is due or a stop
      // was asked for, so a pipelined engine has finished exactly the batches the cursor counts.
      const every = options.checkpointEvery;
      const segment = async function* (): AsyncGenerator<Batch> {
        const limit = every > 0 ? every - (cursor.globalStep % every) : Infinity;
        for (let taken = 0; taken < limit && !stop.requested; taken++) {
          const next = await source.next();
          if (next.done) return;
          yield next.value;
        }
      };
      let lastStepEnd = performance.now();
      try {
        while (cursor.batch < batches && !diverged) {
          const profile = (ahead: number) => isMemorySampledStep(cursor.globalStep + ahead, options.memoryEvery);
          for await (const { result, seconds: stepSeconds, profiled } of engine.steps(segment(), profile, state.memory)) {
            const size = result.batchSize;
            // The first step of a session pays for kernel compilation and allocation, and profiled steps for
            // the profiler: neither is the speed of training.
            if (!profiled && !firstStepOfSession) {
              state.throughput.trainSeconds += stepSeconds;
              state.throughput.trainImages += size;
              state.throughput.measuredSteps += 1;
            }
            state.epoch.trainSeconds += stepSeconds;
            state.epoch.images += size;
            firstStepOfSession = false;
            state.memory.peakRssBytes = Math.max(state.memory.peakRssBytes, process.memoryUsage.rss());
            const finished = performance.now();
            const imagesPerSecond = eta.stepDone((finished - lastStepEnd) / 1000, size);
            lastStepEnd = finished;

            const loss = result.loss;
            cursor.batch += 1;
            cursor.globalStep += 1;
            if (!Number.isFinite(loss)) {
              diverged = true;
              break;
            }
            addStepLosses(state.epoch, loss, result.losses, size);
            state.curve.windowSum += loss;
            state.curve.windowCount += 1;
            if (state.curve.windowCount >= curveWindow || cursor.batch === batches) {
              state.curve.points.push({ epoch: epoch + cursor.batch / batches, step: cursor.globalStep, loss: state.curve.windowSum / state.curve.windowCount });
              state.curve.windowSum = 0;
              state.curve.windowCount = 0;
            }
            observer.step({ epoch, epochs: config.epochs, batch: cursor.batch, batches, loss, imagesPerSecond, etaSeconds: eta.secondsLeft(epoch, cursor.batch) });
          }
          if (diverged || cursor.batch >= batches) break;
          if (stop.requested) {
            await this.checkpoint();
            return { status: 'interrupted', epoch: cursor.epoch, batch: cursor.batch };
          }
          if (every > 0 && cursor.globalStep % every === 0) await this.checkpoint();
        }
      } finally {
        await source.return?.(undefined);
      }
      if (diverged) break;

      observer.evaluating(epoch);
      const record = await this.evaluate(epoch, learningRate, eta);
      state.history.push(record);
      cursor.epoch = epoch + 1;
      cursor.batch = 0;
      observer.epochDone(record, eta.secondsLeft(epoch + 1, 0));
      if (cursor.epoch < config.epochs) {
        await this.checkpoint();
        if (stop.requested) return { status: 'interrupted', epoch: cursor.epoch, batch: 0 };
      }
    }
    this.addWall();

    await engine.finish();
    const result = this.result(diverged);
    await options.finalModel?.({ backbone: this.trainer.backbone, dataset: this.trainLoader.dataset });
    await writeResult(options.runDir, result);
    if (!options.keepCheckpoint) await rm(this.checkpointDir, { recursive: true, force: true });
    return { status: 'finished', result };
  }

  /** Evaluates on the test set and closes the epoch's record. */
  private async evaluate(epoch: number, learningRate: number, eta: EtaEstimator): Promise<EpochRecord> {
    const { state } = this;
    // The pipelined trainer's mirror takes the workers' weights (and, the first time, creates its
    // momentum buffers) before evaluating: model state, not what evaluation leaves behind.
    await this.engine.finish();
    const tensorsBefore = tf.memory().numTensors;
    const started = performance.now();
    const evaluation = await this.engine.evaluate(disposedAfterUse(this.testLoader.batches(0)));
    const seconds = (performance.now() - started) / 1000;
    state.memory.tensorsLeftByEvaluation = Math.max(state.memory.tensorsLeftByEvaluation, tf.memory().numTensors - tensorsBefore);
    eta.evaluationDone(seconds);
    state.throughput.evalSeconds += seconds;
    this.addWall();
    return {
      epoch: epoch + 1,
      learningRate,
      trainLoss: state.epoch.lossCount > 0 ? state.epoch.lossSum / state.epoch.lossCount : NaN,
      moduleLosses: meanTermLosses(state.epoch),
      testErrorPercent: evaluation.error * 100,
      testLoss: evaluation.loss,
      seconds: state.epoch.wallSeconds,
      imagesPerSecond: state.epoch.trainSeconds > 0 ? state.epoch.images / state.epoch.trainSeconds : NaN,
    };
  }

  private result(diverged: boolean): RunResult {
    const { config, trainer, state, options } = this;
    const { history, memory, throughput } = state;
    const best = history.reduce<EpochRecord | undefined>((a, b) => (!a || b.testErrorPercent < a.testErrorPercent ? b : a), undefined);
    const last = history[history.length - 1];
    const { backend } = options;
    return {
      format: RESULT_FORMAT,
      version: RESULT_VERSION,
      id: this.id,
      method: methodLabel(config),
      config,
      modules: trainer.modules.length,
      status: diverged ? 'diverged' : 'completed',
      backend: { choice: backend.choice, tfjsBackend: backend.tfjsBackend, description: backend.description, ...(backend.device ? { device: backend.device } : {}) },
      schedule: trainer.schedule,
      trainImages: this.trainLoader.dataset.count,
      testImages: this.testLoader.dataset.count,
      parameters: parameterCounts(trainer),
      testErrorPercent: { best: best?.testErrorPercent ?? NaN, bestEpoch: best?.epoch ?? 0, last: last?.testErrorPercent ?? NaN },
      lastTestLoss: last?.testLoss ?? NaN,
      lastTrainLoss: last?.trainLoss ?? NaN,
      memory: {
        step: {
          stepPeakBytes: memory.stepPeakBytes,
          stateBytes: memory.stateBytes,
          stepAllocationBytes: memory.stepAllocationBytes,
          // Pipeline workers measure distinct buffers only.
          peakTensorHandleBytes: memory.perWorker ? null : memory.peakTensorHandleBytes,
          tensorBytesOnGpu: backend.gpu,
          sampledSteps: memory.sampledSteps,
          workers: memory.perWorker
            ? { count: memory.perWorker.length, stepPeakBytesSum: memory.perWorker.reduce((sum, w) => sum + w.stepPeakBytes, 0), perWorker: memory.perWorker }
            : null,
        },
        data: {
          datasetBytes: this.datasets.reduce((sum, dataset) => sum + datasetBytes(dataset), 0),
          tensorsOutsideTrainerBytes: memory.tensorsOutsideTrainerBytes,
          tensorsLeftByEvaluation: memory.tensorsLeftByEvaluation,
        },
        process: { peakRssBytes: memory.peakRssBytes, backendFields: memory.backendFields },
      },
      throughput: {
        imagesPerSecond: throughput.trainSeconds > 0 ? throughput.trainImages / throughput.trainSeconds : NaN,
        measuredSteps: throughput.measuredSteps,
        meanStepMs: throughput.measuredSteps > 0 ? (throughput.trainSeconds * 1000) / throughput.measuredSteps : NaN,
      },
      warning: this.warning ?? null,
      pipeline: this.engine.pipeline() ?? null,
      wallSeconds: throughput.wallSeconds,
      trainSeconds: throughput.trainSeconds,
      evalSeconds: throughput.evalSeconds,
      epochs: history,
      lossCurve: state.curve.points,
      sessions: state.sessions,
      command: options.command,
      startedAt: state.startedAt,
      finishedAt: new Date().toISOString(),
      machine: describeMachine(),
      provenance: describeProvenance(),
    };
  }
}
