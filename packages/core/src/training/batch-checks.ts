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
export function checkBatch(batch: Batch, backbone: Backbone): void {
  const s = batch.inputs.shape;
  if (batch.inputs.rank !== 4 || s[3] !== backbone.inputChannels) {
    throw new ShapeError(
      `Batch inputs must be NHWC with ${backbone.inputChannels} channels; got [${s.join(', ')}]. Convert NCHW with tf.transpose(x, [0, 2, 3, 1]).`,
    );
  }
  if (batch.labels.rank !== 1 || batch.labels.shape[0] !== s[0]) {
    throw new ShapeError(`Batch labels must be a vector of ${s[0]} class indices; got [${batch.labels.shape.join(', ')}].`);
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
