import type { TensorInfo } from '@tensorflow/tfjs-core';

/**
 * Kernels this project adds to TensorFlow.js, named once (as tfjs names its own in its
 * kernel_names) for the code that runs them (ops/batch-norm.ts, where the active backend registers
 * them) and the backends that register them (@mlaan/backend-onednn).
 */

/**
 * Training-mode batch norm over every axis but the last: outputs [y, mean, biased variance].
 */
export const BATCH_NORM_TRAINING_KERNEL = 'MlaanBatchNormTraining';
export interface BatchNormTrainingInputs {
  x: TensorInfo;
  scale: TensorInfo;
  offset: TensorInfo;
}
export interface BatchNormTrainingAttrs {
  epsilon: number;
}

/** Its gradient: outputs [dx, dScale, dOffset]. */
export const BATCH_NORM_TRAINING_GRAD_KERNEL = 'MlaanBatchNormTrainingGrad';
export interface BatchNormTrainingGradInputs {
  dy: TensorInfo;
  x: TensorInfo;
  scale: TensorInfo;
  mean: TensorInfo;
  variance: TensorInfo;
}
export type BatchNormTrainingGradAttrs = BatchNormTrainingAttrs;
