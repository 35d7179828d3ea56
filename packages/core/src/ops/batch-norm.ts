import * as tf from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  type BatchNormReluTrainingAttrs,
  type BatchNormReluTrainingGradAttrs,
  type BatchNormTrainingAttrs,
  type BatchNormTrainingGradAttrs,
  RUNNING_STATISTICS_KERNEL,
} from '../kernels/kernel-names.js';

/**
 * Batch normalisation in training mode over every axis but the last (NHWC or NC), returned with
 * what both its gradient and the running-statistics update need. One pass computes the moments,
 * and the backward uses the closed form instead of differentiating through `moments`, which
 * roughly halves the tensors a training step allocates for batch norm.
 */
export interface BatchNormTrainingResult {
  output: tf.Tensor;
  /** Per-channel batch mean. */
  mean: tf.Tensor1D;
  /** Per-channel biased batch variance (what normalises the batch). */
  variance: tf.Tensor1D;
  /** (x - mean) / sqrt(variance + eps), kept for the backward pass. */
  normalized: tf.Tensor;
  /** 1 / sqrt(variance + eps). */
  inverseStd: tf.Tensor1D;
}

/*
 * Optional backend kernels for training-mode batch norm (kernels/kernel-names.ts). A backend that
 * registers them (the oneDNN backend does) runs the forward and the backward as one kernel each;
 * other backends compose the same maths from tfjs ops.
 */
export {
  BATCH_NORM_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  type BatchNormReluTrainingAttrs,
  type BatchNormReluTrainingInputs,
  type BatchNormReluTrainingGradAttrs,
  type BatchNormReluTrainingGradInputs,
  type BatchNormTrainingAttrs,
  type BatchNormTrainingInputs,
  type BatchNormTrainingGradAttrs,
  type BatchNormTrainingGradInputs,
} from '../kernels/kernel-names.js';

let fusedBatchNormEnabled = true;

/**
 * Whether to use the backend's fused batch-norm kernels where it has them (default: yes; on the
 * onednn backend they make a ResNet-32 training step much cheaper and hold less memory: the input
 * and two per-channel statistics instead of the normalised copy). They round differently from the
 * composed ops (onednn's accumulate the statistics in double precision, as PyTorch's CPU batch
 * norm), which decides a few ReLU inputs within ~1e-6 of zero the other way. Turn them off to
 * compare the composed maths across backends.
 */
export function setFusedBatchNorm(enabled: boolean): void {
  fusedBatchNormEnabled = enabled;
}

export function hasFusedBatchNormKernels(): boolean {
  if (!fusedBatchNormEnabled) return false;
  const backend = tf.getBackend();
  return (
    tf.getKernel(BATCH_NORM_TRAINING_KERNEL, backend) !== undefined &&
    tf.getKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, backend) !== undefined
  );
}

/** Forward through the backend's fused kernel: [output, mean, biased variance]. */
export function fusedBatchNormForward(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  const attrs: BatchNormTrainingAttrs = { epsilon };
  return tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x, scale: gamma, offset: beta }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/** Backward through the backend's fused kernel: [dx, dgamma, dbeta]. */
export function fusedBatchNormBackward(
  dy: tf.Tensor,
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  epsilon: number,
): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  const attrs: BatchNormTrainingGradAttrs = { epsilon };
  return tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, { dy, x, scale: gamma, mean, variance }, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/**
 * Whether the backend also fuses batch norm with the ReLU after it (and a residual summed before
 * that ReLU): BATCH_NORM_RELU_TRAINING_KERNEL and its gradient. Off with `setFusedBatchNorm(false)`.
 */
export function hasFusedBatchNormReluKernels(): boolean {
  if (!hasFusedBatchNormKernels()) return false;
  const backend = tf.getBackend();
  return (
    tf.getKernel(BATCH_NORM_RELU_TRAINING_KERNEL, backend) !== undefined &&
    tf.getKernel(BATCH_NORM_RELU_TRAINING_GRAD_KERNEL, backend) !== undefined
  );
}

