import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  type BatchNormReluTrainingGradAttrs,
  type BatchNormReluTrainingGradInputs,
  type BatchNormReluTrainingInputs,
  type BatchNormTrainingAttrs,
  type BatchNormTrainingGradAttrs,
  type BatchNormTrainingGradInputs,
  type BatchNormTrainingInputs,
} from '@mlaan/core';

import { BACKEND_NAME, type OnednnBackend } from '../backend.js';

/*
 * Training-mode batch norm over every axis but the last, as two kernels of this backend, named
 * and typed in @mlaan/core (whose batch-norm op runs them where the active backend has them):
 *   BATCH_NORM_TRAINING_KERNEL      inputs {x, scale, offset}, attrs {epsilon}
 *                                   outputs [y, mean, variance] (biased batch variance)
 *   BATCH_NORM_TRAINING_GRAD_KERNEL inputs {dy, x, scale, mean, variance}, attrs {epsilon}
 *                                   outputs [dx, dScale, dOffset]
 * @mlaan/core's batchNormTraining (ops/batch-norm.ts) wraps them as one differentiable op. native/normalization.cc
 * accumulates the per-channel sums in double precision.
 *
 * The same two with the ReLU after the batch norm (and a residual summed before it) folded in:
 *   BATCH_NORM_RELU_TRAINING_KERNEL      inputs {x, scale, offset, residual?}, attrs {epsilon}
 *                                        outputs [y = max(0, bn(x) [+ residual]), mean, variance]
 *   BATCH_NORM_RELU_TRAINING_GRAD_KERNEL inputs {dy, x, output, scale, mean, variance},
 *                                        attrs {epsilon, residualGradient}
 *                                        outputs [dx, dScale, dOffset(, dResidual)]
 * One pass over the data each way instead of the three (forward) and two (backward) that the
 * separate sum and ReLU kernels add to a ResNet block.
 */
const BatchNormTraining = BATCH_NORM_TRAINING_KERNEL;
const BatchNormTrainingGrad = BATCH_NORM_TRAINING_GRAD_KERNEL;

class BatchNormTrainingInputError extends Error {
  constructor(kernel: string, detail: string) {
    super(`${kernel} on the onednn backend needs float32 channels-last data with per-channel vectors: ${detail}. Use tf.moments and tf.batchNorm for other cases.`);
    this.name = 'BatchNormTrainingInputError';
  }
}

function float32(backend: OnednnBackend, tensor: TensorInfo | undefined, kernel: string, name: string, length?: number): Float32Array {
  const values = tensor ? backend.floatValues(tensor) : null;
  if (!values) throw new BatchNormTrainingInputError(kernel, `${name} is missing or not float32`);
  if (length !== undefined && values.length !== length) {
    throw new BatchNormTrainingInputError(kernel, `${name} has ${values.length} values, expected ${length}`);
  }
  return values;
}

function rowsAndChannels(x: TensorInfo, kernel: string): [number, number] {
  if (x.shape.length < 2) throw new BatchNormTrainingInputError(kernel, `x has rank ${x.shape.length}, expected at least 2`);
  const channels = x.shape[x.shape.length - 1]!;
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  if (rows < 1 || channels < 1) throw new BatchNormTrainingInputError(kernel, 'x is empty');
  return [rows, channels];
}

const forward: KernelConfig = {
  kernelName: BatchNormTraining,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend: kernelBackend, attrs }) => {
    const backend = kernelBackend as OnednnBackend;
    const { x, scale: scaleInput, offset: offsetInput } = inputs as unknown as BatchNormTrainingInputs;
    const { epsilon } = attrs as unknown as BatchNormTrainingAttrs;
    const [rows, channels] = rowsAndChannels(x, BatchNormTraining);
    const xValues = float32(backend, x, BatchNormTraining, 'x');
    const scale = float32(backend, scaleInput, BatchNormTraining, 'scale', channels);
    const offset = float32(backend, offsetInput, BatchNormTraining, 'offset', channels);
    const y = backend.outputBuffer(xValues.length);
    const mean = new Float32Array(channels);
    const variance = new Float32Array(channels);
    backend.addon.batchNormTrainingForward(xValues, scale, offset, y, mean, variance, rows, channels, epsilon);
    return [
      backend.floatOutput([...x.shape], y),
      backend.floatOutput([channels], mean),
      backend.floatOutput([channels], variance),
    ];
  },
};

