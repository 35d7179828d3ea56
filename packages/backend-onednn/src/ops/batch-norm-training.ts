import * as tf from '@tensorflow/tfjs-core';

import { BATCH_NORM_TRAINING_GRAD_KERNEL, BATCH_NORM_TRAINING_KERNEL } from '@mlaan/core';

/**
 * Training-mode batch normalisation over every axis but the last (NHWC or NC) as one
 * differentiable op: y = (x - mean) / sqrt(variance + epsilon) * scale + offset with the biased
 * batch statistics, differentiable in x, scale and offset. On the onednn backend the forward and
 * the backward are one oneDNN kernel each; on any other backend it is tf.moments + tf.batchNorm.
 * `onStatistics` receives the batch mean and biased variance (the callee owns and disposes them),
 * e.g. to update running statistics.
 */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  epsilon = 1e-5,
  onStatistics?: (mean: tf.Tensor1D, variance: tf.Tensor1D) => void,
): tf.Tensor {
  if (!tf.getKernel(BATCH_NORM_TRAINING_KERNEL, tf.getBackend())) {
    const axes = Array.from({ length: x.rank - 1 }, (_, axis) => axis);
    const { mean, variance } = tf.moments(x, axes);
    if (onStatistics) onStatistics(tf.keep(tf.clone(mean)) as tf.Tensor1D, tf.keep(tf.clone(variance)) as tf.Tensor1D);
    const output = tf.batchNorm(x, mean, variance, offset, scale, epsilon);
    mean.dispose();
    variance.dispose();
    return output;
  }
  const op = tf.customGrad((input, gamma, beta, save) => {
    const [output, mean, variance] = tf.engine().runKernel(
      BATCH_NORM_TRAINING_KERNEL,
      { x: input as tf.Tensor, scale: gamma as tf.Tensor, offset: beta as tf.Tensor },
      { epsilon },
    ) as tf.Tensor[];
    (save as tf.GradSaveFunc)([input as tf.Tensor, gamma as tf.Tensor, mean!, variance!]);
    if (onStatistics) onStatistics(tf.keep(tf.clone(mean!)) as tf.Tensor1D, tf.keep(tf.clone(variance!)) as tf.Tensor1D);
    return {
      value: output!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedInput, savedScale, savedMean, savedVariance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(
          BATCH_NORM_TRAINING_GRAD_KERNEL,
          { dy, x: savedInput, scale: savedScale, mean: savedMean, variance: savedVariance },
          { epsilon },
        ) as tf.Tensor[];
      },
    };
  });
  return op(x, scale, offset);
}
