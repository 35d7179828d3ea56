import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import { SeededRandom } from '../random.js';
import { Activation, BackwardRequest, BackwardResult, createVariable, createVariableFromInitialValue, Layer, NamedVariable } from './layer.js';

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  random?: SeededRandom;
}

/** y = x W + b with W stored [in, out] (PyTorch's [out, in] is transposed on import). */
export class Linear extends Layer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: tf.Variable;
  readonly bias?: tf.Variable;

  constructor(options: LinearOptions, variables?: { weight: tf.Tensor; bias?: tf.Tensor }) {
    super();
    this.inFeatures = options.inFeatures;
    this.outFeatures = options.outFeatures;
    const withBias = options.bias ?? true;
    if (variables) {
      this.weight = createVariable('weight', variables.weight, true);
      if (variables.bias) this.bias = createVariable('bias', variables.bias, true);
    } else {
      // PyTorch's default Linear init: U(±1/sqrt(fan_in)) for weight and bias.
      const random = options.random ?? new SeededRandom(0);
      const bound = 1 / Math.sqrt(this.inFeatures);
      const w = random.fillUniform(new Float32Array(this.inFeatures * this.outFeatures), -bound, bound);
      this.weight = createVariableFromInitialValue('weight', tf.tensor2d(w, [this.inFeatures, this.outFeatures]), true);
      if (withBias) {
        const b = random.fillUniform(new Float32Array(this.outFeatures), -bound, bound);
        this.bias = createVariableFromInitialValue('bias', tf.tensor1d(b), true);
      }
    }
  }

  namedParameters(): NamedVariable[] {
    return this.bias ? [['weight', this.weight], ['bias', this.bias]] : [['weight', this.weight]];
  }

  private check(x: tf.Tensor): void {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new ShapeError(`Linear expects [batch, ${this.inFeatures}] input, got [${x.shape.join(', ')}]`);
    }
  }

  apply(x: tf.Tensor): tf.Tensor {
    this.check(x);
    return tf.tidy(() => {
      const y = tf.matMul(x as tf.Tensor2D, this.weight as tf.Tensor2D);
      return this.bias ? tf.add(y, this.bias) : y;
    });
  }

  override forward(x: tf.Tensor): Activation {
    const output = this.apply(x);
    const input = x.clone();
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest) =>
        tf.tidy(() => {
          const result: BackwardResult = {};
          if (request.input) result.input = tf.matMul(dy as tf.Tensor2D, this.weight as tf.Tensor2D, false, true);
          if (request.parameters) {
            result.parameters = { weight: tf.matMul(input as tf.Tensor2D, dy as tf.Tensor2D, true, false) };
            if (this.bias) result.parameters.bias = tf.sum(dy, 0);
          }
          return result as unknown as tf.TensorContainer;
        }) as unknown as BackwardResult,
      dispose() {
        output.dispose();
        input.dispose();
      },
    };
  }

  clone(): Linear {
    return new Linear(
      { inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== undefined },
      { weight: this.weight, bias: this.bias },
    );
  }
}
