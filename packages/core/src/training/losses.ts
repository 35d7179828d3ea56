import * as tf from '@tensorflow/tfjs-core';

/** Mean softmax cross-entropy of logits [N, C] against int32 labels [N] (PyTorch's CrossEntropyLoss). */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[logits.rank - 1]!;
    const logProbabilities = tf.logSoftmax(logits as tf.Tensor2D);
    const oneHot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, classes);
    return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logProbabilities), -1))) as tf.Scalar;
  });
}

/** Number of rows whose arg-max differs from the label, as an int32 scalar on the device. */
export function countErrors(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.notEqual(tf.argMax(logits, -1), tf.cast(labels, 'int32')), 'int32')) as tf.Scalar);
}
