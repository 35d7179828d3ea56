import * as tf from '@tensorflow/tfjs-core';
import { SELECT_BY_FLAG_KERNEL } from '../kernels/kernel-names.js';

/**
 * `whenTrue` where the bool scalar `flag` is true, else `whenFalse` (same shape and dtype), decided
 * on the device: the flag is never read back. Runs the active backend's `MlaanSelectByFlag` when
 * it registers one, else `tf.where` over the broadcast flag. A NaN in the unselected tensor does
 * not reach the result (unlike `a * f + b * (1 - f)`).
 */
export function selectByFlag<T extends tf.Tensor>(flag: tf.Tensor, whenTrue: T, whenFalse: T): T {
  if (tf.getKernel(SELECT_BY_FLAG_KERNEL, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(SELECT_BY_FLAG_KERNEL, { flag, whenTrue, whenFalse }) as T;
  }
  return tf.tidy(() => tf.where(tf.broadcastTo(flag, whenTrue.shape), whenTrue, whenFalse)) as T;
}
