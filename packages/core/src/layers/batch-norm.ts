import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import {
  batchNormTraining,
  batchNormTrainingBackward,
  batchNormTrainingForward,
  fusedBatchNormBackward,
  fusedBatchNormForward,
  fusedBatchNormReluBackward,
  fusedBatchNormReluForward,
  hasFusedBatchNormKernels,
  hasFusedBatchNormReluKernels,
  runningStatistics,
} from '../ops/batch-norm.js';
import { reluTieBreakerInstalled } from './activation.js';
import { Activation, BackwardRequest, BackwardResult, createVariable, createVariableFromInitialValue, ForwardContext, Layer, NamedVariable } from './layer.js';

/** What a batch norm fused with the ReLU after it can also return: the residual's gradient. */
export interface ReluFusedBackwardRequest extends BackwardRequest {
  residual: boolean;
}

export interface ReluFusedBackwardResult extends BackwardResult {
  residual?: tf.Tensor;
}

/** The traced forward of `relu(batch norm(x) [+ residual])` as one activation. */
export interface ReluFusedActivation extends Activation {
  backward(outputGradient: tf.Tensor, request: ReluFusedBackwardRequest): ReluFusedBackwardResult;
}

export interface BatchNormOptions {
  channels: number;
  /** PyTorch momentum: running = (1 - momentum) * running + momentum * batch. */
  momentum?: number;
  epsilon?: number;
}

/**
 * Batch normalisation over the last axis with PyTorch semantics: training normalises with the
 * biased batch variance and updates running = 0.9 running + 0.1 batch with the unbiased
 * variance; eval normalises with the running statistics. Works for NHWC (2-D) and NC (1-D).
 */
export class BatchNorm extends Layer {
  readonly channels: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(options: BatchNormOptions, state?: { weight: tf.Tensor; bias: tf.Tensor; runningMean: tf.Tensor; runningVar: tf.Tensor }) {
    super();
    this.channels = options.channels;
    this.momentum = options.momentum ?? 0.1;
    this.epsilon = options.epsilon ?? 1e-5;
    const c = this.channels;
    if (state) {
      this.weight = createVariable('weight', state.weight, true);
      this.bias = createVariable('bias', state.bias, true);
      this.runningMean = createVariable('running_mean', state.runningMean, false);
      this.runningVar = createVariable('running_var', state.runningVar, false);
    } else {
      this.weight = createVariableFromInitialValue('weight', tf.ones([c]), true);
      this.bias = createVariableFromInitialValue('bias', tf.zeros([c]), true);
      this.runningMean = createVariableFromInitialValue('running_mean', tf.zeros([c]), false);
      this.runningVar = createVariableFromInitialValue('running_var', tf.ones([c]), false);
    }
  }

  namedParameters(): NamedVariable[] {
    return [
      ['weight', this.weight],
      ['bias', this.bias],
    ];
  }

  override namedBuffers(): NamedVariable[] {
    return [
      ['running_mean', this.runningMean],
      ['running_var', this.runningVar],
    ];
  }

  private check(x: tf.Tensor): void {
    if (x.shape[x.rank - 1] !== this.channels || x.rank < 2) {
      throw new ShapeError(
        `BatchNorm expects ${this.channels} channels on the last axis, got shape [${x.shape.join(', ')}]`,
      );
    }
    if (x.size / this.channels < 2) {
      throw new ShapeError('BatchNorm in training mode needs more than one value per channel (batch of 1 with 1x1 maps)');
    }
  }

  /** running = (1-m) running + m batch, with the unbiased batch variance. */
  updateStatistics(mean: tf.Tensor1D, biasedVariance: tf.Tensor1D, count: number): void {
    const [nextMean, nextVariance] = runningStatistics(this.runningMean, this.runningVar, mean, biasedVariance, this.momentum, count);
    this.runningMean.assign(nextMean);
    this.runningVar.assign(nextVariance);
    tf.dispose([nextMean, nextVariance]);
  }

