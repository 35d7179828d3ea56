import * as tf from '@tensorflow/tfjs-core';
import { TOTAL_SUM_KERNEL } from '../kernels/kernel-names.js';

/**
 * The sum of every element of `tensors` (float32 scalar): non-finite when any element is. Runs
 * the active backend's `MlaanTotalSum` when it registers one (one pass, one dispatch), else one
 * `sum` per tensor and an `addN`.
 */
export function totalSum(tensors: readonly tf.Tensor[]): tf.Scalar {
  if (tensors.length === 0) return tf.scalar(0);
  if (tf.getKernel(TOTAL_SUM_KERNEL, tf.getBackend()) !== undefined) {
    const inputs: Record<string, tf.Tensor> = {};
    tensors.forEach((tensor, i) => (inputs[i] = tensor));
    return tf.engine().runKernel(TOTAL_SUM_KERNEL, inputs) as tf.Scalar;
  }
  return tf.tidy(() => (tensors.length === 1 ? tf.sum(tf.cast(tensors[0]!, 'float32')) : tf.addN(tensors.map((t) => tf.sum(tf.cast(t, 'float32'))))) as tf.Scalar);
}
