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
 * `flag ? whenTrue : whenFalse` for whole tensors, `flag` a bool scalar, for any number of pairs
 * at once: how a step keeps or undoes its writes without reading its verdict back
 * (`ops/select-by-flag.ts`). Inputs `flag`, `whenTrue0`, `whenFalse0`, `whenTrue1`, ...; one
 * output per pair. Backends whose memory is the host's may register it to hand back one input's
 * buffer of each pair instead of selecting element by element.
 */
export const SELECT_BY_FLAG_KERNEL = 'MlaanSelectByFlag';

/**
 * One SGD update of one variable, as `torch.optim.SGD` does it (`ops/sgd-update.ts`): outputs
 * [new value, new momentum buffer] (the buffer only when momentum is not 0). `firstStep`: the
 * buffer starts as the step's direction, as PyTorch's does. Backends whose memory is the host's
 * register it to make the update one pass over the variable instead of up to eight element-wise
 * kernels, each with its own dispatch.
 */
export const SGD_UPDATE_KERNEL = 'MlaanSgdUpdate';
export interface SgdUpdateInputs {
  variable: TensorInfo;
  gradient: TensorInfo;
  /** Absent when momentum is 0. */
  momentumBuffer?: TensorInfo;
}
export interface SgdUpdateAttrs {
  learningRate: number;
  momentum: number;
  nesterov: boolean;
  weightDecay: number;
  dampening: number;
  firstStep: boolean;
}

/**
 * The sum of every element of every input, as one float32 scalar (`ops/total-sum.ts`): a step's
 * check for non-finite gradients sums ~100 gradients at once. Host-memory backends register it
 * to do that in one pass instead of one reduction kernel per tensor.
 */
export const TOTAL_SUM_KERNEL = 'MlaanTotalSum';

/**
 * Batch norm's running-statistics update after a training forward: outputs [running mean,
 * running variance] = (1 - m) * running + m * batch, with the batch variance made unbiased
 * (`ops/batch-norm.ts`). Host-memory backends register it to make seven element-wise kernels one.
 */
export const RUNNING_STATISTICS_KERNEL = 'MlaanRunningStatistics';
export interface RunningStatisticsInputs {
  runningMean: TensorInfo;
  runningVariance: TensorInfo;
  mean: TensorInfo;
  biasedVariance: TensorInfo;
}
export interface RunningStatisticsAttrs {
  momentum: number;
  /** The values per channel the batch statistics came from (the unbiasing factor's n). */
  count: number;
}