  private evalForward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const inverseStd = tf.rsqrt(tf.add(this.runningVar, this.epsilon));
      const scale = tf.mul(this.weight, inverseStd);
      const shift = tf.sub(this.bias, tf.mul(this.runningMean, scale));
      return tf.add(tf.mul(x, scale), shift);
    });
  }

  apply(x: tf.Tensor, context: ForwardContext): tf.Tensor {
    if (!context.training) return this.evalForward(x);
    this.check(x);
    const count = x.size / this.channels;
    const update = context.updateStatistics !== false;
    return batchNormTraining(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.epsilon, (mean, variance) => {
      if (update) this.updateStatistics(mean, variance, count);
      mean.dispose();
      variance.dispose();
    });
  }

  override forward(x: tf.Tensor, context: ForwardContext): Activation {
    if (!context.training) {
      const output = this.evalForward(x);
      const input = x.clone();
      return {
        output,
        backward: (dy, request) =>
          tf.tidy(() => {
            const inverseStd = tf.rsqrt(tf.add(this.runningVar, this.epsilon));
            const result: BackwardResult = {};
            if (request.input) result.input = tf.mul(dy, tf.mul(this.weight, inverseStd));
            if (request.parameters) {
              const axes = Array.from({ length: dy.rank - 1 }, (_, i) => i);
              const normalized = tf.mul(tf.sub(input, this.runningMean), inverseStd);
              result.parameters = {
                weight: tf.sum(tf.mul(dy, normalized), axes),
                bias: tf.sum(dy, axes),
              };
            }
            return result as unknown as tf.TensorContainer;
          }) as unknown as BackwardResult,
        dispose: () => {
          output.dispose();
          input.dispose();
        },
      };
    }
    this.check(x);
    if (hasFusedBatchNormKernels()) return this.fusedForward(x, context);
    const result = batchNormTrainingForward(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.epsilon);
    if (context.updateStatistics !== false) {
      this.updateStatistics(result.mean, result.variance, x.size / this.channels);
    }
    result.mean.dispose();
    result.variance.dispose();
    const { output, normalized, inverseStd } = result;
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest): BackwardResult => {
        const grads = batchNormTrainingBackward(dy, normalized, inverseStd, this.weight as tf.Tensor1D, request.input);
        const out: BackwardResult = {};
        if (request.input) out.input = grads.input;
        if (request.parameters) {
          out.parameters = { weight: grads.gamma, bias: grads.beta };
        } else {
          grads.gamma.dispose();
          grads.beta.dispose();
        }
        return out;
      },
      dispose() {
        output.dispose();
        normalized.dispose();
        inverseStd.dispose();
      },
    };
  }

  /** Traced forward on a backend with fused batch-norm kernels: saves x and the statistics. */
  private fusedForward(x: tf.Tensor, context: ForwardContext): Activation {
    const [output, mean, variance] = fusedBatchNormForward(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.epsilon);
    if (context.updateStatistics !== false) this.updateStatistics(mean, variance, x.size / this.channels);
    const input = x.clone();
    return {
      output,
      backward: (dy: tf.Tensor, request: BackwardRequest): BackwardResult => {
        const [dx, dgamma, dbeta] = fusedBatchNormBackward(dy, input, this.weight as tf.Tensor1D, mean, variance, this.epsilon);
        const out: BackwardResult = {};
        if (request.input) out.input = dx;
        else dx.dispose();
        if (request.parameters) out.parameters = { weight: dgamma, bias: dbeta };
        else tf.dispose([dgamma, dbeta]);
        return out;
      },
      dispose() {
        tf.dispose([output, mean, variance, input]);
      },
    };
  }

  /**
   * Whether `forwardWithRelu` runs as one kernel here: training mode, a backend with the fused
   * batch-norm + ReLU kernels, and no ReLU tie breaker installed (it must see every ReLU input).
   */
  canFuseRelu(context: ForwardContext): boolean {
    return context.training && !reluTieBreakerInstalled() && hasFusedBatchNormReluKernels();
  }

  /**
   * Traced `relu(this(x) [+ residual])` in one pass (check `canFuseRelu` first): the values of
   * running batch norm, the sum and the ReLU one after the other, without storing the batch norm's
   * output. Saves x, the statistics and the output (the ReLU's mask); the backward applies the
   * ReLU's gradient inside the batch norm's and returns the residual's gradient when asked.
   */
  forwardWithRelu(x: tf.Tensor, context: ForwardContext, residual?: tf.Tensor): ReluFusedActivation {
    this.check(x);
    const [output, mean, variance] = fusedBatchNormReluForward(x, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.epsilon, residual);
    if (context.updateStatistics !== false) this.updateStatistics(mean, variance, x.size / this.channels);
    const input = x.clone();
    // Consumers may dispose `output`; the backward masks with this reference.
    const saved = output.clone();
    return {
      output,
      backward: (dy: tf.Tensor, request: ReluFusedBackwardRequest): ReluFusedBackwardResult => {
        const [dx, dgamma, dbeta, dresidual] = fusedBatchNormReluBackward(
          dy,
          input,
          saved,
          this.weight as tf.Tensor1D,
          mean,
          variance,
          this.epsilon,
          request.residual,
        ) as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor | undefined];
        const out: ReluFusedBackwardResult = {};
        if (request.input) out.input = dx;
        else dx.dispose();
        if (request.parameters) out.parameters = { weight: dgamma, bias: dbeta };
        else tf.dispose([dgamma, dbeta]);
        if (dresidual) out.residual = dresidual;
        return out;
      },
      dispose() {
        tf.dispose([output, saved, mean, variance, input]);
      },
    };
  }

  clone(): BatchNorm {
    return new BatchNorm(
      { channels: this.channels, momentum: this.momentum, epsilon: this.epsilon },
      { weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar },
    );
  }
}
