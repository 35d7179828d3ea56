import * as tf from '@tensorflow/tfjs-core';
import { type LocalTrainer, measureMemory } from '@mlaan/core';
import type { Dataset } from '@mlaan/data';
import { backendMemoryFields } from './backend.js';
import type { ParameterCounts } from './results/result-format.js';

/** Bytes of float32 tensors (every trainer variable is float32). */
function float32Bytes(tensors: Iterable<tf.Tensor>): number {
  let total = 0;
  for (const tensor of tensors) total += tensor.size * 4;
  return total;
}

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

/** The memory fields a run accumulates over its sampled steps (largest of each). */
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
}

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
  return result;
}