const backward: KernelConfig = {
  kernelName: BatchNormTrainingGrad,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend: kernelBackend, attrs }) => {
    const backend = kernelBackend as OnednnBackend;
    const { x, dy: dyInput, scale: scaleInput, mean: meanInput, variance: varianceInput } = inputs as unknown as BatchNormTrainingGradInputs;
    const { epsilon } = attrs as unknown as BatchNormTrainingGradAttrs;
    const [rows, channels] = rowsAndChannels(x, BatchNormTrainingGrad);
    const xValues = float32(backend, x, BatchNormTrainingGrad, 'x');
    const dy = float32(backend, dyInput, BatchNormTrainingGrad, 'dy', xValues.length);
    const scale = float32(backend, scaleInput, BatchNormTrainingGrad, 'scale', channels);
    const mean = float32(backend, meanInput, BatchNormTrainingGrad, 'mean', channels);
    const variance = float32(backend, varianceInput, BatchNormTrainingGrad, 'variance', channels);
    const dx = backend.outputBuffer(xValues.length);
    const dScale = new Float32Array(channels);
    const dOffset = new Float32Array(channels);
    backend.addon.batchNormTrainingBackward(dy, xValues, scale, mean, variance, dx, dScale, dOffset, rows, channels, epsilon);
    return [
      backend.floatOutput([...x.shape], dx),
      backend.floatOutput([channels], dScale),
      backend.floatOutput([channels], dOffset),
    ];
  },
};

const reluForward: KernelConfig = {
  kernelName: BATCH_NORM_RELU_TRAINING_KERNEL,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend: kernelBackend, attrs }) => {
    const backend = kernelBackend as OnednnBackend;
    const kernel = BATCH_NORM_RELU_TRAINING_KERNEL;
    const { x, scale: scaleInput, offset: offsetInput, residual: residualInput } = inputs as unknown as BatchNormReluTrainingInputs;
    const { epsilon } = attrs as unknown as BatchNormTrainingAttrs;
    const [rows, channels] = rowsAndChannels(x, kernel);
    const xValues = float32(backend, x, kernel, 'x');
    const scale = float32(backend, scaleInput, kernel, 'scale', channels);
    const offset = float32(backend, offsetInput, kernel, 'offset', channels);
    const residual = residualInput ? float32(backend, residualInput, kernel, 'residual', xValues.length) : null;
    const y = backend.outputBuffer(xValues.length);
    const mean = new Float32Array(channels);
    const variance = new Float32Array(channels);
    backend.addon.batchNormTrainingForward(xValues, scale, offset, y, mean, variance, rows, channels, epsilon, residual, true);
    return [
      backend.floatOutput([...x.shape], y),
      backend.floatOutput([channels], mean),
      backend.floatOutput([channels], variance),
    ];
  },
};

const reluBackward: KernelConfig = {
  kernelName: BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  backendName: BACKEND_NAME,
  kernelFunc: ({ inputs, backend: kernelBackend, attrs }) => {
    const backend = kernelBackend as OnednnBackend;
    const kernel = BATCH_NORM_RELU_TRAINING_GRAD_KERNEL;
    const { x, dy: dyInput, output: outputInput, scale: scaleInput, mean: meanInput, variance: varianceInput } =
      inputs as unknown as BatchNormReluTrainingGradInputs;
    const { epsilon, residualGradient } = attrs as unknown as BatchNormReluTrainingGradAttrs;
    const [rows, channels] = rowsAndChannels(x, kernel);
    const xValues = float32(backend, x, kernel, 'x');
    const dy = float32(backend, dyInput, kernel, 'dy', xValues.length);
    const output = float32(backend, outputInput, kernel, 'output', xValues.length);
    const scale = float32(backend, scaleInput, kernel, 'scale', channels);
    const mean = float32(backend, meanInput, kernel, 'mean', channels);
    const variance = float32(backend, varianceInput, kernel, 'variance', channels);
    const dx = backend.outputBuffer(xValues.length);
    const dScale = new Float32Array(channels);
    const dOffset = new Float32Array(channels);
    const dResidual = residualGradient ? backend.outputBuffer(xValues.length) : null;
    backend.addon.batchNormTrainingBackward(dy, xValues, scale, mean, variance, dx, dScale, dOffset, rows, channels, epsilon, output, dResidual);
    const results = [
      backend.floatOutput([...x.shape], dx),
      backend.floatOutput([channels], dScale),
      backend.floatOutput([channels], dOffset),
    ];
    if (dResidual) results.push(backend.floatOutput([...x.shape], dResidual));
    return results;
  },
};

export const normalizationKernels: KernelConfig[] = [forward, backward, reluForward, reluBackward];
