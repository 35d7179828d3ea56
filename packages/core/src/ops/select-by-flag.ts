import * as tf from '@tensorflow/tfjs-core';
import { SELECT_BY_FLAG_KERNEL } from '../kernels/kernel-names.js';

/**
 * For each pair, `whenTrue` where the bool scalar `flag` is true, else `whenFalse` (same shape and
 * dtype), decided on the device: the flag is never read back. Runs the active backend's
 * `MlaanSelectByFlag` when it registers one (all pairs in one call), else `tf.where` over the
 * broadcast flag. A NaN in the unselected tensor does not reach the result (unlike
 * `a * f + b * (1 - f)`).
 */
export function selectPairsByFlag(flag: tf.Tensor, pairs: readonly (readonly [tf.Tensor, tf.Tensor])[]): tf.Tensor[] {
  if (pairs.length === 0) return [];
  if (tf.getKernel(SELECT_BY_FLAG_KERNEL, tf.getBackend()) !== undefined) {
    const inputs: tf.NamedTensorMap = { flag };
    pairs.forEach(([whenTrue, whenFalse], i) => {
      inputs[`whenTrue${i}`] = whenTrue;
      inputs[`whenFalse${i}`] = whenFalse;
    });
    const outputs = tf.engine().runKernel(SELECT_BY_FLAG_KERNEL, inputs) as tf.Tensor | tf.Tensor[];
    return Array.isArray(outputs) ? outputs : [outputs];
  }
  return tf.tidy(() => pairs.map(([whenTrue, whenFalse]) => tf.where(tf.broadcastTo(flag, whenTrue.shape), whenTrue, whenFalse)));
}

/** One pair of `selectPairsByFlag`. */
export function selectByFlag<T extends tf.Tensor>(flag: tf.Tensor, whenTrue: T, whenFalse: T): T {
  return selectPairsByFlag(flag, [[whenTrue, whenFalse]])[0] as T;
}
