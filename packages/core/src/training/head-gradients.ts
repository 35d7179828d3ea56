import * as tf from '@tensorflow/tfjs-core';
import type { ForwardContext } from '../layers/layer.js';
import type { Batch, Head, HeadGradients } from './plugin.js';

/**
 * A head's unweighted loss on `features` and the gradients of `weight * loss` with respect to the
 * features and to `variables` (default: the head's trainable parameters), under tfjs autograd.
 * The caller owns every tensor returned. A head that does its own backward
 * (`Head.lossAndGradients`, LAM's leap nets) is asked to; the result has the same meaning.
 */
export function headLossAndGradients(
  head: Head,
  features: tf.Tensor,
  batch: Batch,
  context: ForwardContext,
  weight: number,
  variables: readonly tf.Variable[] = head.namedParameters().map(([, v]) => v),
): HeadGradients {
  if (head.lossAndGradients) return head.lossAndGradients(features, batch, context, weight);
  let loss: tf.Scalar | undefined;
  const { value, grads } = tf.engine().gradients(
    () => {
      loss = tf.keep(head.loss(features, batch, context));
      return tf.mul(loss, weight) as tf.Scalar;
    },
    [features, ...variables],
    undefined,
    true,
  );
  value.dispose();
  const parameterGradients = new Map<tf.Variable, tf.Tensor>();
  variables.forEach((v, i) => {
    const g = grads[i + 1];
    if (g) parameterGradients.set(v, g);
  });
  return { loss: loss!, featureGradient: grads[0] ?? tf.zerosLike(features), parameterGradients };
}