/** relu(batch norm(x) [+ residual]) through the backend's fused kernel: [output, mean, biased variance]. */
export function fusedBatchNormReluForward(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  residual?: tf.Tensor,
): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  const attrs: BatchNormReluTrainingAttrs = { epsilon };
  const inputs: tf.NamedTensorMap = { x, scale: gamma, offset: beta };
  if (residual) inputs.residual = residual;
  return tf.engine().runKernel(BATCH_NORM_RELU_TRAINING_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

/**
 * Its backward from the gradient of the output: [dx, dgamma, dbeta], and with `residualGradient`
 * also the residual's gradient (dy where the output is positive).
 */
export function fusedBatchNormReluBackward(
  dy: tf.Tensor,
  x: tf.Tensor,
  output: tf.Tensor,
  gamma: tf.Tensor1D,
  mean: tf.Tensor1D,
  variance: tf.Tensor1D,
  epsilon: number,
  residualGradient: boolean,
): tf.Tensor[] {
  const attrs: BatchNormReluTrainingGradAttrs = { epsilon, residualGradient };
  return tf.engine().runKernel(
    BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
    { dy, x, output, scale: gamma, mean, variance },
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor[];
}

export function reductionAxes(rank: number): number[] {
  return Array.from({ length: rank - 1 }, (_, i) => i);
}

export function batchNormTrainingForward(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
): BatchNormTrainingResult {
  return tf.tidy(() => {
    const axes = reductionAxes(x.rank);
    const mean = tf.mean(x, axes) as tf.Tensor1D;
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axes) as tf.Tensor1D;
    const inverseStd = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D;
    const normalized = tf.mul(centered, inverseStd);
    const output = tf.add(tf.mul(normalized, gamma), beta);
    return { output, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D, normalized, inverseStd };
  });
}

export interface BatchNormGradients {
  input?: tf.Tensor;
  gamma: tf.Tensor1D;
  beta: tf.Tensor1D;
}

/**
 * dx = gamma * invstd * (dy - mean(dy) - xhat * mean(dy * xhat)),
 * dgamma = sum(dy * xhat), dbeta = sum(dy).
 */
export function batchNormTrainingBackward(
  outputGradient: tf.Tensor,
  normalized: tf.Tensor,
  inverseStd: tf.Tensor1D,
  gamma: tf.Tensor1D,
  wantInput: boolean,
): BatchNormGradients {
  return tf.tidy(() => {
    const count = outputGradient.size / outputGradient.shape[outputGradient.rank - 1]!;
    const axes = reductionAxes(outputGradient.rank);
    const betaGradient = tf.sum(outputGradient, axes) as tf.Tensor1D;
    const gammaGradient = tf.sum(tf.mul(outputGradient, normalized), axes) as tf.Tensor1D;
    if (!wantInput) return { gamma: gammaGradient, beta: betaGradient };
    const centered = tf.sub(
      outputGradient,
      tf.div(tf.add(betaGradient, tf.mul(normalized, gammaGradient)), count),
    );
    const input = tf.mul(centered, tf.mul(gamma, inverseStd));
    return { input, gamma: gammaGradient, beta: betaGradient };
  });
}

/**
 * Training-mode batch norm as one autograd op (tf.customGrad), for heads and other code that runs
 * under tfjs autograd. `onStatistics` receives the batch mean and biased variance (kept; the
 * callee owns them) so running statistics can be updated without a second pass.
 */
export function batchNormTraining(
  x: tf.Tensor,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  epsilon: number,
  onStatistics?: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void,
): tf.Tensor {
  if (hasFusedBatchNormKernels()) {
    const fused = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [input, scale, shift, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
      const [output, mean, variance] = fusedBatchNormForward(input, scale, shift, epsilon);
      save([input, scale, mean, variance]);
      if (onStatistics) onStatistics(tf.keep(mean), tf.keep(variance));
      return {
        value: output,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [savedInput, savedScale, savedMean, savedVariance] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
          return fusedBatchNormBackward(dy, savedInput, savedScale, savedMean, savedVariance, epsilon);
        },
      };
    });
    return fused(x, gamma, beta);
  }
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, scale, shift, save] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const result = batchNormTrainingForward(input, scale, shift, epsilon);
    save([result.normalized, result.inverseStd, scale]);
    if (onStatistics) onStatistics(tf.keep(result.mean), tf.keep(result.variance));
    else {
      result.mean.dispose();
      result.variance.dispose();
    }
    return {
      value: result.output,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [normalized, inverseStd, savedGamma] = saved as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
        const grads = batchNormTrainingBackward(dy, normalized, inverseStd, savedGamma, true);
        return [grads.input!, grads.gamma, grads.beta];
      },
    };
  });
  return op(x, gamma, beta);
}

/**
 * Batch norm's running statistics after a training forward: (1 - momentum) * running + momentum *
 * batch, the batch variance made unbiased over `count` values per channel (as PyTorch's). Runs the
 * active backend's `MlaanRunningStatistics` when it registers one, else the same arithmetic as
 * element-wise ops. Returns [running mean, running variance].
 */
export function runningStatistics(
  runningMean: tf.Tensor,
  runningVariance: tf.Tensor,
  mean: tf.Tensor,
  biasedVariance: tf.Tensor,
  momentum: number,
  count: number,
): [tf.Tensor1D, tf.Tensor1D] {
  if (tf.getKernel(RUNNING_STATISTICS_KERNEL, tf.getBackend()) !== undefined) {
    const inputs = { runningMean, runningVariance, mean, biasedVariance };
    return tf.engine().runKernel(RUNNING_STATISTICS_KERNEL, inputs, { momentum, count }) as [tf.Tensor1D, tf.Tensor1D];
  }
  return tf.tidy(() => {
    const unbiased = tf.mul(biasedVariance, count / Math.max(count - 1, 1));
    return [
      tf.add(tf.mul(runningMean, 1 - momentum), tf.mul(mean, momentum)),
      tf.add(tf.mul(runningVariance, 1 - momentum), tf.mul(unbiased, momentum)),
    ] as [tf.Tensor1D, tf.Tensor1D];
  });
}
