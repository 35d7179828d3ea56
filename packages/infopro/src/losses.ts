import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '@mlaan/core';

/** x / max(||x||₂, 1e-12) along the last axis (PyTorch's F.normalize). */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.sqrt(tf.sum(tf.square(x), -1, true)), 1e-12)));
}

export interface SupervisedContrastiveOptions {
  /** Softmax temperature τ. Default 0.07. */
  temperature?: number;
  /** The loss is scaled by τ / baseTemperature (SupCon's convention). Default 0.07. */
  baseTemperature?: number;
}

/**
 * Supervised contrastive loss (Khosla et al. 2020) with one view per sample, as InfoPro's
 * reference (`SupConLoss`, contrast_mode 'all') computes it on L2-normalised features [N, D]:
 *
 *   ℓ_i = -(τ/τ_b) · (1/|P(i)|) Σ_{p∈P(i)} log( exp(z_i·z_p/τ) / Σ_{a≠i} exp(z_i·z_a/τ) ),
 *   loss = mean_i ℓ_i,
 *
 * P(i) = the other samples with label y_i. An anchor with no positive contributes 0 but still
 * counts in the mean over N (the reference divides its zero positive sum by 1).
 */
export function supervisedContrastiveLoss(
  features: tf.Tensor,
  labels: tf.Tensor,
  options: SupervisedContrastiveOptions = {},
): tf.Scalar {
  const temperature = options.temperature ?? 0.07;
  const baseTemperature = options.baseTemperature ?? 0.07;
  if (features.rank !== 2) throw new ShapeError(`Contrastive features must be [batch, dim], got [${features.shape.join(', ')}].`);
  const n = features.shape[0]!;
  if (labels.rank !== 1 || labels.shape[0] !== n) {
    throw new ShapeError(`Contrastive loss needs ${n} labels for ${n} features, got [${labels.shape.join(', ')}].`);
  }
  return tf.tidy(() => {
    const similarity = tf.div(tf.matMul(features as tf.Tensor2D, features as tf.Tensor2D, false, true), temperature);
    // A row-wise shift for stability; it cancels in log-softmax, so its gradient is exactly zero.
    const logits = tf.sub(similarity, tf.max(similarity, 1, true));
    const notSelf = tf.sub(1, tf.eye(n));
    const column = tf.reshape(tf.cast(labels, 'int32'), [n, 1]);
    const positives = tf.mul(tf.cast(tf.equal(column, tf.transpose(column)), 'float32'), notSelf);
    const logNormaliser = tf.log(tf.sum(tf.mul(tf.exp(logits), notSelf), 1, true));
    const logProbability = tf.sub(logits, logNormaliser);
    const positiveCount = tf.sum(positives, 1);
    const safeCount = tf.maximum(positiveCount, 1);
    const meanPositiveLogProbability = tf.div(tf.sum(tf.mul(positives, logProbability), 1), safeCount);
    return tf.mul(tf.mean(meanPositiveLogProbability), -temperature / baseTemperature) as tf.Scalar;
  });
}

/**
 * Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from the
 * logits (max(z,0) - z·y + log(1 + e^{-|z|})): PyTorch's Sigmoid + BCELoss without the log(0)
 * clamp, with the same gradient (sigmoid(z) - y) / count.
 */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  if (logits.size !== targets.size) {
    throw new ShapeError(`BCE needs targets shaped like the logits: [${logits.shape.join(', ')}] vs [${targets.shape.join(', ')}].`);
  }
  return tf.tidy(() =>
    tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, targets)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))))) as tf.Scalar,
  );
}
