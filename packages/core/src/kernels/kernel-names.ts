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

/**
 * Training-mode batch norm followed by a ReLU, with an optional residual summed before the ReLU
 * (a ResNet block's closing `relu(bn(x) + shortcut)`): y = max(0, bn(x) [+ residual]) in one
 * pass, outputs [y, mean, biased variance]. The pre-activation values are never stored.
 */
export const BATCH_NORM_RELU_TRAINING_KERNEL = 'MlaanBatchNormReluTraining';
export interface BatchNormReluTrainingInputs {
  x: TensorInfo;
  scale: TensorInfo;
  offset: TensorInfo;
  residual?: TensorInfo;
}
export type BatchNormReluTrainingAttrs = BatchNormTrainingAttrs;

/**
 * Its gradient from the gradient of y: the ReLU's gradient (where `output` > 0) applied on the
 * way. Outputs [dx, dScale, dOffset], plus the residual's gradient (the masked dy) when
 * `residualGradient` is set.
 */
export const BATCH_NORM_RELU_TRAINING_GRAD_KERNEL = 'MlaanBatchNormReluTrainingGrad';
export interface BatchNormReluTrainingGradInputs extends BatchNormTrainingGradInputs {
  /** The forward's y (after the ReLU). */
  output: TensorInfo;
}
export interface BatchNormReluTrainingGradAttrs extends BatchNormTrainingAttrs {
  residualGradient: boolean;
}

/**
 * `flag ? whenTrue : whenFalse` for whole tensors, `flag` a bool scalar: how a step keeps or
 * undoes its writes without reading its verdict back (`ops/select-by-flag.ts`). Backends whose
 * memory is the host's may register it to hand back one input's buffer instead of selecting
 * element by element.
 */
export const SELECT_BY_FLAG_KERNEL = 'MlaanSelectByFlag';
export interface SelectByFlagInputs {
  flag: TensorInfo;
  whenTrue: TensorInfo;
  whenFalse: TensorInfo;
}
