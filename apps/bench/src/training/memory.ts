import { float32Bytes, type LocalTrainer, measureMemory, type PipelineWorkerMeters } from '@mlaan/core';
import type { Dataset } from '@mlaan/data';
import { backendMemoryFields } from '../backend.js';
import type { ParameterCounts, WorkerStepMemory } from '../results/result-format.js';
import type { MemoryPeaks } from '../results/run-result.js';

export type { MemoryPeaks } from '../results/run-result.js';

/**
 * What the trainer itself keeps between steps: every parameter and buffer (backbone, heads,
 * decoders, leap nets, EMA twins) and the optimizer's momentum. Counted exactly as
 * benchmarks/mlaan-cost.ts counts it, so that the bench's memory column and that benchmark agree.
 */
export function trainerStateBytes(trainer: LocalTrainer): number {
  const variables = [...trainer.namedParameters(), ...trainer.namedBuffers()].map(([, variable]) => variable);
  return float32Bytes(variables) + float32Bytes(trainer.optimizer.state().values());
}

/** Parameters of the backbone apart from those local learning adds (heads, decoders, leap nets, twins). */
export function parameterCounts(trainer: LocalTrainer): ParameterCounts {
  const backboneVariables = new Set(trainer.backbone.namedVariables().map(([, v]) => v));
  let total = 0;
  let backbone = 0;
  const auxiliaryByOwner: Record<string, number> = {};
  for (const [name, variable] of trainer.namedParameters()) {
    total += variable.size;
    if (backboneVariables.has(variable)) {
      backbone += variable.size;
    } else {
      const owner = name.split('.')[0] ?? name;
      auxiliaryByOwner[owner] = (auxiliaryByOwner[owner] ?? 0) + variable.size;
    }
  }
  const auxiliaryBuffers = trainer
    .namedBuffers()
    .filter(([, v]) => !backboneVariables.has(v))
    .reduce((sum, [, v]) => sum + v.size, 0);
  return { total, backbone, auxiliary: total - backbone, auxiliaryByOwner, auxiliaryBuffers };
}

/** Bytes the input pipeline holds in host memory for a dataset (images and labels). */
export function datasetBytes(dataset: Dataset): number {
  return dataset.labels.byteLength + (dataset.kind === 'array' ? dataset.images.byteLength : 0);
}

/** backendFields key of the most GPU bytes in use during a sampled step (GPU backends that report it: webgpu). */
export const STEP_PEAK_GPU_FIELD = 'stepPeakBytesInGPU';

export function emptyMemoryPeaks(): MemoryPeaks {
  return {
    stepPeakBytes: 0,
    stateBytes: 0,
    stepAllocationBytes: 0,
    peakTensorHandleBytes: 0,
    tensorsOutsideTrainerBytes: 0,
    tensorsLeftByEvaluation: 0,
    peakRssBytes: 0,
    backendFields: {},
    sampledSteps: 0,
  };
}

/**
 * Runs one training step under the memory profiler and folds what it saw into `peaks`. The step's
 * own peak is the trainer's state when the step began plus the distinct buffers the step had alive
 * at its peak; tensors alive outside the trainer (the batch, anything evaluation left) are kept
 * apart, so that neither the input pipeline nor a leak can pass for the method's memory.
 */
export async function measuredStep<T>(trainer: LocalTrainer, step: () => T, peaks: MemoryPeaks): Promise<T> {
  const stateBytes = trainerStateBytes(trainer);
  const { result, memory } = await measureMemory(step);
  peaks.stateBytes = Math.max(peaks.stateBytes, stateBytes);
  peaks.stepAllocationBytes = Math.max(peaks.stepAllocationBytes, memory.peakBufferAllocationBytes);
  peaks.stepPeakBytes = Math.max(peaks.stepPeakBytes, stateBytes + memory.peakBufferAllocationBytes);
  peaks.peakTensorHandleBytes = Math.max(peaks.peakTensorHandleBytes, memory.peakTensorBytes);
  peaks.tensorsOutsideTrainerBytes = Math.max(peaks.tensorsOutsideTrainerBytes, memory.baselineTensorBytes - stateBytes);
  peaks.sampledSteps += 1;
  for (const [key, value] of Object.entries(backendMemoryFields())) {
    peaks.backendFields[key] = Math.max(peaks.backendFields[key] ?? 0, value);
  }
  if (memory.device) {
    // The GPU bytes in use at the step's peak (buffers are sampled as they are made), not only after it.
    peaks.backendFields[STEP_PEAK_GPU_FIELD] = Math.max(peaks.backendFields[STEP_PEAK_GPU_FIELD] ?? 0, memory.device.peakInUseBytes);
  }
  return result;
}

/**
 * Folds the pipeline workers' step memory (measured in each worker on the sampled steps) into
 * `peaks`: per worker, the largest of this session's meters and `earlier` sessions'; the step
 * fields become the largest worker's, since each worker stands for its own device.
 */
export function foldWorkerMemory(peaks: MemoryPeaks, meters: readonly PipelineWorkerMeters[], earlier: readonly WorkerStepMemory[]): void {
  peaks.perWorker = meters.map((m, i) => {
    const before = earlier[i];
    return {
      worker: m.worker,
      modules: m.modules,
      stepPeakBytes: Math.max(before?.stepPeakBytes ?? 0, m.stepPeakBytes),
      stateBytes: Math.max(before?.stateBytes ?? 0, m.stateBytes),
      stepAllocationBytes: Math.max(before?.stepAllocationBytes ?? 0, m.stepAllocationBytes),
      sampledSteps: (before?.sampledSteps ?? 0) + m.sampledSteps,
    };
  });
  const largest = peaks.perWorker.reduce((a, b) => (b.stepPeakBytes > a.stepPeakBytes ? b : a));
  peaks.stepPeakBytes = largest.stepPeakBytes;
  peaks.stateBytes = largest.stateBytes;
  peaks.stepAllocationBytes = largest.stepAllocationBytes;
  peaks.sampledSteps = largest.sampledSteps;
}
