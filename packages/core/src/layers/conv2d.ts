import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import { SeededRandom } from '../random.js';
import { Activation, BackwardRequest, BackwardResult, createVariable, createVariableFromInitialValue, ForwardContext, Layer, NamedVariable } from './layer.js';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Zero padding on every side, as in PyTorch. */
  padding?: number;
  bias?: boolean;
  /** Initialiser; default: PyTorch ResNet init N(0, sqrt(2 / (k*k*outChannels))). */
  init?: 'resnet' | 'pytorch-default';
  random?: SeededRandom;
}

/** 2-D convolution, NHWC input, HWIO weight (PyTorch OIHW weights are transposed on import). */
export class Conv2d extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(options: Conv2dOptions, variables?: { weight: tf.Tensor; bias?: tf.Tensor }) {
    super();
    this.inChannels = options.inChannels;
    this.outChannels = options.outChannels;
    this.kernelSize = options.kernelSize;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    const k = this.kernelSize;
    const shape: [number, number, number, number] = [k, k, this.inChannels, this.outChannels];
    const random = options.random ?? new SeededRandom(0);
    if (variables) {
      this.weight = createVariable('weight', variables.weight, true);
      if (variables.bias) this.bias = createVariable('bias', variables.bias, true);
    } else {
      const size = k * k * this.inChannels * this.outChannels;
      const data = new Float32Array(size);
      if ((options.init ?? 'resnet') === 'resnet') {
        random.fillNormal(data, 0, Math.sqrt(2 / (k * k * this.outChannels)));
      } else {
        // PyTorch's default conv init: kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in)).
        const bound = 1 / Math.sqrt(k * k * this.inChannels);
        random.fillUniform(data, -bound, bound);
      }
      this.weight = createVariableFromInitialValue('weight', tf.tensor4d(data, shape), true);
      if (options.bias) {
        const bound = 1 / Math.sqrt(k * k * this.inChannels);
        const b = random.fillUniform(new Float32Array(this.outChannels), -bound, bound);
        this.bias = createVariableFromInitialValue('bias', tf.tensor1d(b), true);
      }
    }
    if (options.bias && !this.bias) throw new ShapeError('Conv2d: bias requested but no bias tensor given');
  }

  private get options(): Conv2dOptions {
    return {
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      bias: this.bias !== undefined,
    };
  }

  namedParameters(): NamedVariable[] {
    return this.bias ? [['weight', this.weight], ['bias', this.bias]] : [['weight', this.weight]];
  }

  private check(x: tf.Tensor): void {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new ShapeError(
        `Conv2d expects NHWC input with ${this.inChannels} channels, got shape [${x.shape.join(', ')}]`,
      );
    }
  }

  apply(x: tf.Tensor): tf.Tensor {
    this.check(x);
    return tf.tidy(() => {
      const y = tf.conv2d(x as tf.Tensor4D, this.weight as tf.Tensor4D, this.stride, this.padding);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  override forward(x: tf.Tensor, _context: ForwardContext): Activation {
    this.check(x);
    const output = this.apply(x);
    const input = x.clone();
    return {
      output,
      backward: (dy, request) => this.backward(input, dy, request),
      dispose() {
        input.dispose();
        output.dispose();
      },
    };
  }

  private backward(input: tf.Tensor, dy: tf.Tensor, request: BackwardRequest): BackwardResult {
    return tf.tidy(() => {
      const result: BackwardResult = {};
      const attrs = { strides: this.stride, pad: this.padding, dataFormat: 'NHWC', dimRoundingMode: undefined };
      if (request.input) {
        result.input = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: this.weight }, {
          ...attrs,
          inputShape: input.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor;
      }
      if (request.parameters) {
        const parameters: Record<string, tf.Tensor> = {};
        parameters.weight = tf.engine().runKernel('Conv2DBackpropFilter', { x: input, dy }, {
            ...attrs,
            filterShape: this.weight.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor;
        if (this.bias) parameters.bias = tf.sum(dy, [0, 1, 2]);
        result.parameters = parameters;
      }
      return result as unknown as tf.TensorContainer;
    }) as unknown as BackwardResult;
  }

  clone(): Conv2d {
    return new Conv2d(this.options, { weight: this.weight, bias: this.bias });
  }
}
