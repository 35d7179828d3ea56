import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import { Activation, BackwardRequest, ForwardContext, Layer, NamedVariable } from './layer.js';

/** Mean over H and W: [N, H, W, C] -> [N, C]. */
export class GlobalAveragePool extends Layer {
  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4) throw new ShapeError(`GlobalAveragePool expects NHWC input, got [${x.shape.join(', ')}]`);
    return tf.mean(x, [1, 2]);
  }

  override forward(x: tf.Tensor): Activation {
    const output = this.apply(x);
    const shape = x.shape as [number, number, number, number];
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest) =>
        request.input
          ? {
              input: tf.tidy(() =>
                tf.broadcastTo(tf.div(tf.reshape(dy, [shape[0], 1, 1, shape[3]]), shape[1] * shape[2]), shape),
              ),
            }
          : {},
      dispose: () => output.dispose(),
    };
  }

  clone(): GlobalAveragePool {
    return new GlobalAveragePool();
  }
}

export interface Pool2dOptions {
  kernelSize: number;
  stride?: number;
  padding?: number;
}

/** Average pooling; PyTorch's default count_include_pad=True matches tfjs only without padding. */
export class AvgPool2d extends Layer {
  constructor(readonly options: Pool2dOptions) {
    super();
    if ((options.padding ?? 0) !== 0) throw new ShapeError('AvgPool2d supports padding 0 only');
  }

  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    const { kernelSize, stride } = this.options;
    return tf.avgPool(x as tf.Tensor4D, kernelSize, stride ?? kernelSize, 'valid');
  }

  clone(): AvgPool2d {
    return new AvgPool2d(this.options);
  }
}

/** Max pooling with explicit symmetric padding (ImageNet stem: kernel 3, stride 2, padding 1). */
export class MaxPool2d extends Layer {
  constructor(readonly options: Pool2dOptions) {
    super();
  }

  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    const { kernelSize, stride, padding } = this.options;
    return tf.maxPool(x as tf.Tensor4D, kernelSize, stride ?? kernelSize, padding ?? 0);
  }

  clone(): MaxPool2d {
    return new MaxPool2d(this.options);
  }
}

/** Adaptive average pooling to a fixed output size when the input divides evenly (DGL heads). */
export class AdaptiveAvgPool2d extends Layer {
  constructor(readonly outputSize: number) {
    super();
  }

  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor, _context?: ForwardContext): tf.Tensor {
    const [, h, w] = x.shape as [number, number, number, number];
    if (h === this.outputSize && w === this.outputSize) return x.clone();
    if (h % this.outputSize !== 0 || w % this.outputSize !== 0) {
      throw new ShapeError(
        `AdaptiveAvgPool2d(${this.outputSize}) needs input sizes divisible by it, got ${h}x${w}`,
      );
    }
    const kh = h / this.outputSize;
    const kw = w / this.outputSize;
    return tf.avgPool(x as tf.Tensor4D, [kh, kw], [kh, kw], 'valid');
  }

  clone(): AdaptiveAvgPool2d {
    return new AdaptiveAvgPool2d(this.outputSize);
  }
}

/** [N, ...] -> [N, prod(...)]. */
export class Flatten extends Layer {
  namedParameters(): NamedVariable[] {
    return [];
  }

  apply(x: tf.Tensor): tf.Tensor {
    return tf.reshape(x, [x.shape[0]!, -1]);
  }

  override forward(x: tf.Tensor): Activation {
    const output = this.apply(x);
    const shape = x.shape;
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest) => (request.input ? { input: tf.reshape(dy, shape) } : {}),
      dispose: () => output.dispose(),
    };
  }

  clone(): Flatten {
    return new Flatten();
  }
}
