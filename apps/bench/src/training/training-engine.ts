import type { Batch, CheckpointManifest, EvaluationResult, LocalTrainer, PipelinedTrainer, StepResult } from '@mlaan/core';
import { loadCheckpoint, saveCheckpoint } from '@mlaan/core';
import { foldWorkerMemory, measuredStep, type MemoryPeaks } from './memory.js';
import type { PipelineSummary, WorkerStepMemory } from '../results/result-format.js';

/** One finished training step as the run loop books it. */
export interface EngineStep {
  result: StepResult;
  /** Seconds this step took (pipelined: since the previous step left the pipeline). */
  seconds: number;
  /** Whether the step was profiled for memory (its time is not training speed). */
  profiled: boolean;
}

/**
 * How a run trains: the sequential `LocalTrainer`, or the pipelined trainer (`--workers` > 1).
 * The run loop sees one interface: steps stream out in order, checkpoints use core's format.
 */
export interface TrainingEngine {
  /** The model (the pipelined trainer's mirror: current after evaluate, save and finish). */
  readonly trainer: LocalTrainer;
  setSchedule(epoch: number, learningRate: number): void;
  /** Trains on `batches` (taking ownership of them), yielding each step in order. */
  steps(batches: AsyncIterable<Batch>, profile: () => boolean, memory: MemoryPeaks): AsyncGenerator<EngineStep>;
  evaluate(batches: AsyncIterable<Batch>): Promise<EvaluationResult>;
  save(dir: string, extra: Record<string, unknown>): Promise<void>;
  load(dir: string): Promise<CheckpointManifest>;
  /** Brings `trainer` up to date with the training (the pipelined trainer gathers its workers' weights). */
  finish(): Promise<void>;
  pipeline(): PipelineSummary | undefined;
  dispose(): Promise<void>;
}

export class SequentialEngine implements TrainingEngine {
  constructor(readonly trainer: LocalTrainer) {}

  setSchedule(epoch: number, learningRate: number): void {
    this.trainer.epoch = epoch;
    this.trainer.learningRate = learningRate;
  }

  async *steps(batches: AsyncIterable<Batch>, profile: () => boolean, memory: MemoryPeaks): AsyncGenerator<EngineStep> {
    const trainer = this.trainer;
    for await (const batch of batches) {
      const profiled = profile();
      let result: StepResult;
      const started = performance.now();
      try {
        result = profiled ? await measuredStep(trainer, () => trainer.step(batch), memory) : trainer.step(batch);
      } finally {
        batch.inputs.dispose();
        batch.labels.dispose();
      }
      yield { result, seconds: (performance.now() - started) / 1000, profiled };
    }
  }

  evaluate(batches: AsyncIterable<Batch>): Promise<EvaluationResult> {
    return this.trainer.evaluate(batches);
  }

  save(dir: string, extra: Record<string, unknown>): Promise<void> {
    return saveCheckpoint(dir, this.trainer, extra);
  }

  load(dir: string): Promise<CheckpointManifest> {
    return loadCheckpoint(dir, this.trainer);
  }

  async finish(): Promise<void> {}

  pipeline(): undefined {
    return undefined;
  }

  async dispose(): Promise<void> {
    this.trainer.dispose();
  }
}

export class PipelinedEngine implements TrainingEngine {
  /** Workers' step memory from earlier sessions of the run (its checkpoint's), taken at the first step of this one. */
  private earlierWorkerMemory: readonly WorkerStepMemory[] | undefined;

  constructor(private readonly pipelined: PipelinedTrainer) {}

  get trainer(): LocalTrainer {
    return this.pipelined.mirror;
  }

  setSchedule(epoch: number, learningRate: number): void {
    this.pipelined.epoch = epoch;
    this.pipelined.learningRate = learningRate;
  }

  /**
   * The workers measure their own step memory on the sampled steps (`memoryEvery` given to the
   * trainer); each step folds their figures into `memory`. The pipelined steps are not profiled
   * here, so none of their time is left out of the speed.
   */
  async *steps(batches: AsyncIterable<Batch>, _profile: () => boolean, memory: MemoryPeaks): AsyncGenerator<EngineStep> {
    this.earlierWorkerMemory ??= memory.perWorker ?? [];
    let mark = performance.now();
    for await (const result of this.pipelined.train(batches)) {
      // From one step's exit to the next: the pipeline keeps running while the loop books a step.
      const now = performance.now();
      const seconds = (now - mark) / 1000;
      mark = now;
      foldWorkerMemory(memory, this.pipelined.meters(), this.earlierWorkerMemory);
      yield { result, seconds, profiled: false };
    }
  }

  evaluate(batches: AsyncIterable<Batch>): Promise<EvaluationResult> {
    return this.pipelined.evaluate(batches);
  }

  save(dir: string, extra: Record<string, unknown>): Promise<void> {
    return this.pipelined.saveCheckpoint(dir, extra);
  }

  load(dir: string): Promise<CheckpointManifest> {
    return this.pipelined.loadCheckpoint(dir);
  }

  finish(): Promise<void> {
    return this.pipelined.synchronize();
  }

  pipeline(): PipelineSummary {
    const { placement, moduleCosts } = this.pipelined;
    return { workers: placement.ranges.length, exchange: this.pipelined.exchange, placement, moduleCosts: moduleCosts ?? null, meters: this.pipelined.meters() };
  }

  dispose(): Promise<void> {
    return this.pipelined.close();
  }
}
