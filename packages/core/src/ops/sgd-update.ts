import * as tf from '@tensorflow/tfjs-core';
import { SGD_UPDATE_KERNEL, type SgdUpdateAttrs } from '../kernels/kernel-names.js';

/** The new value of a variable and, with momentum, its new momentum buffer. */
export interface SgdUpdated {
  value: tf.Tensor;
  momentumBuffer?: tf.Tensor;
}

/**
 * One `torch.optim.SGD` update of one variable: d = g + wd * p; buf = d on the first step, else
 * momentum * buf + (1 - dampening) * d; d = d + momentum * buf (Nesterov) or buf; p - lr * d.
 * Runs the active backend's `MlaanSgdUpdate` when it registers one (one pass), else the same
 * arithmetic as element-wise ops (backends on a device, such as webgpu). `momentumBuffer` is
 * required when momentum is not 0 (its values are unused on the first step).
 */
export function sgdUpdate(variable: tf.Tensor, gradient: tf.Tensor, momentumBuffer: tf.Tensor | undefined, attrs: SgdUpdateAttrs): SgdUpdated {
  const withMomentum = attrs.momentum !== 0;
  if (tf.getKernel(SGD_UPDATE_KERNEL, tf.getBackend()) !== undefined) {
    const inputs: tf.NamedTensorMap = withMomentum && momentumBuffer ? { variable, gradient, momentumBuffer } : { variable, gradient };
    const outputs = tf.engine().runKernel(SGD_UPDATE_KERNEL, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { value: outputs[0]!, momentumBuffer: outputs[1] };
  }
  return tf.tidy(() => {
    let direction: tf.Tensor = gradient;
    if (attrs.weightDecay !== 0) direction = tf.add(direction, tf.mul(variable, attrs.weightDecay));
    let next: tf.Tensor | undefined;
    if (withMomentum) {
      next = attrs.firstStep
        ? direction
        : tf.add(tf.mul(momentumBuffer!, attrs.momentum), attrs.dampening ? tf.mul(direction, 1 - attrs.dampening) : direction);
      direction = attrs.nesterov ? tf.add(direction, tf.mul(next, attrs.momentum)) : next;
    }
    const value = tf.sub(variable, tf.mul(direction, attrs.learningRate));
    // The first step's buffer may be the gradient itself: a tensor of its own, as the kernel's is.
    return next === undefined ? { value } : { value, momentumBuffer: next === gradient ? tf.clone(next) : next };
  });
}
