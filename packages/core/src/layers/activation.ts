import * as tf from '@tensorflow/tfjs-core';
import { Activation, BackwardRequest, Layer, NamedVariable } from './layer.js';

/** Rectified linear unit; its backward masks with the saved output (no input kept). */
export class ReLU extends Layer {
  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }

  override forward(x: tf.Tensor): Activation {
    const output = tf.relu(x);
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest) =>
        request.input ? { input: reluBackward(dy, output) } : {},
      dispose: () => output.dispose(),
    };
  }

  clone(): ReLU {
    return new ReLU();
  }
}

export function reluBackward(dy: tf.Tensor, output: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(dy, tf.step(output)));
}
