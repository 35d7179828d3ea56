import * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import type { ForwardContext, NamedVariable } from '../layers/layer.js';
import { crossEntropy } from './losses.js';
import type { Batch, Head } from './plugin.js';

/**
 * The backbone's own classifier with cross-entropy: the loss of the last module (and of E2E).
 * Its variables are the backbone's `fc.*`, so the same instance serves every role.
 */
export class ClassifierHead implements Head {
  readonly name = 'classifier';

  constructor(private readonly backbone: Backbone) {}

  namedParameters(): NamedVariable[] {
    return this.backbone.classifier.namedParameters();
  }

  logits(features: tf.Tensor, context: ForwardContext): tf.Tensor {
    return this.backbone.classifier.apply(features, context);
  }

  loss(features: tf.Tensor, batch: Batch, context: ForwardContext): tf.Scalar {
    return tf.tidy(() => crossEntropy(this.logits(features, context), batch.labels));
  }
}
