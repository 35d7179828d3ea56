import type * as tf from '@tensorflow/tfjs-core';
import type { Backbone } from '../backbone/backbone.js';
import { ShapeError } from '../errors.js';
import type { Batch } from './plugin.js';

/**
 * Rejects a batch the backbone cannot train on, from its shapes alone (nothing is read from the
 * device): inputs not NHWC with the backbone's channels, or labels not one per image. Label
 * values are checked on the device with the step (`step-verdict.ts`) and reported when its result
 * is read, or on the host where the labels already are (`labelProblem`).
 */
export function checkBatch(batch: Batch, backbone: Backbone, options: { training?: boolean } = {}): void {
  const isTensor = (t: unknown) => typeof t === 'object' && t !== null && Array.isArray((t as tf.Tensor).shape) && typeof (t as tf.Tensor).dtype === 'string';
  if (batch === null || typeof batch !== 'object' || !isTensor(batch.inputs) || !isTensor(batch.labels)) {
    throw new ShapeError('A batch is { inputs, labels }: inputs an NHWC float32 tensor, labels an int32 vector of class indices.');
  }
  const s = batch.inputs.shape;
  if (batch.inputs.rank !== 4 || s[3] !== backbone.inputChannels) {
    throw new ShapeError(
      `Batch inputs must be NHWC with ${backbone.inputChannels} channels; got [${s.join(', ')}]. Convert NCHW with tf.transpose(x, [0, 2, 3, 1]).`,
    );
  }
  if (s[0] === 0) throw new ShapeError('The batch is empty (0 images); give at least one image.');
  if (batch.inputs.dtype !== 'float32') {
    throw new ShapeError(`Batch inputs must be float32 (normalised images); got ${batch.inputs.dtype}. Convert with tf.cast(inputs, 'float32') and normalise.`);
  }
  const size = backbone.inputSize;
  if ((options.training ?? true) && (s[1] !== size || s[2] !== size)) {
    throw new ShapeError(
      `Batch inputs must be ${size}x${size} images (the backbone's inputSize, which its local heads are sized for); got ${s[1]}x${s[2]}. ` +
        `Resize or crop the images to ${size}x${size}, or build the backbone for ${s[1]}x${s[2]} inputs.`,
    );
  }
  if (batch.labels.rank !== 1 || batch.labels.shape[0] !== s[0]) {
    throw new ShapeError(`Batch labels must be a vector of ${s[0]} class indices; got [${batch.labels.shape.join(', ')}].`);
  }
  // Optional, but when given every head that reads it (InfoPro's reconstruction) needs it whole.
  const normalization: unknown = batch.normalization;
  if (normalization !== undefined) {
    const perChannel = (values: unknown) => Array.isArray(values) && values.length === s[3] && values.every((v) => typeof v === 'number' && Number.isFinite(v));
    const given = normalization as { mean?: unknown; std?: unknown } | null;
    if (given === null || typeof given !== 'object' || !perChannel(given.mean) || !perChannel(given.std)) {
      throw new ShapeError(
        `Batch normalization must be { mean, std } with ${s[3]} finite numbers each (the per-channel values the images were normalised with); got ${JSON.stringify(normalization)}.`,
      );
    }
  }
}

/**
 * The error for the first label that is not an integer class index in [0, classes), or undefined
 * when every label is one. A wrong label would otherwise train silently, as one-hot encoding maps
 * it to a zero or truncated row.
 */
export function labelProblem(labels: ArrayLike<number>, dtype: tf.DataType, classes: number): ShapeError | undefined {
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (!(Number.isInteger(label) && label >= 0 && label < classes)) {
      // float32 labels print as written (2.7, not 2.700000047683716).
      const shown = dtype === 'float32' ? Number(label.toPrecision(7)) : label;
      return new ShapeError(
        `Batch has label ${shown} at index ${i}; labels must be class indices, integers in [0, ${classes}). ` +
          `Map your dataset's labels to 0..${classes - 1}, or build the backbone with the right number of classes.`,
      );
    }
  }
  return undefined;
}
