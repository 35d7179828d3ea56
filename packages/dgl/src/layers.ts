import * as tf from '@tensorflow/tfjs-core';
import { Layer, NamedVariable, ShapeError } from '@mlaan/core';

/**
 * Averaging weights of PyTorch's adaptive average pooling along one axis: output cell i averages
 * input cells floor(i*S/O) .. ceil((i+1)*S/O)-1, so windows may overlap when S is not a multiple
 * of O (ImageNet sizes such as 14 -> 4), and cells repeat when O > S.
 */
export function adaptivePoolMatrix(inputSize: number, outputSize: number): Float32Array {
  const matrix = new Float32Array(outputSize * inputSize);
  for (let i = 0; i < outputSize; i++) {
    const start = Math.floor((i * inputSize) / outputSize);
    const end = Math.ceil(((i + 1) * inputSize) / outputSize);
    for (let s = start; s < end; s++) matrix[i * inputSize + s] = 1 / (end - start);
  }
  return matrix;
}

/**
 * Adaptive average pooling to `outputSize` x `outputSize` with PyTorch's window rule for any input
 * size (core's AdaptiveAvgPool2d needs divisible sizes). Divisible sizes take the avgPool kernel;
 * the rest pool H then W with small averaging matrices, which tfjs differentiates.
 */
export class AdaptiveAveragePool extends Layer {
  constructor(readonly outputSize: number) {
    super();
    if (!Number.isInteger(outputSize) || outputSize < 1) {
      throw new ShapeError(`AdaptiveAveragePool needs a positive integer output size, got ${outputSize}.`);
    }
  }

  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4) throw new ShapeError(`AdaptiveAveragePool expects NHWC input, got [${x.shape.join(', ')}].`);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const o = this.outputSize;
    if (h === o && w === o) return x.clone();
    if (h % o === 0 && w % o === 0) return tf.avgPool(x as tf.Tensor4D, [h / o, w / o], [h / o, w / o], 'valid');
    return tf.tidy(() => {
      const poolH = tf.tensor2d(adaptivePoolMatrix(h, o), [o, h]);
      const poolW = tf.tensor2d(adaptivePoolMatrix(w, o), [o, w]);
      // [N,H,W,C] -> [N,W,C,H] -> pool H -> [N,W,C,O]
      const byH = tf.matMul(tf.reshape(tf.transpose(x, [0, 2, 3, 1]), [n * w * c, h]), poolH, false, true);
      // [N,W,C,O] -> [N,O,C,W] -> pool W -> [N,O,C,O] -> [N,O,O,C]
      const swapped = tf.transpose(tf.reshape(byH, [n, w, c, o]), [0, 3, 2, 1]);
      const byW = tf.matMul(tf.reshape(swapped, [n * o * c, w]), poolW, false, true);
      return tf.transpose(tf.reshape(byW, [n, o, c, o]), [0, 1, 3, 2]);
    });
  }

  clone(): AdaptiveAveragePool {
    return new AdaptiveAveragePool(this.outputSize);
  }
}

/**
 * Flatten in PyTorch's channel-first order (NHWC -> NCHW -> [N, C*H*W]), so that a Linear layer
 * after a spatial map keeps PyTorch's weight layout and imported weights line up.
 */
export class ChannelsFirstFlatten extends Layer {
  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4) return tf.reshape(x, [x.shape[0]!, -1]);
    return tf.tidy(() => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0]!, -1]));
  }

  clone(): ChannelsFirstFlatten {
    return new ChannelsFirstFlatten();
  }
}
