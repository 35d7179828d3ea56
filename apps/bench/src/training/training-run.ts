import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, isMemorySampledStep, type LocalTrainer } from '@mlaan/core';
import type { Dataset, Loader } from '@mlaan/data';
import type { ActiveBackend } from '../backend.js';
import { configId } from '../configuration/configuration-id.js';
import type { RunConfig } from '../configuration/settings.js';
import { methodLabel } from '../configuration/labels.js';
import { learningRateSchedule, warmupWarning } from '../configuration/schedules.js';
import { ResultsFolderError } from '../errors.js';
import type { FinalModel } from '../export.js';
import { EtaEstimator, type TrainingObserver } from '../progress.js';
import type { EpochRecord, RunResult } from '../results/result-format.js';
import { writeResult } from '../results/result-format.js';
import { assembleRunResult } from '../results/run-result.js';
import { batchesFrom, disposedAfterUse } from './batches.js';
import { datasetBytes, parameterCounts } from './memory.js';
import { addStepLosses, emptyEpochTotals, freshRunState, meanTermLosses, type RunState } from './run-state.js';
import type { TrainingEngine } from './training-engine.js';

export const CHECKPOINT_FOLDER = 'checkpoint';

/** What one run needs besides its configuration and engine: where it writes, what it reports, when it stops. */
export interface RunOptions {
  /** Folder of this configuration: result.json and checkpoint/ go here. */
  runDir: string;
  backend: ActiveBackend;
  /** Save a checkpoint every this many steps (0: only at the end of each epoch). */
  checkpointEvery: number;
  /** Measure tensor memory on step 1 and every this many steps after (profiling slows those steps). */
  memoryEvery: number;
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

/** One configuration's training: the loop, its checkpoints and the result it writes. */
export class TrainingRun {
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
    private readonly options: RunOptions,
  ) {
    this.id = configId(config);
    this.checkpointDir = join(options.runDir, CHECKPOINT_FOLDER);
    this.state = freshRunState(this.id);
    this.warning = warmupWarning(config);
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
          const profile = (ahead: number) => isMemorySampledStep(cursor.globalStep + ahead, options.memoryEvery, config.epochs * batches);
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
    return assembleRunResult({
      id: this.id,
      method: methodLabel(config),
      config,
      modules: trainer.modules.length,
      diverged,
      backend: options.backend,
      schedule: trainer.schedule,
      parameters: parameterCounts(trainer),
      trainImages: this.trainLoader.dataset.count,
      testImages: this.testLoader.dataset.count,
      datasetBytes: this.datasets.reduce((sum, dataset) => sum + datasetBytes(dataset), 0),
      measurements: state,
      memoryEvery: options.memoryEvery,
      warning: this.warning,
      pipeline: this.engine.pipeline(),
      command: options.command,
    });
  }
}
