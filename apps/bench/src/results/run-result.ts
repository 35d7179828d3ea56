import type { BackendDevice } from '@mlaan/core';
import type { RunConfig } from '../configuration/settings.js';
import { describeMachine } from '../machine.js';
import { describeProvenance } from '../provenance.js';
import {
  type EpochRecord,
  type LossPoint,
  type ParameterCounts,
  type PipelineSummary,
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  type WorkerStepMemory,
} from './result-format.js';

/** The memory fields a run accumulates over its sampled steps (largest of each), as its result reads them. */
export interface MemoryPeaks {
  stepPeakBytes: number;
  stateBytes: number;
  stepAllocationBytes: number;
  peakTensorHandleBytes: number;
  tensorsOutsideTrainerBytes: number;
  tensorsLeftByEvaluation: number;
  peakRssBytes: number;
  backendFields: Record<string, number>;
  sampledSteps: number;
  /** `--workers` > 1: each worker's step memory (largest over sessions; the step fields above are the largest worker's). */
  perWorker?: WorkerStepMemory[];
}

/** What a finished run measured, as its training loop kept it (the loop's checkpointed state). */
export interface RunMeasurements {
  history: EpochRecord[];
  curve: { points: LossPoint[] };
  throughput: { trainSeconds: number; trainImages: number; measuredSteps: number; evalSeconds: number; wallSeconds: number };
  memory: MemoryPeaks;
  sessions: number;
  startedAt: string;
}

/** A finished run: its configuration, what it trained and what it measured. */
export interface FinishedRun {
  id: string;
  method: string;
  config: RunConfig;
  /** Local modules actually trained. */
  modules: number;
  diverged: boolean;
  backend: { choice: string; tfjsBackend: string; description: string; gpu: boolean; device?: BackendDevice };
  /** The trainer's activation schedule (keep, window or sweep). */
  schedule: RunResult['schedule'];
  parameters: ParameterCounts;
  trainImages: number;
  testImages: number;
  /** Bytes the training and test sets hold in host memory. */
  datasetBytes: number;
  measurements: RunMeasurements;
  /** `--memory-every`: the steps memory was sampled on (0: none). */
  memoryEvery: number;
  warning: string | undefined;
  pipeline: PipelineSummary | undefined;
  command: string;
}

/** The result file of a finished run (`runs/<id>/result.json`), assembled from what it measured. */
export function assembleRunResult(run: FinishedRun): RunResult {
  const { history, memory, throughput } = run.measurements;
  const best = history.reduce<EpochRecord | undefined>((a, b) => (!a || b.testErrorPercent < a.testErrorPercent ? b : a), undefined);
  const last = history[history.length - 1];
  const { backend } = run;
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    id: run.id,
    method: run.method,
    config: run.config,
    modules: run.modules,
    status: run.diverged ? 'diverged' : 'completed',
    backend: { choice: backend.choice, tfjsBackend: backend.tfjsBackend, description: backend.description, ...(backend.device ? { device: backend.device } : {}) },
    schedule: run.schedule,
    trainImages: run.trainImages,
    testImages: run.testImages,
    parameters: run.parameters,
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
        sampleEvery: run.memoryEvery,
        workers: memory.perWorker
          ? { count: memory.perWorker.length, stepPeakBytesSum: memory.perWorker.reduce((sum, w) => sum + w.stepPeakBytes, 0), perWorker: memory.perWorker }
          : null,
      },
      data: {
        datasetBytes: run.datasetBytes,
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
    warning: run.warning ?? null,
    pipeline: run.pipeline ?? null,
    wallSeconds: throughput.wallSeconds,
    trainSeconds: throughput.trainSeconds,
    evalSeconds: throughput.evalSeconds,
    epochs: history,
    lossCurve: run.measurements.curve.points,
    sessions: run.measurements.sessions,
    command: run.command,
    startedAt: run.measurements.startedAt,
    finishedAt: new Date().toISOString(),
    machine: describeMachine(),
    provenance: describeProvenance(),
  };
}
