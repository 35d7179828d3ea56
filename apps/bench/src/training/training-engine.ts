import type { Batch, CheckpointManifest, EvaluationResult, LocalTrainer, PipelinedTrainer, StepResult, StepValues } from '@mlaan/core';
import { loadCheckpoint, NonFiniteError, readSteps, saveCheckpoint } from '@mlaan/core';
import { foldWorkerMemory, measuredStep, type MemoryPeaks } from './memory.js';
import type { PipelineSummary, WorkerStepMemory } from '../results/result-format.js';

/** One finished training step as the run loop books it. */
export interface EngineStep {
  /** Its values; a step that met a NaN or an Infinity was skipped (nothing changed) and has `error` and a NaN loss. */
  result: StepValues;
  error?: NonFiniteError;
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
  /**
   * Trains on `batches` (taking ownership of them), yielding each step in order. `profile(ahead)`
   * says whether the step `ahead` steps after the last one yielded is measured for memory.
   */
  steps(batches: AsyncIterable<Batch>, profile: (ahead: number) => boolean, memory: MemoryPeaks): AsyncGenerator<EngineStep>;
  evaluate(batches: AsyncIterable<Batch>): Promise<EvaluationResult>;
  save(dir: string, extra: Record<string, unknown>): Promise<void>;
  load(dir: string): Promise<CheckpointManifest>;
  /** Brings `trainer` up to date with the training (the pipelined trainer gathers its workers' weights). */
  finish(): Promise<void>;
  pipeline(): PipelineSummary | undefined;
  dispose(): Promise<void>;
}

/** Steps a sequential engine queues before it reads their losses in one transfer (and at each segment's end). */
export const STEPS_PER_READ = 16;

export class SequentialEngine implements TrainingEngine {
  constructor(
    readonly trainer: LocalTrainer,
    /** Steps queued on the device before their losses are read back together (1: every step). */
    readonly stepsPerRead = STEPS_PER_READ,
  ) {}

  setSchedule(epoch: number, learningRate: number): void {
    this.trainer.epoch = epoch;
    this.trainer.learningRate = learningRate;
  }

  /**
   * Steps never wait for the device: their results are read `stepsPerRead` at a time (and after a
   * profiled step, and at the end of `batches`), in one transfer, and the time spent waiting for
   * that read is shared among the steps it covers, so the run records the same totals.
   */
  async *steps(batches: AsyncIterable<Batch>, profile: (ahead: number) => boolean, memory: MemoryPeaks): AsyncGenerator<EngineStep> {
    const trainer = this.trainer;
    const queued: { result: StepResult; seconds: number; profiled: boolean }[] = [];
    for await (const batch of batches) {
      const profiled = profile(queued.length);
      let result: StepResult;
      const started = performance.now();
      try {
        result = profiled ? await measuredStep(trainer, () => trainer.step(batch), memory) : trainer.step(batch);
      } finally {
        batch.inputs.dispose();
        batch.labels.dispose();
      }
      queued.push({ result, seconds: (performance.now() - started) / 1000, profiled });
      if (queued.length >= this.stepsPerRead || profiled) yield* readQueued(queued);
    }
    yield* readQueued(queued);
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
  async *steps(batches: AsyncIterable<Batch>, _profile: (ahead: number) => boolean, memory: MemoryPeaks): AsyncGenerator<EngineStep> {
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

/**
 * Reads the queued steps' values in one transfer and yields them in order (emptying the queue).
 * A step that was skipped for a NaN or an Infinity comes out with its error and a NaN loss; the
 * steps queued after it come out as they went (each step is all or nothing on its own).
 */
async function* readQueued(queued: { result: StepResult; seconds: number; profiled: boolean }[]): AsyncGenerator<EngineStep> {
  if (queued.length === 0) return;
  const steps = queued.splice(0);
  const started = performance.now();
  const settled = await Promise.allSettled(await settleEach(steps.map((s) => s.result)));
  const waited = (performance.now() - started) / 1000 / steps.length;
  for (let i = 0; i < steps.length; i++) {
    const { result, seconds, profiled } = steps[i]!;
    const outcome = settled[i]!;
    if (outcome.status === 'fulfilled') {
      yield { result: outcome.value, seconds: seconds + waited, profiled };
      continue;
    }
    if (!(outcome.reason instanceof NonFiniteError)) throw outcome.reason;
    yield {
      result: { step: result.step, batchSize: result.batchSize, losses: {}, loss: Number.NaN },
      error: outcome.reason,
      seconds: seconds + waited,
      profiled,
    };
  }
}

/** One transfer for every result, then each result's own verdict (a promise per step). */
async function settleEach(results: readonly StepResult[]): Promise<Promise<StepValues>[]> {
  try {
    await readSteps(results);
  } catch {
    // Each result keeps its own outcome; read() below gives it step by step.
  }
  return results.map((r) => r.read());
}
