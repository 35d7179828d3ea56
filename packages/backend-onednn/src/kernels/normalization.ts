import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';

import { BACKEND_NAME, type OnednnBackend } from '../backend.js';

/**
 * Training-mode batch norm over every axis but the last, as two kernels of this backend:
 *   MlaanBatchNormTraining     inputs {x, scale, offset}, attrs {epsilon}
 *                              outputs [y, mean, variance] (biased batch variance)
 *   MlaanBatchNormTrainingGrad inputs {dy, x, scale, mean, variance}, attrs {epsilon}
 *                              outputs [dx, dScale, dOffset]
 * Other code can test for them with tf.getKernel(name, tf.getBackend()) and use them through
 * tf.engine().runKernel; ops/batch-norm-training.ts wraps them as one differentiable op.
 */
export const BatchNormTraining = 'MlaanBatchNormTraining';
export const BatchNormTrainingGrad = 'MlaanBatchNormTrainingGrad';

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
    const x = inputs.x as TensorInfo;
    const [rows, channels] = rowsAndChannels(x, BatchNormTraining);
    const xValues = float32(backend, x, BatchNormTraining, 'x');
    const scale = float32(backend, inputs.scale as TensorInfo, BatchNormTraining, 'scale', channels);
    const offset = float32(backend, inputs.offset as TensorInfo, BatchNormTraining, 'offset', channels);
    const y = backend.outputBuffer(xValues.length);
    const mean = new Float32Array(channels);
    const variance = new Float32Array(channels);
    backend.addon.batchNormTrainingForward(xValues, scale, offset, y, mean, variance, rows, channels, attrs!.epsilon as number);
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
    const x = inputs.x as TensorInfo;
    const [rows, channels] = rowsAndChannels(x, BatchNormTrainingGrad);
    const xValues = float32(backend, x, BatchNormTrainingGrad, 'x');
    const dy = float32(backend, inputs.dy as TensorInfo, BatchNormTrainingGrad, 'dy', xValues.length);
    const scale = float32(backend, inputs.scale as TensorInfo, BatchNormTrainingGrad, 'scale', channels);
    const mean = float32(backend, inputs.mean as TensorInfo, BatchNormTrainingGrad, 'mean', channels);
    const variance = float32(backend, inputs.variance as TensorInfo, BatchNormTrainingGrad, 'variance', channels);
    const dx = backend.outputBuffer(xValues.length);
    const dScale = new Float32Array(channels);
    const dOffset = new Float32Array(channels);
    backend.addon.batchNormTrainingBackward(dy, xValues, scale, mean, variance, dx, dScale, dOffset, rows, channels, attrs!.epsilon as number);
    return [
      backend.floatOutput([...x.shape], dx),
      backend.floatOutput([channels], dScale),
      backend.floatOutput([channels], dOffset),
    ];
  },
};

export const normalizationKernels: KernelConfig[] = [forward, backward];
