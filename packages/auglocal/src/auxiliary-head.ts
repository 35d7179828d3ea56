import * as tf from '@tensorflow/tfjs-core';
import {
  Batch,
  crossEntropy,
  ForwardContext,
  Head,
  HeadGradients,
  HeadInput,
  Layer,
  MlaanError,
  NamedVariable,
  prefixed,
  ShapeError,
} from '@mlaan/core';

/**
 * An auxiliary network trained with cross-entropy: the local loss of one module (or, for MLM, its
 * cascaded loss). Variables are `<name>.<inner>`, `name` = `auglocal.<module>.<role>`, e.g.
 * `auglocal.0.independent.head.0.conv1.weight`.
 */
export class AuxiliaryNetworkHead implements Head {
  /** The network's parameters by the names its traced backward reports them under. */
  private readonly parametersByName: Map<string, tf.Variable>;

  constructor(
    readonly name: string,
    readonly network: Layer,
    /** The features the network was built for. */
    readonly input: HeadInput,
    /** The later layers of the backbone whose widths its blocks take. */
    readonly layers: readonly number[],
  ) {
    this.parametersByName = new Map(network.namedParameters());
  }

  namedParameters(): NamedVariable[] {
    return prefixed(this.name, this.network.namedParameters());
  }

  namedBuffers(): NamedVariable[] {
    return prefixed(this.name, this.network.namedBuffers());
  }

  private check(features: tf.Tensor): void {
    if (features.rank !== 4 || features.shape[3] !== this.input.channels) {
      throw new ShapeError(
        `Head ${this.name} expects NHWC features with ${this.input.channels} channels, got [${features.shape.join(', ')}].`,
      );
    }
  }

  logits(features: tf.Tensor, context: ForwardContext): tf.Tensor {
    this.check(features);
    return this.network.apply(features, context);
  }

  loss(features: tf.Tensor, batch: Batch, context: ForwardContext): tf.Scalar {
    return tf.tidy(() => crossEntropy(this.logits(features, context), batch.labels));
  }

  /**
   * The network with the layers' traced forward and explicit backward (each block's activations
   * kept once, no autograd tape over the residual blocks), the cross-entropy under autograd. Same
   * loss and gradients as `loss` under autograd.
   */
  lossAndGradients(features: tf.Tensor, batch: Batch, context: ForwardContext, weight: number): HeadGradients {
    this.check(features);
    const activation = this.network.forward(features, context);
    try {
      const { value: loss, grad } = tf.valueAndGrad((logits: tf.Tensor) => crossEntropy(logits, batch.labels))(activation.output);
      const logitsGradient = tf.mul(grad, weight);
      grad.dispose();
      const { input, parameters } = activation.backward(logitsGradient, { input: true, parameters: true });
      logitsGradient.dispose();
      const parameterGradients = new Map<tf.Variable, tf.Tensor>();
      for (const [name, gradient] of Object.entries(parameters ?? {})) {
        const variable = this.parametersByName.get(name);
        if (!variable) throw new MlaanError(`internal: auxiliary network ${this.name} reported a gradient for an unknown parameter ${name}`);
        parameterGradients.set(variable, gradient);
      }
      return { loss: loss as tf.Scalar, featureGradient: input!, parameterGradients };
    } finally {
      activation.dispose();
    }
  }

  dispose(): void {
    this.network.dispose();
  }
}
