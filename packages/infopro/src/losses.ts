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
 * Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], as the reference's
 * Sigmoid + BCELoss computes it in float32: p = σ(z); loss = -[y·max(log p, -100) +
 * (1-y)·max(log(1-p), -100)]; gradient (p - y)·w / max(w, 1e-12) / count with w = p(1-p). Away
 * from saturation that is the exact (σ(z) - y) / count; where σ(z) rounds to exactly 1 or 0 in
 * float32 (|z| above ~17 and ~88) the reference's gradient is 0, and so is this one — a decoder
 * whose logits saturate on some pixels otherwise trains differently from the authors' code.
 */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  if (logits.size !== targets.size) {
    throw new ShapeError(`BCE needs targets shaped like the logits: [${logits.shape.join(', ')}] vs [${targets.shape.join(', ')}].`);
  }
  const op = tf.customGrad(((z: tf.Tensor, y: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.sigmoid(z);
    save([p, y]);
    const logP = tf.maximum(tf.log(p), -100);
    const logOneMinusP = tf.maximum(tf.log(tf.sub(1, p)), -100);
    const value = tf.neg(tf.mean(tf.add(tf.mul(y, logP), tf.mul(tf.sub(1, y), logOneMinusP)))) as tf.Scalar;
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [savedP, savedY] = saved as [tf.Tensor, tf.Tensor];
        const w = tf.mul(savedP, tf.sub(1, savedP));
        const dz = tf.div(tf.mul(tf.mul(tf.sub(savedP, savedY), w), dy), tf.mul(tf.maximum(w, 1e-12), savedP.size));
        return [dz, tf.zerosLike(savedY)];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return tf.tidy(() => op(logits, tf.cast(targets, 'float32')) as tf.Scalar);
}
